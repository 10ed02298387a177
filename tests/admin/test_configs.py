"""etc/broker-a.yaml and etc/broker-b.yaml: two masters on one host, each started with twistd.

The files are loaded as written; the tests override only the listener (port 0), the name
server and the store root, so they run beside anything else on the machine.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.trial.unittest import SynchronousTestCase

from rmq.admin.cli import run
from rmq.broker.config import load_broker_config
from tests.integration.daemons import ROOT, Daemon, start_twistd

CONFIGS = {name: os.path.join(ROOT, "etc", f"{name}.yaml") for name in ("broker-a", "broker-b")}


class ConfigFilesTest(SynchronousTestCase):
    def test_two_masters_differ_where_they_must(self) -> None:
        """Same cluster, both masters; names, ports, HA ports and store roots all differ."""
        a_broker, a_store = load_broker_config(CONFIGS["broker-a"], {})
        b_broker, b_store = load_broker_config(CONFIGS["broker-b"], {})
        self.assertEqual(a_broker.broker_cluster_name, b_broker.broker_cluster_name)
        self.assertEqual((a_broker.broker_id, b_broker.broker_id), (0, 0))
        self.assertEqual((a_broker.broker_name, b_broker.broker_name), ("broker-a", "broker-b"))
        ports_a = {a_broker.listen_port, a_broker.ha_listen_port}
        ports_b = {b_broker.listen_port, b_broker.ha_listen_port}
        self.assertEqual(len(ports_a | ports_b), 4)
        self.assertNotEqual(a_store.root_dir, b_store.root_dir)


class TwoMastersLiveTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        self.daemons: list[Daemon] = []
        # The sample files keep RocketMQ's 1 GiB CommitLog files: drop the stores after the
        # daemons have stopped (cleanups run last-in, first-out).
        for name in CONFIGS:
            self.addCleanup(shutil.rmtree, os.path.join(base, name), True)
        self.addCleanup(self._stop)
        ns_yaml = os.path.join(base, "namesrv.yaml")
        with open(ns_yaml, "w", encoding="utf-8") as f:
            f.write(f"kvConfigPath: {base}/kv.json\nconfigStorePath: {base}/ns.properties\n")
        ns = yield start_twistd(
            "rmq-namesrv",
            ["--listen", "tcp:0:interface=127.0.0.1", "--config", ns_yaml],
            os.path.join(base, "ns"),
        )
        self.daemons.append(ns)
        self.namesrv = ns.address
        self.brokers: dict[str, str] = {}
        for name, path in sorted(CONFIGS.items()):
            args = ["--config", path, "--listen", "tcp:0:interface=127.0.0.1"]
            args += ["-n", self.namesrv, "--store", os.path.join(base, name)]
            daemon = yield start_twistd("rmq-broker", args, os.path.join(base, f"run-{name}"))
            self.daemons.append(daemon)
            self.brokers[name] = daemon.address

    @defer.inlineCallbacks
    def _stop(self) -> Any:
        for d in reversed(self.daemons):
            yield d.stop()

    @defer.inlineCallbacks
    def admin_json(self, *argv: str) -> Any:
        out, err = io.StringIO(), io.StringIO()
        status = yield run(reactor, [*argv, "-n", self.namesrv, "--json"], out, err, environ={})
        self.assertEqual(status, 0, err.getvalue())
        return json.loads(out.getvalue())

    @defer.inlineCallbacks
    def test_both_register_and_share_a_topic(self) -> Any:
        """Both masters join DefaultCluster; a cluster-wide topic gets queues on each."""
        for _ in range(100):
            listed = yield self.admin_json("clusterList")
            if len(listed["brokers"]) == 2:
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        seen = {(b["cluster"], b["brokerName"], b["addr"]) for b in listed["brokers"]}
        self.assertEqual(
            seen,
            {("DefaultCluster", name, addr) for name, addr in self.brokers.items()},
        )
        made = yield self.admin_json("updateTopic", "-c", "DefaultCluster", "-t", "Two", "-w", "2")
        self.assertEqual(made["brokers"], self.brokers)
        for _ in range(50):
            route = yield self.admin_json("topicList")
            if "Two" in route["topics"]:
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        route = yield self.admin_json("topicRoute", "-t", "Two")
        self.assertEqual(sorted(q["brokerName"] for q in route["queueDatas"]), sorted(CONFIGS))
        for name in CONFIGS:
            sent = yield self.admin_json("sendMessage", "-t", "Two", "-p", name, "-b", name)
            self.assertEqual((sent["brokerName"], sent["sendStatus"]), (name, "SEND_OK"))
