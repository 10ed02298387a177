"""A loopback name server plus broker (real twistd processes) for integration tests.

``await start_cluster(testcase, broker_extra="enablePropertyFilter: true\\n")`` writes both
configs under the test's temp directory, starts ``twistd rmq-namesrv`` and ``twistd rmq-broker``
on OS-chosen ports, registers their stops as cleanups and returns a ``Cluster``.
"""

from __future__ import annotations

import os

import attrs
from twisted.trial.unittest import TestCase

from tests.integration.daemons import Daemon, start_twistd


#: Small mapped files: tests write little, and every CommitLog file is allocated on disk.
SMALL_FILES = "mappedFileSizeCommitLog: 16777216\nmappedFileSizeConsumeQueue: 600000\n"


@attrs.define
class Cluster:
    """The running daemons and the folder they live in."""

    tmp: str
    ns: Daemon
    broker: Daemon

    @property
    def namesrv(self) -> str:
        return self.ns.address


def write_file(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


async def start_namesrv(test: TestCase, tmp: str, name: str = "ns") -> Daemon:
    """A name server whose KV and config files live under ``tmp/name``."""
    base = os.path.join(tmp, name)
    config = write_file(
        os.path.join(base, "namesrv.yaml"),
        f"kvConfigPath: {base}/kvConfig.json\nconfigStorePath: {base}/namesrv.properties\n",
    )
    daemon = await start_twistd(
        "rmq-namesrv", ["--config", config, "--listen", "tcp:0:interface=127.0.0.1"], base
    )
    test.addCleanup(daemon.stop)
    return daemon


async def start_broker(
    test: TestCase,
    tmp: str,
    namesrv: str,
    extra: str = "",
    name: str = "broker",
    port: int = 0,
) -> Daemon:
    """A broker named ``name`` with its store under ``tmp/name/store``; ``extra`` is YAML."""
    base = os.path.join(tmp, name)
    config = write_file(
        os.path.join(base, "broker.yaml"),
        f"brokerName: {name}\nbrokerIP1: 127.0.0.1\nnamesrvAddr: {namesrv}\n"
        f"storePathRootDir: {base}/store\n{SMALL_FILES}{extra}",
    )
    daemon = await start_twistd(
        "rmq-broker", ["--config", config, "--listen", f"tcp:{port}:interface=127.0.0.1"], base
    )
    test.addCleanup(daemon.stop)
    return daemon


async def start_cluster(test: TestCase, broker_extra: str = "") -> Cluster:
    """One name server and one broker ("broker") registered with it."""
    tmp = os.path.abspath(test.mktemp())
    os.makedirs(tmp)
    ns = await start_namesrv(test, tmp)
    broker = await start_broker(test, tmp, ns.address, broker_extra)
    return Cluster(tmp, ns, broker)
