"""RequestGate: sends beyond the in-flight bound wait, and are answered SYSTEM_BUSY after 200 ms."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.flowcontrol import RequestGate
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from tests.broker.features_helpers import RecordingConnection


class GateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.gate = RequestGate(self.clock, max_in_flight=1, capacity=2, wait_ms=200)
        self.pending: list[Deferred[Any]] = []
        self.dispatcher = Dispatcher()
        self.dispatcher.register(310, self.gate.wrap(self.slow_send))
        self.conn = RecordingConnection()

    def slow_send(self, ctx: Any, request: RemotingCommand) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        d.addCallback(lambda _: request.make_response(0))
        self.pending.append(d)
        return d

    def send(self, opaque: int) -> None:
        req = RemotingCommand.request(310, {})
        req.opaque = opaque
        self.dispatcher.dispatch(self.conn, req)  # type: ignore[arg-type]

    def answers(self) -> dict[int, tuple[int, str | None]]:
        return {r.opaque: (r.code, r.remark) for r in self.conn.responses}

    def test_passes_when_idle(self) -> None:
        """A send with a free slot runs at once."""
        self.send(1)
        self.assertEqual(len(self.pending), 1)
        self.pending[0].callback(None)
        self.assertEqual(self.answers(), {1: (0, None)})

    def test_queued_send_runs_when_slot_frees(self) -> None:
        """A queued send runs as soon as the running one completes within the wait."""
        self.send(1)
        self.send(2)
        self.assertEqual(len(self.pending), 1)
        self.clock.advance(0.1)
        self.pending[0].callback(None)
        self.assertEqual(len(self.pending), 2)
        self.pending[1].callback(None)
        self.assertEqual(self.answers(), {1: (0, None), 2: (0, None)})

    def test_timeout_clean_queue(self) -> None:
        """A send queued longer than waitTimeMillsInSendQueue gets SYSTEM_BUSY at its deadline."""
        self.send(1)
        self.send(2)
        self.clock.advance(0.199)
        self.assertEqual(self.answers(), {})
        self.clock.advance(0.001)
        code, remark = self.answers()[2]
        self.assertEqual(code, 2)
        self.assertTrue((remark or "").startswith("[TIMEOUT_CLEAN_QUEUE]broker busy"))
        self.pending[0].callback(None)
        self.assertEqual(len(self.pending), 1)
        self.assertEqual(self.gate.queue_size, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_overload_when_queue_full(self) -> None:
        """Beyond the queue capacity a send is refused at once with [OVERLOAD]."""
        for i in range(4):
            self.send(i)
        code, remark = self.answers()[3]
        self.assertEqual(code, 2)
        self.assertTrue((remark or "").startswith("[OVERLOAD]"))
        self.assertEqual(self.gate.rejected, 1)

    def test_failed_send_frees_slot(self) -> None:
        """A send whose handler fails still frees its slot for the next one."""
        self.send(1)
        self.send(2)
        self.pending[0].errback(RuntimeError("disk"))
        self.assertEqual(self.answers()[1][0], 1)
        self.assertEqual(len(self.pending), 2)
        self.assertEqual(self.gate.in_flight, 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
