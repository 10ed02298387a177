"""Orderly PushConsumer edge cases: failed dead-lettering and releasing a queue mid-batch."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import globalLogPublisher

from rmq.client.consumer.push import ConsumeContext
from rmq.client.model import ConsumeOrderlyStatus, Message, MessageQueue
from rmq.common import fastjson
from rmq.common.message import MessageExt
from rmq.remoting.codes import RequestCode, ResponseCode
from tests.client.helpers import pump
from tests.client.test_push import PushHarness, owned

MQ = MessageQueue("T", "broker-a", 1)
LOCK_KEY = ("CG", ("T", "broker-a", 1))


class OrderlyDeadLetterTests(PushHarness):
    def test_failed_send_back_keeps_batch(self) -> None:
        """When dead-lettering fails the offset stays put and the message is consumed again."""
        seen: list[tuple[bytes, int]] = []

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeOrderlyStatus:
            seen.append((msgs[0].body, msgs[0].reconsume_times))
            return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT

        c = self.consumer("a", listener=listener, orderly=True, max_reconsume_times=1)
        self.start(c)
        broker = self.cluster.brokers["broker-a"]
        broker.fail_codes[int(RequestCode.CONSUMER_SEND_MSG_BACK)] = ResponseCode.SYSTEM_ERROR
        self.successResultOf(self.producer.send_to_queue(Message("T", b"only"), MQ))
        pump(self.clock, 2.5)
        assert c.offsets is not None
        self.assertEqual(c.offsets.get(MQ), 0)
        self.assertEqual(seen, [(b"only", 0), (b"only", 1), (b"only", 2)])
        self.assertEqual(broker.messages("%DLQ%CG"), [])
        self.assertEqual(c.process_queues[MQ].msg_count, 1)
        del broker.fail_codes[int(RequestCode.CONSUMER_SEND_MSG_BACK)]
        pump(self.clock, 1)
        self.assertEqual(len(seen), 4)
        self.assertEqual([x.body for x in broker.messages("%DLQ%CG")], [b"only"])
        self.assertEqual(c.offsets.get(MQ), 1)
        self.assertEqual(c.process_queues[MQ].msg_count, 0)

    def test_exhausted_batch_committed_after_send_back(self) -> None:
        """A batch past max_reconsume_times goes to the DLQ and the queue moves on."""
        seen: list[bytes] = []

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeOrderlyStatus:
            seen.append(msgs[0].body)
            if msgs[0].body == b"0":
                return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
            return ConsumeOrderlyStatus.SUCCESS

        c = self.consumer("a", listener=listener, orderly=True, max_reconsume_times=0)
        self.start(c)
        for i in range(2):
            self.successResultOf(self.producer.send_to_queue(Message("T", f"{i}".encode()), MQ))
        pump(self.clock)
        broker = self.cluster.brokers["broker-a"]
        self.assertEqual(seen, [b"0", b"1"])
        self.assertEqual([x.body for x in broker.messages("%DLQ%CG")], [b"0"])
        assert c.offsets is not None
        self.assertEqual(c.offsets.get(MQ), 2)


class OrderlyReleaseTests(PushHarness):
    def slow_consumer(
        self, queues: int = 1
    ) -> tuple[list[Deferred[ConsumeOrderlyStatus]], list[bytes]]:
        """Start orderly consumer "a" (listener answers when told); 2 messages per queue."""
        self.pending: list[Deferred[ConsumeOrderlyStatus]] = []
        self.seen: list[bytes] = []

        def slow(msgs: list[MessageExt], ctx: ConsumeContext) -> Deferred[ConsumeOrderlyStatus]:
            self.seen.extend(x.body for x in msgs)
            d: Deferred[ConsumeOrderlyStatus] = Deferred()
            self.pending.append(d)
            return d

        self.c = self.consumer("a", listener=slow, orderly=True)
        self.start(self.c)
        for q in range(1, 1 + queues):
            mq = MessageQueue("T", "broker-a", q % 4)
            for i in range(2):
                self.successResultOf(self.producer.send_to_queue(Message("T", f"{i}".encode()), mq))
        pump(self.clock)
        return self.pending, self.seen

    def test_queue_kept_locked_while_listener_runs(self) -> None:
        """A queue dropped mid-batch stays locked until the listener returns, then unlocks."""
        pending, seen = self.slow_consumer()
        broker = self.cluster.brokers["broker-a"]
        cid = self.c.instance.client_id
        self.assertEqual(seen, [b"0"])
        self.c.unsubscribe("T")
        pump(self.clock)
        self.assertEqual(owned(self.c), set())
        self.assertEqual(broker.locks.get(LOCK_KEY), cid)
        self.assertNotIn(("CG", ("T", "broker-a", 2)), broker.locks)
        pending[0].callback(ConsumeOrderlyStatus.SUCCESS)
        pump(self.clock)
        self.assertNotIn(LOCK_KEY, broker.locks)
        self.assertEqual(seen, [b"0"], "no batch starts after the drop")
        self.assertEqual(broker.offsets.get(("CG", "T", 1)), 1, "finished batch is committed")

    def test_lock_renewed_while_releasing(self) -> None:
        """The periodic lock renewal still covers a dropped queue whose batch runs."""
        pending, _ = self.slow_consumer()
        self.c.unsubscribe("T")
        pump(self.clock)
        before = len(self.c.remoting.codes(RequestCode.LOCK_BATCH_MQ))  # type: ignore[attr-defined]
        pump(self.clock, 20.5)
        renewals = self.c.remoting.codes(RequestCode.LOCK_BATCH_MQ)[before:]  # type: ignore[attr-defined]
        self.assertEqual(len(renewals), 1)
        mqs = fastjson.loads(renewals[0].body or b"")["mqSet"]
        self.assertIn({"topic": "T", "brokerName": "broker-a", "queueId": 1}, mqs)
        pending[0].callback(ConsumeOrderlyStatus.SUCCESS)

    def test_new_owner_waits_for_running_batch(self) -> None:
        """Another member cannot consume a queue while the old owner's listener still runs."""
        pending, seen = self.slow_consumer(queues=4)
        self.assertEqual(len(pending), 4)
        b = self.consumer("b", orderly=True)
        self.start(b)
        pump(self.clock, 1)
        self.assertEqual(len(owned(self.c)), 2, "a dropped the queues allocated to b")
        self.assertEqual(owned(b), set(), "b cannot lock queues whose batch still runs")
        self.assertEqual(self.got["b"], [])
        for d in pending:
            d.callback(ConsumeOrderlyStatus.SUCCESS)
        pump(self.clock, 21)  # a releases its locks, the next rebalance lets b lock them
        moved = owned(b)
        self.assertEqual(len(moved), 2)
        self.assertEqual(owned(self.c) & moved, set())
        self.assertEqual(sorted(x.body for x in self.got["b"]), [b"1", b"1"])
        self.assertEqual({x.queue_id for x in self.got["b"]}, {q.queue_id for q in moved})
        self.assertEqual(seen.count(b"1"), 2, "a consumed only the queues it kept")

    def test_failed_batch_not_committed_on_release(self) -> None:
        """A batch that fails after its queue was dropped is left for the next owner."""
        pending, _ = self.slow_consumer()
        broker = self.cluster.brokers["broker-a"]
        self.c.unsubscribe("T")
        pump(self.clock)
        self.assertIn(LOCK_KEY, broker.locks)
        pending[0].callback(ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT)
        pump(self.clock)
        self.assertNotIn(LOCK_KEY, broker.locks)
        self.assertEqual(broker.offsets.get(("CG", "T", 1), 0), 0)

    def test_shutdown_during_release_logs_no_failure(self) -> None:
        """Shutdown while a released queue saves its offset: no spurious failure; unlocked."""
        pending, _ = self.slow_consumer()
        broker = self.cluster.brokers["broker-a"]
        self.c.unsubscribe("T")
        pump(self.clock)
        remoting = self.c.instance.api.remoting
        real = remoting.invoke
        held: list[Deferred[Any]] = []

        def hold_offset_updates(addr: str, cmd: Any, timeout: float) -> Any:
            if cmd.code != RequestCode.UPDATE_CONSUMER_OFFSET:
                return real(addr, cmd, timeout)
            d: Deferred[Any] = Deferred()
            held.append(d)
            return d.addCallback(lambda _: real(addr, cmd, timeout))

        remoting.invoke = hold_offset_updates  # type: ignore[method-assign]
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        pending[0].callback(ConsumeOrderlyStatus.SUCCESS)  # the release now waits on its save
        pump(self.clock)
        self.assertEqual(len(held), 1)
        stopped = self.c.shutdown()
        for _ in range(3):  # shutdown's own saves, then the release's
            for d in [d for d in held if not d.called][::-1]:
                d.callback(None)
            pump(self.clock)
        self.successResultOf(stopped)
        failures = [e for e in events if "failed" in str(e.get("log_format", ""))]
        self.assertEqual(failures, [])
        self.assertNotIn(LOCK_KEY, broker.locks)
