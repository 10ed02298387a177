"""Tests for the broker's queue lock table."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.locks import LOCK_MAX_LIVE_TIME, MessageQueue, RebalanceLockManager
from rmq.common.errors import BodyError

Q0, Q1, Q2 = (MessageQueue("T", "broker-a", i) for i in range(3))
G = "group"


class LockTests(SynchronousTestCase):
    """try_lock_batch / unlock_batch as RocketMQ's RebalanceLockManager."""

    def setUp(self) -> None:
        self.locks = RebalanceLockManager()

    def test_free_queues_are_granted(self) -> None:
        """Unlocked queues go to the first client asking."""
        self.assertEqual(self.locks.try_lock_batch(G, [Q0, Q1], "c1", 0.0), {Q0, Q1})
        self.assertEqual(self.locks.holder(G, Q0, 1.0), "c1")

    def test_live_lock_not_given_away(self) -> None:
        """Another client gets only the queues nobody holds."""
        self.locks.try_lock_batch(G, [Q0], "c1", 0.0)
        self.assertEqual(self.locks.try_lock_batch(G, [Q0, Q1], "c2", 59.0), {Q1})
        self.assertTrue(self.locks.is_locked(G, Q0, "c1", 59.0))
        self.assertFalse(self.locks.is_locked(G, Q0, "c2", 59.0))

    def test_expired_lock_taken_over(self) -> None:
        """A lock not renewed for more than 60 s goes to the next client."""
        self.locks.try_lock_batch(G, [Q0], "c1", 0.0)
        self.assertEqual(self.locks.try_lock_batch(G, [Q0], "c2", 60.0), set())
        self.assertEqual(self.locks.try_lock_batch(G, [Q0], "c2", 60.001), {Q0})
        self.assertEqual(self.locks.holder(G, Q0, 61.0), "c2")

    def test_relock_renews(self) -> None:
        """Locking again renews, so the holder keeps the queue past the first 60 s."""
        self.locks.try_lock_batch(G, [Q0], "c1", 0.0)
        self.assertEqual(self.locks.try_lock_batch(G, [Q0], "c1", 50.0), {Q0})
        self.assertEqual(self.locks.try_lock_batch(G, [Q0], "c2", 100.0), set())
        self.assertEqual(self.locks.holder(G, Q0, 110.0 + 0.5), None)

    def test_groups_are_independent(self) -> None:
        """The same queue can be locked by different groups."""
        self.locks.try_lock_batch("g1", [Q0], "c1", 0.0)
        self.assertEqual(self.locks.try_lock_batch("g2", [Q0], "c2", 0.0), {Q0})

    def test_unlock_only_own(self) -> None:
        """Unlock releases the caller's queues and leaves others' alone."""
        self.locks.try_lock_batch(G, [Q0], "c1", 0.0)
        self.locks.try_lock_batch(G, [Q1], "c2", 0.0)
        self.locks.unlock_batch(G, [Q0, Q1, Q2], "c1")
        self.assertIsNone(self.locks.holder(G, Q0, 1.0))
        self.assertEqual(self.locks.holder(G, Q1, 1.0), "c2")
        self.assertEqual(self.locks.try_lock_batch(G, [Q0], "c3", 1.0), {Q0})

    def test_unlock_unknown_group(self) -> None:
        """Unlocking in a group with no locks is a no-op."""
        self.locks.unlock_batch("nobody", [Q0], "c1")
        self.assertIsNone(self.locks.holder("nobody", Q0, 0.0))

    def test_expire_housekeeping(self) -> None:
        """expire() drops only the entries past their live time."""
        self.locks.try_lock_batch(G, [Q0], "c1", 0.0)
        self.locks.try_lock_batch(G, [Q1], "c1", 30.0)
        self.assertEqual(self.locks.expire(LOCK_MAX_LIVE_TIME + 1), 1)
        self.assertEqual(self.locks.holder(G, Q1, LOCK_MAX_LIVE_TIME + 1), "c1")

    def test_custom_live_time(self) -> None:
        """The live time is configurable."""
        locks = RebalanceLockManager(max_live_time=5.0)
        locks.try_lock_batch(G, [Q0], "c1", 0.0)
        self.assertEqual(locks.try_lock_batch(G, [Q0], "c2", 5.5), {Q0})


class MessageQueueTests(SynchronousTestCase):
    """MessageQueue JSON."""

    def test_round_trip(self) -> None:
        """to_json/from_json round trip with fastjson field names."""
        self.assertEqual(Q1.to_json(), {"brokerName": "broker-a", "queueId": 1, "topic": "T"})
        self.assertEqual(MessageQueue.from_json(Q1.to_json()), Q1)

    def test_malformed(self) -> None:
        """Missing or mistyped fields raise BodyError."""
        for obj in (
            [],
            {"topic": "T", "brokerName": "b"},
            {"topic": 1, "brokerName": "b", "queueId": 0},
        ):
            self.assertRaises(BodyError, MessageQueue.from_json, obj)
