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
from tests.integration.cluster import start_broker, start_namesrv

BROKER_NAME = "broker-t"
CLUSTER = "TestCluster"


class LiveCase(unittest.TestCase):
    """Trial case with ``self.namesrv`` and ``self.broker`` addresses of live daemons."""

    timeout = 60

    async def setUp(self) -> None:
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        ns = await start_namesrv(self, self.base)
        self.namesrv = ns.address
        extra = (
            f"brokerClusterName: {CLUSTER}\ndefaultTopicQueueNums: 4\n"
            "registerNameServerPeriod: 1000\n"
        )
        br = await start_broker(self, self.base, self.namesrv, extra, name=BROKER_NAME)
        self.broker = br.address
        await self.wait_registered()

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
