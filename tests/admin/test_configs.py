"""The sample configs in etc/, each started with twistd as a user would.

etc/namesrv.yaml with etc/broker.yaml, and etc/broker-a.yaml with etc/broker-b.yaml (two
masters on one host). The files are loaded as written; the tests override only the listener
(port 0), the name server, the store root and (with ``--set``) the mapped-file sizes on the
command line, so they run beside anything else on the machine without allocating the 1 GiB
CommitLog files the samples keep; the stores are deleted after each test.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.trial.unittest import SynchronousTestCase

from rmq.admin.cli import run
from rmq.broker.config import load_broker_config
from tests.integration.cluster import TEST_BROKER_ARGS, wait_registered
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


class DaemonsCase(unittest.TestCase):
    """Daemons in ``self.daemons`` (stopped in reverse order) and rmq-admin against
    ``self.namesrv``."""

    timeout = 60
    daemons: list[Daemon]
    namesrv: str

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


class TwoMastersLiveTest(DaemonsCase):
    @defer.inlineCallbacks
    def setUp(self) -> Any:
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        self.daemons: list[Daemon] = []
        # Drop the stores after the daemons have stopped (cleanups run last-in, first-out).
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
            args += ["-n", self.namesrv, "--store", os.path.join(base, name), *TEST_BROKER_ARGS]
            daemon = yield start_twistd("rmq-broker", args, os.path.join(base, f"run-{name}"))
            self.daemons.append(daemon)
            self.brokers[name] = daemon.address

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


@contextmanager
def _home(path: str) -> Iterator[None]:
    """Point HOME at ``path`` while a daemon is spawned: its '~' paths land under the test."""
    old = os.environ.get("HOME")
    os.environ["HOME"] = path
    try:
        yield
    finally:
        if old is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = old


def _allocated(root: str) -> int:
    """Bytes of disk actually allocated to every file under ``root``."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            total += os.stat(os.path.join(folder, name)).st_blocks * 512
    return total


class SampleNamesrvAndBrokerLiveTest(DaemonsCase):
    """etc/namesrv.yaml and etc/broker.yaml, started as the README shows them."""

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.base = os.path.abspath(self.mktemp())
        self.home = os.path.join(self.base, "home")
        self.store = os.path.join(self.base, "store")
        os.makedirs(self.home)
        self.daemons: list[Daemon] = []
        # Cleanups run last-in, first-out: the store goes once the daemons have stopped.
        self.addCleanup(shutil.rmtree, self.store, True)
        self.addCleanup(self._stop)
        listen = ["--listen", "tcp:0:interface=127.0.0.1"]
        ns_args = ["--config", os.path.join(ROOT, "etc", "namesrv.yaml"), *listen]
        with _home(self.home):
            started = start_twistd("rmq-namesrv", ns_args, os.path.join(self.base, "run-ns"))
        ns = yield started
        self.daemons.append(ns)
        self.namesrv = ns.address
        broker_args = ["--config", os.path.join(ROOT, "etc", "broker.yaml"), *listen]
        broker_args += ["-n", self.namesrv, "--store", self.store, *TEST_BROKER_ARGS]
        with _home(self.home):
            started = start_twistd("rmq-broker", broker_args, os.path.join(self.base, "run-broker"))
        broker = yield started
        self.daemons.append(broker)
        self.broker = broker.address
        yield defer.ensureDeferred(wait_registered(self.namesrv, self.broker))

    @defer.inlineCallbacks
    def send(self, topic: str, body: str) -> Any:
        """sendMessage to broker-a; fails the test unless SEND_OK."""
        argv = ["-t", topic, "-p", body, "-b", "broker-a"]
        sent = yield self.admin_json("sendMessage", *argv)
        self.assertEqual((sent["brokerName"], sent["sendStatus"]), ("broker-a", "SEND_OK"))
        return sent

    @defer.inlineCallbacks
    def test_route_and_send(self) -> Any:
        """The broker joins DefaultCluster with the file's TBW102; a send auto-creates a topic."""
        listed = yield self.admin_json("clusterList")
        seen = {(b["cluster"], b["brokerName"], b["addr"]) for b in listed["brokers"]}
        self.assertEqual(seen, {("DefaultCluster", "broker-a", self.broker)})
        # autoCreateTopicEnable: true and defaultTopicQueueNums: 8 give TBW102 8 queues, perm 7.
        tbw = yield self.admin_json("topicRoute", "-t", "TBW102")
        queues = [
            (q["brokerName"], q["readQueueNums"], q["writeQueueNums"], q["perm"])
            for q in tbw["queueDatas"]
        ]
        self.assertEqual(queues, [("broker-a", 8, 8, 7)])
        yield self.send("SampleT", "hello")
        route = yield self.admin_json("topicRoute", "-t", "SampleT")
        queues = [
            (q["brokerName"], q["readQueueNums"], q["writeQueueNums"]) for q in route["queueDatas"]
        ]
        self.assertEqual(queues, [("broker-a", 4, 4)])
        self.assertEqual(route["brokerDatas"][0]["brokerAddrs"], {"0": self.broker})
        got = yield self.admin_json("consumeMessage", "-t", "SampleT", "-c", "1")
        self.assertEqual([m["body"] for m in got["messages"]], ["hello"])

    @defer.inlineCallbacks
    def test_paths_follow_the_overrides(self) -> Any:
        """The store is under --store (one CommitLog file); '~' paths resolve under HOME."""
        yield self.send("SampleT", "hello")
        small = load_broker_config(
            None, dict(a.split("=", 1) for a in TEST_BROKER_ARGS if a != "--set")
        )[1]
        self.assertEqual(os.listdir(os.path.join(self.store, "commitlog")), [f"{0:020d}"])
        # Preallocation is the whole cost: one CommitLog file, consume queues and an index
        # file at most, whatever was sent.
        index_file = 40 + small.max_hash_slot_num * 4 + small.max_index_num * 20
        ceiling = (
            small.mapped_file_size_commit_log
            + 16 * small.mapped_file_size_consume_queue
            + index_file
        )
        self.assertLessEqual(_allocated(self.store), ceiling)
        yield self.admin_json("updateKvConfig", "-s", "NS", "-k", "k", "-v", "v")
        kv = os.path.join(self.home, "namesrv", "kvConfig.json")
        for _ in range(50):
            if os.path.exists(kv):
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        with open(kv, encoding="utf-8") as f:
            self.assertIn('"k"', f.read())
