"""PushConsumer against the in-memory cluster: rebalance, pull loop, listeners, offsets."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.client.consumer.push import ConsumeContext, PushConsumer, PushConsumerConfig
from rmq.client.model import (
    ConsumeFromWhere,
    ConsumeOrderlyStatus,
    ConsumeStatus,
    ExpressionType,
    Message,
    MessageModel,
    MessageQueue,
)
from rmq.client.offset_store import decode_offsets, sync_runner
from rmq.client.producer import Producer, ProducerConfig
from rmq.common import fastjson
from rmq.common.errors import RemoteError
from rmq.common.message import MessageExt
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.client.fakes import FakeCluster, FakeConnection
from tests.client.helpers import make_instance, pump


def owned(c: PushConsumer, topic: str = "T") -> set[MessageQueue]:
    """The queues of ``topic`` a consumer currently owns."""
    return {q for q in c.process_queues if q.topic == topic}


class PushHarness(SynchronousTestCase):
    """A producer and consumer factory on one clock-driven in-memory cluster."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.cluster = FakeCluster(self.clock, brokers=1, queues=4)
        self.cluster.ensure_topic("T")
        inst, _ = make_instance(self.clock, self.cluster, "producer")
        self.producer = Producer(self.clock, ProducerConfig("PG"), inst)
        self.successResultOf(self.producer.start())
        self.got: dict[str, list[MessageExt]] = {}

    def produce(self, n: int, topic: str = "T", tags: str | None = None, **kw: Any) -> None:
        for i in range(n):
            d = self.producer.send(Message(topic, f"m{i}".encode(), tags=tags), **kw)
            pump(self.clock)
            self.successResultOf(d)

    def consumer(
        self,
        name: str,
        listener: Any = None,
        expression: str = "*",
        orderly: bool = False,
        **cfg: Any,
    ) -> PushConsumer:
        inst, remoting = make_instance(self.clock, self.cluster, name)
        c = PushConsumer(self.clock, PushConsumerConfig("CG", **cfg), inst, runner=sync_runner)
        c.subscribe("T", expression)
        self.got.setdefault(name, [])
        sink = self.got[name]

        def default(msgs: list[MessageExt], ctx: ConsumeContext) -> Any:
            sink.extend(msgs)
            return ConsumeOrderlyStatus.SUCCESS if orderly else ConsumeStatus.CONSUME_SUCCESS

        if orderly:
            c.register_orderly_listener(listener or default)
        else:
            c.register_listener(listener or default)
        c.remoting = remoting  # type: ignore[attr-defined]
        return c

    def held_consumer(self, **cfg: Any) -> tuple[PushConsumer, list[Deferred[ConsumeStatus]]]:
        """Consumer "a" whose listener holds each batch until the test fires its Deferred."""
        pending: list[Deferred[ConsumeStatus]] = []

        def slow(msgs: list[MessageExt], ctx: ConsumeContext) -> Deferred[ConsumeStatus]:
            d: Deferred[ConsumeStatus] = Deferred()
            pending.append(d)
            return d

        return self.consumer("a", listener=slow, **cfg), pending

    def start(self, c: PushConsumer) -> None:
        d = c.start()
        pump(self.clock, 0.1)
        self.successResultOf(d)


