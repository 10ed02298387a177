"""A live loopback name server and broker (real twistd processes) for the admin tests.

``LiveCase.setUp`` starts both on OS-chosen ports under the test's temp directory and waits
until the broker is registered; ``tearDown`` stops them by PID. ``self.admin(...)`` runs one
``rmq-admin`` sub-command in-process on the test reactor and returns (status, stdout, stderr),
and ``self.admin_json(...)`` parses ``--json`` output, failing on a non-zero status.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from rmq.admin.cli import run
from tests.integration.daemons import Daemon, start_twistd

BROKER_NAME = "broker-t"
CLUSTER = "TestCluster"


def broker_yaml(path: str, namesrv: str, store: str, name: str = BROKER_NAME) -> None:
    """Write a small broker config (the listener comes from --listen)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            f"brokerClusterName: {CLUSTER}\nbrokerName: {name}\nbrokerId: 0\n"
            f"namesrvAddr: {namesrv}\nbrokerIP1: 127.0.0.1\nstorePathRootDir: {store}\n"
            "autoCreateTopicEnable: true\nautoCreateSubscriptionGroup: true\n"
            "defaultTopicQueueNums: 4\nregisterNameServerPeriod: 1000\n"
        )


class LiveCase(unittest.TestCase):
    """Trial case with ``self.namesrv`` and ``self.broker`` addresses of live daemons."""

    timeout = 60

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        self.base = base
        self.daemons: list[Daemon] = []
        ns = yield start_twistd(
            "rmq-namesrv",
            ["--listen", "tcp:0:interface=127.0.0.1", "--config", self._ns_yaml(base)],
            os.path.join(base, "ns"),
        )
        self.daemons.append(ns)
        self.addCleanup(self._stop)
        self.namesrv = ns.address
        cfg = os.path.join(base, "broker.yaml")
        broker_yaml(cfg, self.namesrv, os.path.join(base, "store"))
        br = yield start_twistd(
            "rmq-broker",
            ["--config", cfg, "--listen", "tcp:0:interface=127.0.0.1"],
            os.path.join(base, "broker"),
        )
        self.daemons.append(br)
        self.broker = br.address
        yield self.wait_registered()

    def _ns_yaml(self, base: str) -> str:
        path = os.path.join(base, "namesrv.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(
                f"kvConfigPath: {base}/ns/kvConfig.json\n"
                f"configStorePath: {base}/ns/namesrv.properties\n"
            )
        return path

    @defer.inlineCallbacks
    def _stop(self) -> Any:
        for d in reversed(self.daemons):
            yield d.stop()

    @defer.inlineCallbacks
    def wait_registered(self) -> Any:
        """Poll clusterList until the broker shows up (at most ~10 s)."""
        for _ in range(100):
            status, out, _err = yield self.admin("clusterList", "--json")
            if status == 0 and any(b["addr"] == self.broker for b in json.loads(out)["brokers"]):
                return
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.fail("broker never registered with the name server")

    @defer.inlineCallbacks
    def admin(self, *argv: str) -> Any:
        """Run ``rmq-admin argv -n <namesrv>``; fires with (status, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        status = yield run(reactor, [*argv, "-n", self.namesrv], out, err, environ={})
        return status, out.getvalue(), err.getvalue()

    @defer.inlineCallbacks
    def admin_json(self, *argv: str) -> Any:
        """Run a sub-command with ``--json``; fail the test unless it exits 0."""
        status, out, err = yield self.admin(*argv, "--json")
        self.assertEqual(status, 0, f"rmq-admin {argv} failed: {err}")
        return json.loads(out)
