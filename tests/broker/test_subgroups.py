"""Tests for rmq.broker.subgroups: built-in groups, auto-creation and persistence."""

from __future__ import annotations

import json
import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import BrokerConfig
from rmq.broker.subgroups import SubscriptionGroupConfig, SubscriptionGroupManager


class SubscriptionGroupTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "subscriptionGroup.json")
        self.clock = Clock()
        self.mgr = SubscriptionGroupManager(self.path, BrokerConfig(broker_name="b"), self.clock)

    def test_defaults_and_json(self) -> None:
        """Java defaults, Java field names, and a round trip."""
        cfg = SubscriptionGroupConfig("G")
        d = cfg.to_json_dict()
        self.assertEqual(d["retryMaxTimes"], 16)
        self.assertEqual(d["retryQueueNums"], 1)
        self.assertEqual(d["whichBrokerWhenConsumeSlowly"], 1)
        self.assertTrue(d["notifyConsumerIdsChangedEnable"])
        self.assertEqual(SubscriptionGroupConfig.from_json_dict(d), cfg)
        self.assertEqual(
            SubscriptionGroupConfig.from_json_dict({"groupName": "G", "retryMaxTimes": 3}),
            SubscriptionGroupConfig("G", retry_max_times=3),
        )

    def test_builtins(self) -> None:
        """Tool groups exist from the start."""
        self.assertIsNotNone(self.mgr.get("TOOLS_CONSUMER"))
        pull = self.mgr.get("CID_ONSAPI_PULL")
        assert pull is not None
        self.assertTrue(pull.consume_broadcast_enable)

    def test_find_or_create(self) -> None:
        """Unknown legal groups are created and persisted; illegal names are not."""
        cfg = self.mgr.find_or_create("G1")
        self.assertEqual(cfg, SubscriptionGroupConfig("G1"))
        self.assertIs(self.mgr.find_or_create("G1"), cfg)
        self.assertIsNone(self.mgr.find_or_create("bad name"))
        with open(self.path) as f:
            self.assertIn("G1", json.load(f)["subscriptionGroupTable"])

    def test_no_auto_create(self) -> None:
        """With auto-creation off only CID_RMQ_SYS_ groups are created."""
        cfg = BrokerConfig(broker_name="b", auto_create_subscription_group=False)
        mgr = SubscriptionGroupManager(os.path.join(self.mktemp(), "s.json"), cfg, self.clock)
        self.assertIsNone(mgr.find_or_create("G"))
        self.assertIsNotNone(mgr.find_or_create("CID_RMQ_SYS_X"))

    def test_update_delete_reload(self) -> None:
        """Updates and deletes persist; a new manager loads them."""
        self.mgr.update(SubscriptionGroupConfig("G", retry_max_times=2))
        self.mgr.update(SubscriptionGroupConfig("H"))
        self.assertTrue(self.mgr.delete("H"))
        self.assertFalse(self.mgr.delete("H"))
        self.assertEqual(self.mgr.retry_max_times("G"), 2)
        self.assertEqual(self.mgr.retry_max_times("unknown"), 16)
        again = SubscriptionGroupManager(self.path, BrokerConfig(broker_name="b"), self.clock)
        again.load()
        self.assertEqual(again.get("G"), SubscriptionGroupConfig("G", retry_max_times=2))
        self.assertIsNone(again.get("H"))
        self.assertEqual(again.data_version, self.mgr.data_version)