class PushTests(PushHarness):
    def test_consumes_everything_from_first_offset(self) -> None:
        """Every message is delivered once and offsets reach the broker on persist."""
        self.produce(12)
        c = self.consumer("a", consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET)
        self.start(c)
        self.assertEqual(
            sorted(x.body for x in self.got["a"]), sorted(f"m{i}".encode() for i in range(12))
        )
        pump(self.clock, 11)  # the 5 s persistence loop (first run after 10 s)
        broker = self.cluster.brokers["broker-a"]
        total = sum(o for (g, t, _), o in broker.offsets.items() if g == "CG" and t == "T")
        self.assertEqual(total, 12)

    def test_consume_from_last_offset_skips_backlog(self) -> None:
        """A new group with LAST_OFFSET starts at the max offset, then gets new messages."""
        self.produce(4)
        c = self.consumer("a")
        self.start(c)
        self.assertEqual(self.got["a"], [])
        self.produce(3)
        pump(self.clock)
        self.assertEqual(len(self.got["a"]), 3)

    def test_long_poll_then_delivery(self) -> None:
        """A held pull is answered when a message arrives."""
        c = self.consumer("a")
        self.start(c)
        pulls_before = len(c.remoting.codes(RequestCode.PULL_MESSAGE))  # type: ignore[attr-defined]
        self.produce(1)
        pump(self.clock)
        self.assertEqual([x.body for x in self.got["a"]], [b"m0"])
        pull = c.remoting.codes(RequestCode.PULL_MESSAGE)[-1]  # type: ignore[attr-defined]
        self.assertEqual(pull.ext_fields["suspendTimeoutMillis"], "15000")
        self.assertEqual(int(pull.ext_fields["sysFlag"]) & 0x2, 0x2)
        self.assertGreater(len(c.remoting.codes(RequestCode.PULL_MESSAGE)), pulls_before)  # type: ignore[attr-defined]

    def test_tag_filter(self) -> None:
        """Only messages whose tag is subscribed reach the listener."""
        c = self.consumer("a", expression="TagA || TagC")
        self.start(c)
        self.produce(2, tags="TagA")
        self.produce(2, tags="TagB")
        self.produce(1, tags="TagC")
        pump(self.clock)
        self.assertEqual(sorted(x.tags or "" for x in self.got["a"]), ["TagA", "TagA", "TagC"])

    def test_failed_message_sent_back_and_redelivered(self) -> None:
        """RECONSUME_LATER sends the message back; it returns via %RETRY% with its real topic."""
        seen: list[MessageExt] = []

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeStatus:
            seen.extend(msgs)
            if msgs[0].reconsume_times == 0:
                return ConsumeStatus.RECONSUME_LATER
            return ConsumeStatus.CONSUME_SUCCESS

        c = self.consumer("a", listener=listener)
        self.start(c)
        self.produce(1)
        pump(self.clock)
        broker = self.cluster.brokers["broker-a"]
        self.assertEqual(len(broker.sent_back), 1)
        self.assertEqual(broker.sent_back[0][1], 0)
        back = c.remoting.codes(RequestCode.CONSUMER_SEND_MSG_BACK)[0]  # type: ignore[attr-defined]
        self.assertEqual(back.ext_fields["group"], "CG")
        self.assertEqual(back.ext_fields["maxReconsumeTimes"], "16")
        pump(self.clock, 31)  # route refresh finds %RETRY%CG, rebalance picks it up
        self.assertEqual(len(seen), 2)
        self.assertEqual(seen[1].topic, "T")
        self.assertEqual(seen[1].reconsume_times, 1)
        self.assertEqual(seen[1].body, b"m0")

    def test_listener_exception_counts_as_failure(self) -> None:
        """A raising listener means RECONSUME_LATER: retried until the broker dead-letters it."""

        def boom(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeStatus:
            raise ValueError("boom")

        c = self.consumer("a", listener=boom)
        self.start(c)
        self.produce(1)
        pump(self.clock)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 17)
        broker = self.cluster.brokers["broker-a"]
        self.assertEqual(len(broker.sent_back), 17)
        self.assertEqual([x.body for x in broker.messages("%DLQ%CG")], [b"m0"])

    def test_two_consumers_split_then_one_leaves(self) -> None:
        """Two members own 2 queues each; when one shuts down the other owns all 4."""
        a, b = self.consumer("a"), self.consumer("b")
        self.start(a)
        self.start(b)
        pump(self.clock, 0.1)
        self.assertEqual(len(owned(a)), 2)
        self.assertEqual(len(owned(b)), 2)
        self.assertEqual(owned(a) & owned(b), set())
        d = b.shutdown()
        pump(self.clock, 0.1)
        self.successResultOf(d)
        self.assertEqual(len(owned(a)), 4)

    def test_abrupt_stop_reassigns_queues(self) -> None:
        """A member whose connections just close (no unregister) loses its queues to the rest."""
        a, b = self.consumer("a"), self.consumer("b")
        self.start(a)
        self.start(b)
        pump(self.clock, 0.1)
        b.stop_abruptly()
        pump(self.clock, 0.1)
        self.assertEqual(len(owned(a)), 4)
        self.produce(8)
        pump(self.clock)
        self.assertEqual(len(self.got["a"]), 8)

    def test_flow_control_by_count(self) -> None:
        """Pulling a queue pauses while its cache holds more than pullThresholdForQueue."""
        c, pending = self.held_consumer(
            pull_threshold_for_queue=3,
            pull_batch_size=2,
            consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        )
        mq = MessageQueue("T", "broker-a", 0)
        for i in range(10):
            self.successResultOf(self.producer.send_to_queue(Message("T", f"{i}".encode()), mq))
        self.start(c)
        pump(self.clock, 1)
        self.assertEqual(c.process_queues[mq].msg_count, 4)
        for d in pending:
            d.callback(ConsumeStatus.CONSUME_SUCCESS)
        pump(self.clock, 1)
        self.assertGreaterEqual(len(pending), 6)

    def test_flow_control_by_size(self) -> None:
        """Pulling a queue pauses while its cached bodies exceed pullThresholdSizeForQueue."""
        c, pending = self.held_consumer(
            pull_threshold_size_for_queue_mib=1,
            pull_batch_size=2,
            consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        )
        mq = MessageQueue("T", "broker-a", 0)
        body = bytes(300 * 1024)
        for _ in range(10):
            self.successResultOf(self.producer.send_to_queue(Message("T", body), mq))
        self.start(c)
        pump(self.clock, 1)
        pq = c.process_queues[mq]
        # Java compares whole MiB: 1.76 MiB counts as 1 (pull on), 2.34 MiB as 2 (paused).
        self.assertEqual(pq.msg_count, 8, "4 pulls of 600 KiB, then 2 whole MiB: paused")
        self.assertEqual(pq.msg_size, 8 * len(body))
        self.assertEqual(len(pending), 8)
        for d in list(pending):
            d.callback(ConsumeStatus.CONSUME_SUCCESS)
        pump(self.clock, 1)
        self.assertEqual(len(pending), 10, "the rest is pulled once the cache drained")
        self.assertEqual(pq.msg_count, 2)

    def test_concurrency_limit(self) -> None:
        """No more than consume_concurrency listener calls are in progress at once."""
        c, pending = self.held_consumer(consume_concurrency=3)
        self.start(c)
        self.produce(10)
        pump(self.clock)
        self.assertEqual(len(pending), 3)
        pending[0].callback(ConsumeStatus.CONSUME_SUCCESS)
        pump(self.clock)
        self.assertEqual(len(pending), 4)

    def test_orderly_in_order_with_locks(self) -> None:
        """Orderly consumption locks queues and delivers one queue's messages in order."""
        c = self.consumer("a", orderly=True)
        self.start(c)
        mq = MessageQueue("T", "broker-a", 2)
        for i in range(5):
            self.successResultOf(self.producer.send_to_queue(Message("T", f"{i}".encode()), mq))
        pump(self.clock)
        self.assertEqual([x.body for x in self.got["a"]], [b"0", b"1", b"2", b"3", b"4"])
        self.assertTrue(c.remoting.codes(RequestCode.LOCK_BATCH_MQ))  # type: ignore[attr-defined]
        locks = self.cluster.brokers["broker-a"].locks
        self.assertIn(("CG", ("T", "broker-a", 2)), locks)

    def test_orderly_suspend_retries_same_message(self) -> None:
        """SUSPEND_CURRENT_QUEUE_A_MOMENT re-delivers the same message before the next one."""
        seen: list[bytes] = []

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeOrderlyStatus:
            seen.append(msgs[0].body)
            if len(seen) == 1:
                return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
            return ConsumeOrderlyStatus.SUCCESS

        c = self.consumer("a", listener=listener, orderly=True)
        self.start(c)
        mq = MessageQueue("T", "broker-a", 1)
        for i in range(2):
            self.successResultOf(self.producer.send_to_queue(Message("T", f"{i}".encode()), mq))
        pump(self.clock)
        self.assertEqual(seen, [b"0"])
        pump(self.clock, 1.1)
        self.assertEqual(seen, [b"0", b"0", b"1"])

    def test_orderly_lock_held_by_other(self) -> None:
        """A queue locked by another client is not consumed."""
        broker = self.cluster.brokers["broker-a"]
        for q in range(4):
            broker.locks[("CG", ("T", "broker-a", q))] = "someone-else"
        c = self.consumer("a", orderly=True)
        self.start(c)
        self.produce(4)
        pump(self.clock, 1)
        self.assertEqual(self.got["a"], [])
        self.assertEqual(owned(c), set())

    def test_broadcasting_local_offsets(self) -> None:
        """Broadcasting: every member gets every message; offsets go to the local file."""
        tmp = self.mktemp()
        a = self.consumer("a", message_model=MessageModel.BROADCASTING, offsets_dir=tmp)
        b = self.consumer("b", message_model=MessageModel.BROADCASTING, offsets_dir=tmp)
        self.start(a)
        self.start(b)
        self.produce(6)
        pump(self.clock)
        self.assertEqual(len(self.got["a"]), 6)
        self.assertEqual(len(self.got["b"]), 6)
        self.successResultOf(a.shutdown())
        path = os.path.join(tmp, a.instance.client_id, "CG", "offsets.json")
        with open(path, "rb") as f:
            table = decode_offsets(f.read())
        self.assertEqual(sum(table.values()), 6)
        self.assertNotIn(
            "%RETRY%CG", {q.topic for q in table}, "broadcasting has no retry subscription"
        )

    def test_reset_offset_request(self) -> None:
        """RESET_CONSUMER_CLIENT_OFFSET re-consumes from the given offsets."""
        c = self.consumer("a", consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET)
        self.start(c)
        self.produce(8)
        pump(self.clock)
        self.assertEqual(len(self.got["a"]), 8)
        table = {
            fastjson.ObjectKey.of(MessageQueue("T", "broker-a", q).to_obj()): 0 for q in range(4)
        }
        req = RemotingCommand.request(
            RequestCode.RESET_CONSUMER_CLIENT_OFFSET,
            {"topic": "T", "group": "CG", "timestamp": "0", "isForce": "true"},
            fastjson.dumpb({"offsetTable": table}),
            oneway=True,
        )
        c.instance.dispatcher.dispatch(FakeConnection("127.0.0.1:10911"), req)  # type: ignore[arg-type]
        pump(self.clock, 0.1)
        self.assertEqual(len(self.got["a"]), 16)

    def test_running_info(self) -> None:
        """GET_CONSUMER_RUNNING_INFO answers with properties and an object-keyed mqTable."""
        c = self.consumer("a")
        self.start(c)
        req = RemotingCommand.request(
            RequestCode.GET_CONSUMER_RUNNING_INFO,
            {"consumerGroup": "CG", "clientId": c.instance.client_id, "jstackEnable": "false"},
        )
        conn = FakeConnection("127.0.0.1:10911")
        c.instance.dispatcher.dispatch(conn, req)  # type: ignore[arg-type]
        body = fastjson.loads(conn.responses[0].body or b"")
        self.assertEqual(conn.responses[0].code, 0)
        self.assertEqual(body["properties"]["consumerGroup"], "CG")
        topics = sorted(k.as_dict()["topic"] for k in body["mqTable"])
        self.assertEqual(topics, ["%RETRY%CG", "T", "T", "T", "T"])
        self.assertTrue(all(isinstance(k, fastjson.ObjectKey) for k in body["mqTable"]))

    def test_consume_directly(self) -> None:
        """CONSUME_MESSAGE_DIRECTLY runs the listener and reports CR_SUCCESS."""
        c = self.consumer("a")
        self.start(c)
        self.produce(1)
        pump(self.clock)
        from rmq.common.message import encode_message_ext

        req = RemotingCommand.request(
            RequestCode.CONSUME_MESSAGE_DIRECTLY,
            {"consumerGroup": "CG", "clientId": c.instance.client_id, "brokerName": "broker-a"},
            encode_message_ext(self.got["a"][0]),
        )
        conn = FakeConnection("127.0.0.1:10911")
        c.instance.dispatcher.dispatch(conn, req)  # type: ignore[arg-type]
        pump(self.clock)
        self.assertEqual(
            fastjson.loads(conn.responses[0].body or b"")["consumeResult"], "CR_SUCCESS"
        )
        self.assertEqual(len(self.got["a"]), 2)

    def test_sql92_subscription_checked(self) -> None:
        """SQL92 subscriptions are checked with CHECK_CLIENT_CONFIG; a bad one fails start()."""
        inst, _ = make_instance(self.clock, self.cluster, "sql")
        c = PushConsumer(self.clock, PushConsumerConfig("CG"), inst)
        c.subscribe("T", "a > 1 BAD", ExpressionType.SQL92)
        c.register_listener(lambda msgs, ctx: ConsumeStatus.CONSUME_SUCCESS)
        d = c.start()
        pump(self.clock)
        self.assertEqual(self.failureResultOf(d, RemoteError).value.code, 23)

    def test_heartbeat_carries_subscriptions(self) -> None:
        """The heartbeat names the group, CONSUME_PASSIVELY, the topic and %RETRY% topic."""
        c = self.consumer("a", expression="TagA || TagB")
        self.start(c)
        hb = fastjson.loads(c.remoting.codes(RequestCode.HEART_BEAT)[0].body or b"")  # type: ignore[attr-defined]
        cd = hb["consumerDataSet"][0]
        self.assertEqual(cd["consumeType"], "CONSUME_PASSIVELY")
        self.assertEqual(cd["messageModel"], "CLUSTERING")
        subs = {s["topic"]: s for s in cd["subscriptionDataSet"]}
        self.assertEqual(set(subs), {"T", "%RETRY%CG"})
        self.assertEqual(subs["T"]["tagsSet"], ["TagA", "TagB"])
        self.assertEqual(subs["T"]["codeSet"], [2598919, 2598920])

    def test_consumer_status_from_client(self) -> None:
        """GET_CONSUMER_STATUS_FROM_CLIENT answers the topic's offsets with object keys."""
        c = self.consumer("a")
        self.start(c)
        self.produce(2)
        pump(self.clock)
        req = RemotingCommand.request(
            RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, {"topic": "T", "group": "CG"}
        )
        conn = FakeConnection("127.0.0.1:10911")
        c.instance.dispatcher.dispatch(conn, req)  # type: ignore[arg-type]
        table = fastjson.loads(conn.responses[0].body or b"")["messageQueueTable"]
        self.assertEqual(len(table), 4)
        self.assertEqual(sum(table.values()), 2)

    def test_consume_from_timestamp(self) -> None:
        """CONSUME_FROM_TIMESTAMP asks the broker to search offsets by time."""
        c = self.consumer(
            "a",
            consume_from_where=ConsumeFromWhere.CONSUME_FROM_TIMESTAMP,
            consume_timestamp_ms=1234,
        )
        self.start(c)
        searches = c.remoting.codes(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP)  # type: ignore[attr-defined]
        self.assertEqual(len(searches), 4)
        self.assertEqual(searches[0].ext_fields["timestamp"], "1234")

    def test_subscribe_and_unsubscribe_while_running(self) -> None:
        """Subscribing after start takes the topic's queues; unsubscribing releases them."""
        self.cluster.ensure_topic("U", 2)
        c = self.consumer("a")
        self.start(c)
        c.subscribe("U", "*")
        pump(self.clock)
        self.assertEqual(len(owned(c, "U")), 2)
        c.unsubscribe("U")
        pump(self.clock)
        self.assertEqual(owned(c, "U"), set())
        self.assertEqual(len(owned(c)), 4)
