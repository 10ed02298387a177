"""Tests for rmq.broker.topics: built-ins, TBW102 auto-creation, persistence and listeners."""

from __future__ import annotations

import json
import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import BrokerConfig
from rmq.broker.topics import (
    TopicConfig,
    TopicConfigManager,
    is_system_topic,
    validate_topic,
)


def make(path: str, **config: object) -> tuple[TopicConfigManager, Clock]:
    clock = Clock()
    clock.advance(1000)
    cfg = BrokerConfig(broker_name="broker-a", **config)  # type: ignore[arg-type]
    return TopicConfigManager(path, cfg, clock), clock


class TopicConfigTests(SynchronousTestCase):
    def test_json_round_trip(self) -> None:
        """to_obj uses Java names and from_obj reverses it."""
        tc = TopicConfig("T", 4, 2, 6, "MULTI_TAG", 1, True)
        d = tc.to_obj()
        self.assertEqual(d["topicName"], "T")
        self.assertEqual(d["readQueueNums"], 4)
        self.assertEqual(d["writeQueueNums"], 2)
        self.assertEqual(TopicConfig.from_obj(d), tc)

    def test_validate_topic(self) -> None:
        """Blank, illegal characters and over-long names get RocketMQ's remarks."""
        self.assertIsNone(validate_topic("Good_topic-1%|x"))
        self.assertEqual(validate_topic(""), "The specified topic is blank.")
        self.assertIn("illegal characters", validate_topic("a b") or "")
        self.assertIn("longer than", validate_topic("a" * 128) or "")
        self.assertIsNone(validate_topic("a" * 127))

    def test_system_topics(self) -> None:
        """Fixed system topics and rmq_sys_ prefixes are system topics."""
        self.assertTrue(is_system_topic("TBW102"))
        self.assertTrue(is_system_topic("rmq_sys_anything"))
        self.assertFalse(is_system_topic("Orders"))


class ManagerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "topics.json")
        self.mgr, self.clock = make(self.path)
        self.events: list[TopicConfig | None] = []
        self.mgr.add_listener(self.events.append)

    def test_builtin_topics(self) -> None:
        """Built-ins are present with RocketMQ's queue counts and permissions."""
        t = self.mgr.all()
        self.assertEqual((t["TBW102"].write_queue_nums, t["TBW102"].perm), (8, 7))
        self.assertEqual(t["SCHEDULE_TOPIC_XXXX"].read_queue_nums, 18)
        self.assertEqual(t["BenchmarkTest"].read_queue_nums, 1024)
        self.assertEqual(t["DefaultCluster"].perm, 7)
        self.assertEqual(t["broker-a"].write_queue_nums, 1)
        self.assertIn("DefaultCluster_REPLY_TOPIC", t)
        self.assertTrue(self.mgr.is_system_topic("broker-a"))
        self.assertNotIn("RMQ_SYS_TRACE_TOPIC", t)

    def test_no_tbw102_without_auto_create(self) -> None:
        """With autoCreateTopicEnable off there is no template and no auto-creation."""
        mgr, _ = make(os.path.join(self.mktemp(), "t.json"), auto_create_topic_enable=False)
        self.assertIsNone(mgr.get("TBW102"))
        self.assertIsNone(mgr.create_for_send("New", "TBW102", 4))

    def test_create_for_send_from_template(self) -> None:
        """A new topic gets min(client, template) queues and perm without INHERIT."""
        v0 = self.mgr.data_version.counter
        tc = self.mgr.create_for_send("New", "TBW102", 4)
        assert tc is not None
        self.assertEqual((tc.read_queue_nums, tc.write_queue_nums, tc.perm), (4, 4, 6))
        big = self.mgr.create_for_send("Big", "TBW102", 100)
        assert big is not None
        self.assertEqual(big.write_queue_nums, 8)
        self.assertEqual(self.mgr.data_version.counter, v0 + 2)
        self.assertEqual(self.events, [tc, big])
        self.assertIs(self.mgr.create_for_send("New", "TBW102", 2), tc)
        self.assertEqual(len(self.events), 2)

    def test_create_for_send_refused(self) -> None:
        """A missing template or one without INHERIT creates nothing."""
        self.assertIsNone(self.mgr.create_for_send("X", "NoSuchTemplate", 4))
        self.mgr.update(TopicConfig("Plain", perm=6))
        self.assertIsNone(self.mgr.create_for_send("Y", "Plain", 4))
        self.assertIsNone(self.mgr.get("X"))
        self.assertIsNone(self.mgr.get("Y"))

    def test_create_in_send_back(self) -> None:
        """Retry/DLQ topics are created as given, once."""
        tc = self.mgr.create_in_send_back("%RETRY%g", 1, 6, 0)
        self.assertEqual((tc.write_queue_nums, tc.perm), (1, 6))
        self.assertIs(self.mgr.create_in_send_back("%RETRY%g", 3, 2, 0), tc)

    def test_update_delete_and_listeners(self) -> None:
        """Update and delete bump the version and notify (None for a delete)."""
        tc = TopicConfig("T", 2, 2)
        self.mgr.update(tc)
        self.assertTrue(self.mgr.delete("T"))
        self.assertFalse(self.mgr.delete("T"))
        self.assertEqual(self.events, [tc, None])

    def test_persist_and_reload(self) -> None:
        """Changes are written to topics.json in Java's shape and survive a reload."""
        self.clock.advance(5)
        self.mgr.update(TopicConfig("T", 3, 3, order=True))
        with open(self.path) as f:
            on_disk = json.load(f)
        self.assertEqual(on_disk["topicConfigTable"]["T"]["readQueueNums"], 3)
        self.assertEqual(on_disk["dataVersion"]["timestamp"], 1_005_000)
        again, _ = make(self.path)
        again.load()
        self.assertEqual(again.get("T"), TopicConfig("T", 3, 3, order=True))
        self.assertEqual(again.data_version, self.mgr.data_version)

    def test_wrapper_json_dict(self) -> None:
        """The wrapper has topicConfigTable and dataVersion."""
        w = self.mgr.wrapper_json_dict()
        self.assertEqual(set(w), {"topicConfigTable", "dataVersion"})
        self.assertEqual(w["topicConfigTable"]["TBW102"]["perm"], 7)

    def test_update_order_topics(self) -> None:
        """Only the named topics end up ordered; a change bumps the version."""
        self.mgr.update(TopicConfig("A"))
        self.mgr.update(TopicConfig("B", order=True))
        v = self.mgr.data_version.counter
        self.mgr.update_order_topics({"A"})
        self.assertTrue(self.mgr.all()["A"].order)
        self.assertFalse(self.mgr.all()["B"].order)
        self.assertEqual(self.mgr.data_version.counter, v + 1)
        self.mgr.update_order_topics({"A"})
        self.assertEqual(self.mgr.data_version.counter, v + 1)
