"""A loopback name server plus broker (real twistd processes) for integration tests.

``await start_cluster(testcase, broker_extra="enablePropertyFilter: true\\n")`` writes both
configs under the test's temp directory, starts ``twistd rmq-namesrv`` and ``twistd rmq-broker``
on OS-chosen ports, registers their stops as cleanups and returns a ``Cluster``.
"""

from __future__ import annotations

import os
import shutil

import attrs
from twisted.internet import reactor, task
from twisted.trial.unittest import TestCase

from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.integration.daemons import Daemon, start_twistd

#: Broker keys every test broker gets. Small mapped files: tests write little, and every
#: CommitLog file is allocated on disk. A long waitTimeMillsInSendQueue: a test machine running
#: two trial workers, daemons and C++ clients on two cores can stall a broker past RocketMQ's
#: 200 ms, and its fast failure would then answer sends SYSTEM_BUSY (tested on its own, on a Clock).
TEST_BROKER_KEYS = (
    "mappedFileSizeCommitLog: 16777216\nmappedFileSizeConsumeQueue: 600000\n"
    "maxHashSlotNum: 10000\nmaxIndexNum: 40000\nwaitTimeMillsInSendQueue: 10000\n"
)
TEST_BROKER_ARGS = [
    arg for line in TEST_BROKER_KEYS.splitlines() for arg in ("--set", line.replace(": ", "=", 1))
]
"""TEST_BROKER_KEYS as ``rmq-broker --set KEY=VALUE`` options (brokers started from etc/)."""


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
    """A broker named ``name`` with its store under ``tmp/name/store``; ``extra`` is YAML.

    Fires once the name server routes TBW102 to it, so clients started next find it. The
    store is deleted after the test (the logs stay).
    """
    base = os.path.join(tmp, name)
    config = write_file(
        os.path.join(base, "broker.yaml"),
        f"brokerName: {name}\nbrokerIP1: 127.0.0.1\nnamesrvAddr: {namesrv}\n"
        f"storePathRootDir: {base}/store\n{TEST_BROKER_KEYS}{extra}",
    )
    test.addCleanup(shutil.rmtree, os.path.join(base, "store"), True)
    daemon = await start_twistd(
        "rmq-broker", ["--config", config, "--listen", f"tcp:{port}:interface=127.0.0.1"], base
    )
    test.addCleanup(daemon.stop)
    await wait_registered(namesrv, daemon.address)
    return daemon


async def wait_registered(namesrv: str, broker_addr: str, timeout: float = 20.0) -> None:
    """Poll every name server (``;``-separated) until it routes TBW102 to ``broker_addr``."""
    client = RemotingClient(reactor)
    try:
        deadline = reactor.seconds() + timeout
        for ns in namesrv.split(";"):
            while True:
                cmd = RemotingCommand.request(
                    RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "TBW102"}
                )
                resp = await client.invoke(ns, cmd, 5.0)
                if resp.code == 0 and broker_addr in (resp.body or b"").decode():
                    break
                if reactor.seconds() > deadline:
                    raise AssertionError(f"{broker_addr} never registered with {ns}")
                await task.deferLater(reactor, 0.05, lambda: None)
    finally:
        await client.close()


async def start_cluster(test: TestCase, broker_extra: str = "") -> Cluster:
    """One name server and one broker ("broker") registered with it."""
    tmp = os.path.abspath(test.mktemp())
    os.makedirs(tmp)
    ns = await start_namesrv(test, tmp)
    broker = await start_broker(test, tmp, ns.address, broker_extra)
    return Cluster(tmp, ns, broker)
