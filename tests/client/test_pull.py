"""PullConsumer: queues, explicit pulls, tag filtering, offsets."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.client.consumer.pull import PullConsumer
from rmq.client.model import Message, MessageQueue, PullStatus
from rmq.client.producer import Producer, ProducerConfig
from rmq.common.errors import RemoteError
from rmq.remoting.codes import RequestCode
from tests.client.fakes import FakeCluster
from tests.client.helpers import make_instance, pump


class PullTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock, brokers=1, queues=2)
        self.cluster.ensure_topic("T")
        inst, _ = make_instance(self.clock, self.cluster, "p")
        self.producer = Producer(self.clock, ProducerConfig("PG"), inst)
        self.successResultOf(self.producer.start())
        self.mq = MessageQueue("T", "broker-a", 0)
        for i, tag in enumerate(["A", "B", "A", "B", "A"]):
            body = (b"x" * 5000) if i == 4 else f"m{i}".encode()
            self.successResultOf(self.producer.send_to_queue(Message("T", body, tags=tag), self.mq))
        self.inst, self.remoting = make_instance(self.clock, self.cluster, "c")
        self.consumer = PullConsumer(self.clock, "CG", self.inst)
        self.successResultOf(self.consumer.start())

    def test_fetch_queues(self) -> None:
        """Every readable queue of the topic is listed, sorted."""
        d = self.consumer.fetch_subscribe_queues("T")
        self.assertEqual(self.successResultOf(d), [self.mq, MessageQueue("T", "broker-a", 1)])

    def test_pull_found_and_decompressed(self) -> None:
        """A pull returns FOUND messages (compressed bodies inflated) and the next offset."""
        r = self.successResultOf(self.consumer.pull(self.mq, "*", 0, 32))
        self.assertEqual(r.status, PullStatus.FOUND)
        self.assertEqual(r.next_begin_offset, 5)
        self.assertEqual(r.max_offset, 5)
        self.assertEqual(r.messages[-1].body, b"x" * 5000)
        self.assertEqual([x.queue_offset for x in r.messages], [0, 1, 2, 3, 4])

    def test_pull_with_tags(self) -> None:
        """The expression is sent with the subscription bit and tags filter the result."""
        r = self.successResultOf(self.consumer.pull(self.mq, "B", 0, 32))
        self.assertEqual([x.body for x in r.messages], [b"m1", b"m3"])
        cmd = self.remoting.codes(RequestCode.PULL_MESSAGE)[-1]
        self.assertEqual(cmd.ext_fields["subscription"], "B")
        self.assertEqual(int(cmd.ext_fields["sysFlag"]), 0x4)

    def test_pull_no_new(self) -> None:
        """Past the end the result is NO_NEW_MSG with the same next offset."""
        r = self.successResultOf(self.consumer.pull(self.mq, "*", 5, 32))
        self.assertEqual(r.status, PullStatus.NO_NEW_MSG)
        self.assertEqual(r.next_begin_offset, 5)

    def test_block_waits_for_message(self) -> None:
        """A blocking pull is held until a message arrives."""
        d = self.consumer.pull(self.mq, "*", 5, 32, block=True)
        self.assertNoResult(d)
        self.successResultOf(self.producer.send_to_queue(Message("T", b"late"), self.mq))
        self.assertEqual([x.body for x in self.successResultOf(d).messages], [b"late"])

    def test_offsets_round_trip(self) -> None:
        """update_offset + persist stores the offset on the broker; fetch reads it back."""
        self.assertEqual(self.successResultOf(self.consumer.fetch_consume_offset(self.mq)), -1)
        self.consumer.update_offset(self.mq, 3)
        self.successResultOf(self.consumer.persist_offsets())
        self.consumer.offsets.remove(self.mq)
        self.assertEqual(self.successResultOf(self.consumer.fetch_consume_offset(self.mq)), 3)

    def test_min_max_offsets(self) -> None:
        """min/max offsets come from GET_MIN_OFFSET / GET_MAX_OFFSET."""
        self.successResultOf(self.consumer.fetch_subscribe_queues("T"))
        self.assertEqual(self.successResultOf(self.consumer.max_offset(self.mq)), 5)
        self.assertEqual(self.successResultOf(self.consumer.min_offset(self.mq)), 0)

    def test_unknown_topic(self) -> None:
        """Listing an unknown topic's queues fails with code 17."""
        f = self.failureResultOf(self.consumer.fetch_subscribe_queues("NOPE"), RemoteError)
        self.assertEqual(f.value.code, 17)

    def test_shutdown(self) -> None:
        """Shutdown unregisters the consumer group."""
        self.successResultOf(self.consumer.fetch_subscribe_queues("T"))
        d = self.consumer.shutdown()
        pump(self.clock)
        self.successResultOf(d)
        cmd = self.remoting.codes(RequestCode.UNREGISTER_CLIENT)[0]
        self.assertEqual(cmd.ext_fields["consumerGroup"], "CG")
