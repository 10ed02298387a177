"""Producer: sends, ids, compression, selectors, retries with fault avoidance, batches."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from rmq.client.model import Message, MessageQueue, SendResult, SendStatus
from rmq.client.producer import Producer, ProducerConfig, select_by_hash
from rmq.common import message as m
from rmq.common.errors import MQClientError, RemoteError
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.interfaces import IRemotingClient
from tests.client.fakes import FakeCluster
from tests.client.helpers import make_instance, pump


class ProducerCase(SynchronousTestCase):
    """A started producer on a Clock over a fake cluster of two brokers, topic T, 4 queues."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.cluster = FakeCluster(self.clock, brokers=2, queues=4)
        self.cluster.ensure_topic("T")
        self.inst, self.remoting = make_instance(self.clock, self.cluster)
        self.producer = Producer(self.clock, ProducerConfig("PG"), self.inst)
        self.successResultOf(self.producer.start())


class ProducerTests(ProducerCase):
    def send(self, msg: Message, **kw: object) -> SendResult:
        d = self.producer.send(msg, **kw)  # type: ignore[arg-type]
        pump(self.clock)
        return self.successResultOf(d)

    def test_fake_is_a_remoting_client(self) -> None:
        """The in-memory fake provides IRemotingClient."""
        self.assertTrue(verifyObject(IRemotingClient, self.remoting))

    def test_send_returns_stored_result(self) -> None:
        """A send fires with SEND_OK, the UNIQ_KEY as msg id and the broker's offset id."""
        msg = Message("T", b"hello", tags="TagA", keys=["k1", "k2"], properties={"p": "v"})
        result = self.send(msg)
        self.assertEqual(result.status, SendStatus.SEND_OK)
        stored = self.cluster.brokers[result.message_queue.broker_name].messages("T")
        self.assertEqual(len(stored), 1)
        props = stored[0].properties_dict
        self.assertEqual(props[m.UNIQ_KEY], result.msg_id)
        self.assertEqual(len(result.msg_id), 32)
        self.assertEqual(props[m.TAGS], "TagA")
        self.assertEqual(props[m.KEYS], "k1 k2")
        self.assertEqual(props["p"], "v")
        self.assertEqual(props[m.WAIT], "true")
        self.assertEqual(result.offset_msg_id, stored[0].offset_msg_id)
        self.assertEqual(stored[0].body, b"hello")

    def test_v2_header_short_names(self) -> None:
        """Sends use SEND_MESSAGE_V2 with one-letter header keys and version 409."""
        self.send(Message("T", b"x"))
        cmd = self.remoting.codes(RequestCode.SEND_MESSAGE_V2)[0]
        self.assertEqual(cmd.ext_fields["a"], "PG")
        self.assertEqual(cmd.ext_fields["b"], "T")
        self.assertEqual(cmd.ext_fields["c"], "TBW102")
        self.assertEqual(cmd.ext_fields["k"], "false")
        self.assertEqual(cmd.ext_fields["m"], "false")
        self.assertEqual(cmd.version, 409)
        self.assertEqual(cmd.language, "JAVA")

    def test_compression_threshold(self) -> None:
        """Bodies of 4096 bytes or more are zlib-compressed with sysFlag bit 0; 4095 are not."""
        self.send(Message("T", b"a" * 4095))
        self.send(Message("T", b"a" * 4096))
        small, big = self.remoting.codes(RequestCode.SEND_MESSAGE_V2)
        self.assertEqual(int(small.ext_fields["f"]) & m.COMPRESSED_FLAG, 0)
        self.assertEqual(int(big.ext_fields["f"]) & m.COMPRESSED_FLAG, 1)
        self.assertEqual(m.decompress_body(big.body or b"", 1), b"a" * 4096)

    def test_round_robin(self) -> None:
        """Successive sends visit every queue of every broker."""
        seen = {self.send(Message("T", b"x")).message_queue for _ in range(8)}
        self.assertEqual(len(seen), 8)

    def test_selector_by_hash(self) -> None:
        """The hash selector maps one key to one queue every time."""
        qs = {
            self.send(Message("T", b"x"), selector=select_by_hash, arg="order-7").message_queue
            for _ in range(5)
        }
        self.assertEqual(len(qs), 1)

    def test_retry_on_other_broker(self) -> None:
        """A connection failure retries on the other broker and later sends avoid the bad one."""
        self.send(Message("T", b"warm"))  # route known
        self.cluster.down.add(self.cluster.brokers["broker-a"].addr)
        for _ in range(4):
            self.assertEqual(self.send(Message("T", b"x")).message_queue.broker_name, "broker-b")
        sends_to_a = [
            a
            for a, c in self.remoting.sent
            if c.code == RequestCode.SEND_MESSAGE_V2 and a == self.cluster.brokers["broker-a"].addr
        ]
        self.assertLessEqual(len(sends_to_a), 2)

    def test_non_retryable_error_is_typed(self) -> None:
        """A broker refusal that Java does not retry raises RemoteError with code and remark."""
        for b in self.cluster.brokers.values():
            b.fail_codes[RequestCode.SEND_MESSAGE_V2] = ResponseCode.MESSAGE_ILLEGAL
        d = self.producer.send(Message("T", b"x"))
        pump(self.clock)
        err = self.failureResultOf(d, RemoteError).value
        self.assertEqual(err.code, ResponseCode.MESSAGE_ILLEGAL)
        self.assertEqual(err.remark, "forced failure")

    def test_retryable_error_exhausts_retries(self) -> None:
        """SYSTEM_ERROR is retried 2 more times (3 sends) before failing."""
        for b in self.cluster.brokers.values():
            b.fail_codes[RequestCode.SEND_MESSAGE_V2] = ResponseCode.SYSTEM_ERROR
        d = self.producer.send(Message("T", b"x"))
        pump(self.clock)
        self.failureResultOf(d, RemoteError)
        self.assertEqual(len(self.remoting.codes(RequestCode.SEND_MESSAGE_V2)), 3)

    def test_delay_level(self) -> None:
        """A delay level travels as the DELAY property."""
        r = self.send(Message("T", b"x", delay_level=3))
        stored = self.cluster.brokers[r.message_queue.broker_name].messages("T")[0]
        self.assertEqual(stored.properties_dict[m.DELAY], "3")

    def test_batch(self) -> None:
        """A batch goes as SEND_BATCH_MESSAGE; ids are the members' UNIQ_KEYs, comma-joined."""
        msgs = [Message("T", f"b{i}".encode(), tags="B") for i in range(3)]
        mq = MessageQueue("T", "broker-a", 1)
        d = self.producer.send_batch(msgs, mq)
        pump(self.clock)
        result = self.successResultOf(d)
        stored = self.cluster.brokers["broker-a"].messages("T")
        self.assertEqual([x.body for x in stored], [b"b0", b"b1", b"b2"])
        ids = result.msg_id.split(",")
        self.assertEqual(ids, [x.properties_dict[m.UNIQ_KEY] for x in stored])
        self.assertEqual(len(result.offset_msg_id.split(",")), 3)
        cmd = self.remoting.codes(RequestCode.SEND_BATCH_MESSAGE)[0]
        self.assertEqual(cmd.ext_fields["m"], "true")

    def test_batch_rejects_mixed_topics(self) -> None:
        """Batch members must share a topic."""
        d = self.producer.send_batch([Message("T", b"x"), Message("U", b"y")])
        self.failureResultOf(d, MQClientError)

    def test_oneway(self) -> None:
        """send_oneway stores the message without waiting for a result."""
        d = self.producer.send_oneway(Message("T", b"one"))
        pump(self.clock)
        self.successResultOf(d)
        total = sum(len(b.messages("T")) for b in self.cluster.brokers.values())
        self.assertEqual(total, 1)

    def test_auto_create_through_default_topic(self) -> None:
        """An unknown topic is sent through TBW102's brokers with defaultTopicQueueNums."""
        r = self.send(Message("NEW", b"x"))
        self.assertEqual(r.status, SendStatus.SEND_OK)
        self.assertLess(r.message_queue.queue_id, 4)

    def test_empty_body_refused(self) -> None:
        """An empty body fails at once with MQClientError."""
        self.failureResultOf(self.producer.send(Message("T", b"")), MQClientError)

    def test_max_in_flight(self) -> None:
        """Only max_in_flight sends are outstanding; the rest wait their turn."""
        held: list[Deferred[object]] = []
        broker = self.cluster.brokers["broker-a"]
        real = broker.on_310

        def slow(remoting: object, cmd: object) -> Deferred[object]:
            d: Deferred[object] = Deferred()
            held.append(d)
            d.addCallback(lambda _: real(remoting, cmd))  # type: ignore[arg-type]
            return d

        broker.on_310 = slow  # type: ignore[method-assign]
        producer = Producer(self.clock, ProducerConfig("PG2", max_in_flight=2), self.inst)
        self.successResultOf(producer.start())
        mq = MessageQueue("T", "broker-a", 0)
        ds = [producer.send_to_queue(Message("T", b"x"), mq) for _ in range(5)]
        pump(self.clock)
        self.assertEqual(len(held), 2)
        held[0].callback(None)
        pump(self.clock)
        self.assertEqual(len(held), 3)
        self.successResultOf(ds[0])

    def test_shutdown_unregisters(self) -> None:
        """Shutdown sends UNREGISTER_CLIENT with the producer group to every broker."""
        self.send(Message("T", b"x"))
        self.successResultOf(self.producer.shutdown())
        unreg = self.remoting.codes(RequestCode.UNREGISTER_CLIENT)
        self.assertEqual(len(unreg), 2)
        self.assertEqual(unreg[0].ext_fields["producerGroup"], "PG")
        self.assertEqual(unreg[0].ext_fields["clientID"], self.inst.client_id)
