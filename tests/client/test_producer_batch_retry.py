"""Batch sends share the single-send retry and latency fault avoidance path (sendDefaultImpl)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from rmq.client.model import Message, MessageQueue, SendResult
from rmq.common import message as m
from rmq.common.errors import RemoteError
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.client.fakes import FakeRemoting
from tests.client.helpers import pump
from tests.client.test_producer import ProducerCase


class BatchRetryTests(ProducerCase):
    def setUp(self) -> None:
        super().setUp()
        self.batch_addrs: list[str] = []

    def batch(self, n: int = 3) -> list[Message]:
        return [Message("T", f"b{i}".encode()) for i in range(n)]

    def broker_of(self, addr: str) -> str:
        return next(b.name for b in self.cluster.brokers.values() if b.addr == addr)

    def wrap_batch_handlers(self, handler: Any) -> None:
        """Route every broker's SEND_BATCH_MESSAGE through ``handler(broker, remoting, cmd)``."""
        for broker in self.cluster.brokers.values():
            real = broker.on_320

            def on_320(
                remoting: FakeRemoting, cmd: RemotingCommand, b: Any = broker, real: Any = real
            ) -> Any:
                self.batch_addrs.append(b.addr)
                return handler(b, real, remoting, cmd)

            broker.on_320 = on_320  # type: ignore[method-assign]

    def send_batch(self, msgs: list[Message], mq: MessageQueue | None = None) -> Deferred[Any]:
        d = self.producer.send_batch(msgs, mq)
        pump(self.clock)
        return d

    def test_first_broker_fails_batch_goes_to_other(self) -> None:
        """A batch refused with SYSTEM_ERROR is re-sent whole to the other broker."""
        calls = [0]

        def first_fails(b: Any, real: Any, remoting: FakeRemoting, cmd: RemotingCommand) -> Any:
            calls[0] += 1
            if calls[0] == 1:
                return cmd.make_response(ResponseCode.SYSTEM_ERROR, "busy")
            return real(remoting, cmd)

        self.wrap_batch_handlers(first_fails)
        result: SendResult = self.successResultOf(self.send_batch(self.batch()))
        self.assertEqual(len(self.batch_addrs), 2)
        failed, ok = (self.broker_of(a) for a in self.batch_addrs)
        self.assertNotEqual(failed, ok)
        self.assertEqual(result.message_queue.broker_name, ok)
        stored = self.cluster.brokers[ok].messages("T")
        self.assertEqual([x.body for x in stored], [b"b0", b"b1", b"b2"])
        self.assertEqual(self.cluster.brokers[failed].messages("T"), [])
        self.assertEqual(result.msg_id.split(","), [x.properties_dict[m.UNIQ_KEY] for x in stored])
        bodies = {c.body for c in self.remoting.codes(RequestCode.SEND_BATCH_MESSAGE)}
        self.assertEqual(len(bodies), 1)

    def test_failed_broker_is_isolated(self) -> None:
        """Round robin reaches the down broker once; its batch retries and it is then avoided."""
        down = self.cluster.brokers["broker-a"].addr
        self.cluster.down.add(down)
        for _ in range(8):  # 8 queues: round robin would visit broker-a's queues
            r: SendResult = self.successResultOf(self.send_batch(self.batch(2)))
            self.assertEqual(r.message_queue.broker_name, "broker-b")
        self.assertFalse(self.producer.fault.available("broker-a"))
        self.assertTrue(self.producer.fault.available("broker-b"))
        sent = [a for a, c in self.remoting.sent if c.code == RequestCode.SEND_BATCH_MESSAGE]
        self.assertEqual(sent.count(down), 1)
        self.assertEqual(len(self.cluster.brokers["broker-b"].messages("T")), 16)

    def test_slow_batch_records_latency(self) -> None:
        """A batch answered after 600 ms makes its broker unavailable for 30 s (Java table)."""
        held: list[Deferred[None]] = []

        def slow(b: Any, real: Any, remoting: FakeRemoting, cmd: RemotingCommand) -> Any:
            d: Deferred[None] = Deferred()
            held.append(d)
            return d.addCallback(lambda _: real(remoting, cmd))

        self.wrap_batch_handlers(slow)
        d = self.send_batch(self.batch())
        self.assertEqual(len(held), 1)
        self.clock.advance(0.6)
        held[0].callback(None)
        result: SendResult = self.successResultOf(d)
        broker = result.message_queue.broker_name
        self.assertFalse(self.producer.fault.available(broker))
        self.clock.advance(30)
        self.assertTrue(self.producer.fault.available(broker))

    def test_retryable_error_exhausts_retries(self) -> None:
        """A batch refused everywhere with SYSTEM_ERROR is tried 3 times, then fails typed."""
        for b in self.cluster.brokers.values():
            b.fail_codes[RequestCode.SEND_BATCH_MESSAGE] = ResponseCode.SYSTEM_ERROR
        d = self.send_batch(self.batch())
        self.assertEqual(self.failureResultOf(d, RemoteError).value.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(len(self.remoting.codes(RequestCode.SEND_BATCH_MESSAGE)), 3)

    def test_non_retryable_error_not_retried(self) -> None:
        """MESSAGE_ILLEGAL is not retried: one request, then RemoteError."""
        for b in self.cluster.brokers.values():
            b.fail_codes[RequestCode.SEND_BATCH_MESSAGE] = ResponseCode.MESSAGE_ILLEGAL
        d = self.send_batch(self.batch())
        self.failureResultOf(d, RemoteError)
        self.assertEqual(len(self.remoting.codes(RequestCode.SEND_BATCH_MESSAGE)), 1)

    def test_fixed_queue_batch_single_attempt(self) -> None:
        """A batch to a given queue is not retried elsewhere (Java send(batch, mq))."""
        self.cluster.brokers["broker-a"].fail_codes[RequestCode.SEND_BATCH_MESSAGE] = (
            ResponseCode.SYSTEM_ERROR
        )
        d = self.send_batch(self.batch(), MessageQueue("T", "broker-a", 0))
        self.failureResultOf(d, RemoteError)
        self.assertEqual(len(self.remoting.codes(RequestCode.SEND_BATCH_MESSAGE)), 1)
        self.assertEqual(self.cluster.brokers["broker-b"].messages("T"), [])
