"""Allocation strategies: averagely exactly as REFERENCE §7.11, by circle, consistent hash."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from rmq.client.model import MessageQueue
from rmq.client.rebalance import (
    ConsistentHashRing,
    allocate_averagely,
    allocate_by_circle,
    allocate_consistent_hash,
    md5_hash,
)

MQS = [MessageQueue("T", "broker-a", i) for i in range(8)]
CIDS = ["c0", "c1", "c2"]


def ids(mqs: list[MessageQueue]) -> list[int]:
    return [q.queue_id for q in mqs]


class AveragelyTests(SynchronousTestCase):
    def test_eight_over_three(self) -> None:
        """8 queues, 3 consumers: blocks of 3, 3, 2 in order."""
        self.assertEqual(
            [ids(allocate_averagely(c, MQS, CIDS)) for c in CIDS], [[0, 1, 2], [3, 4, 5], [6, 7]]
        )

    def test_more_consumers_than_queues(self) -> None:
        """2 queues, 3 consumers: one each for the first two, nothing for the third."""
        got = [ids(allocate_averagely(c, MQS[:2], CIDS)) for c in CIDS]
        self.assertEqual(got, [[0], [1], []])

    def test_even_split(self) -> None:
        """8 queues, 2 consumers: 4 contiguous each."""
        self.assertEqual(ids(allocate_averagely("c1", MQS, ["c0", "c1"])), [4, 5, 6, 7])

    def test_unknown_consumer(self) -> None:
        """A consumer not in the list gets nothing."""
        self.assertEqual(allocate_averagely("zz", MQS, CIDS), [])

    def test_seven_over_three(self) -> None:
        """7 over 3: mod 1 gives 3, 2, 2 with start offsets 0, 3, 5."""
        self.assertEqual(
            [ids(allocate_averagely(c, MQS[:7], CIDS)) for c in CIDS], [[0, 1, 2], [3, 4], [5, 6]]
        )


class CircleTests(SynchronousTestCase):
    def test_circle(self) -> None:
        """Queue k goes to consumer k % C."""
        self.assertEqual(
            [ids(allocate_by_circle(c, MQS, CIDS)) for c in CIDS], [[0, 3, 6], [1, 4, 7], [2, 5]]
        )


class ConsistentHashTests(SynchronousTestCase):
    def test_md5_hash(self) -> None:
        """The hash is the first four MD5 bytes, unsigned big-endian."""
        # md5("") = d41d8cd9...
        self.assertEqual(md5_hash(""), 0xD41D8CD9)

    def test_partition(self) -> None:
        """Every queue is owned by exactly one consumer."""
        owned = [q for c in CIDS for q in allocate_consistent_hash(c, MQS, CIDS)]
        self.assertEqual(sorted(owned), sorted(MQS))

    def test_queue_key_is_java_tostring(self) -> None:
        """Queues are routed by Java's MessageQueue.toString()."""
        ring = ConsistentHashRing(CIDS)
        mq = MQS[3]
        self.assertEqual(str(mq), "MessageQueue [topic=T, brokerName=broker-a, queueId=3]")
        self.assertIn(mq, allocate_consistent_hash(ring.route(str(mq)) or "", MQS, CIDS))

    def test_stability(self) -> None:
        """Adding a consumer only moves queues to the newcomer."""
        before = {q: c for c in CIDS for q in allocate_consistent_hash(c, MQS, CIDS)}
        more = [*CIDS, "c3"]
        after = {q: c for c in more for q in allocate_consistent_hash(c, MQS, more)}
        for q, c in after.items():
            self.assertIn(c, (before[q], "c3"))
