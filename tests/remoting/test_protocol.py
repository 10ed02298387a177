"""RemotingConnection and Dispatcher over StringTransport with a task.Clock."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import (
    RemotingConnectError,
    RemotingTimeoutError,
    TopicNotExist,
)
from rmq.remoting import codec
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.protocol import RemotingConnection


def _frames(transport: StringTransport) -> list[RemotingCommand]:
    out = codec.FrameDecoder().feed(transport.value())
    transport.clear()
    return out


class _Pair:
    def __init__(self, dispatcher: Dispatcher | None = None, idle: float | None = 120.0) -> None:
        self.clock = Clock()
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher()
        self.conn = RemotingConnection(
            self.dispatcher, self.clock, max_frame=4096, idle_timeout=idle
        )
        self.transport = StringTransport()
        self.conn.makeConnection(self.transport)


class DispatchTests(SynchronousTestCase):
    def test_handler_answer_same_opaque(self) -> None:
        """A request is answered by its handler with the request's opaque."""
        p = _Pair()
        p.dispatcher.register(105, lambda ctx, req: req.make_response(0, None, {"x": "1"}))
        p.conn.dataReceived(codec.encode(RemotingCommand(105, opaque=42)))
        [resp] = _frames(p.transport)
        self.assertEqual(
            (resp.code, resp.opaque, resp.flag, resp.ext_fields), (0, 42, 1, {"x": "1"})
        )

    def test_unknown_code(self) -> None:
        """An unknown code gets REQUEST_CODE_NOT_SUPPORTED with a remark."""
        p = _Pair()
        p.conn.dataReceived(codec.encode(RemotingCommand(4242, opaque=7)))
        [resp] = _frames(p.transport)
        self.assertEqual(resp.code, 3)
        self.assertIn("4242", resp.remark or "")
        self.assertEqual(resp.opaque, 7)

    def test_rmq_error_becomes_its_code(self) -> None:
        """A handler raising an RMQError answers with its code and remark."""
        p = _Pair()

        def handler(ctx: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
            raise TopicNotExist("no route for T")

        p.dispatcher.register(105, handler)
        p.conn.dataReceived(codec.encode(RemotingCommand(105, opaque=1)))
        [resp] = _frames(p.transport)
        self.assertEqual((resp.code, resp.remark), (17, "no route for T"))

    def test_unexpected_error_is_system_error(self) -> None:
        """Any other exception answers SYSTEM_ERROR and is logged."""
        p = _Pair()
        p.dispatcher.register(105, lambda ctx, req: 1 // 0)  # type: ignore[arg-type,return-value]
        p.conn.dataReceived(codec.encode(RemotingCommand(105, opaque=1)))
        [resp] = _frames(p.transport)
        self.assertEqual(resp.code, 1)
        self.assertIn("ZeroDivisionError", resp.remark or "")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_deferred_handler(self) -> None:
        """A handler may answer later through a Deferred."""
        p = _Pair()
        later: Deferred[RemotingCommand | None] = Deferred()
        p.dispatcher.register(11, lambda ctx, req: later)
        req = RemotingCommand(11, opaque=9)
        p.conn.dataReceived(codec.encode(req))
        self.assertEqual(_frames(p.transport), [])
        later.callback(req.make_response(19))
        [resp] = _frames(p.transport)
        self.assertEqual((resp.code, resp.opaque), (19, 9))

    def test_deferred_failure(self) -> None:
        """A failed Deferred answers with the error's code."""
        p = _Pair()
        later: Deferred[RemotingCommand | None] = Deferred()
        p.dispatcher.register(11, lambda ctx, req: later)
        p.conn.dataReceived(codec.encode(RemotingCommand(11, opaque=9)))
        later.errback(TopicNotExist("gone"))
        [resp] = _frames(p.transport)
        self.assertEqual(resp.code, 17)

    def test_oneway_never_answered(self) -> None:
        """Oneway requests get no response, not even for unknown codes or errors."""
        p = _Pair()
        p.dispatcher.register(15, lambda ctx, req: req.make_response(0))
        p.conn.dataReceived(codec.encode(RemotingCommand(15, flag=2)))
        p.conn.dataReceived(codec.encode(RemotingCommand(999, flag=2)))
        self.assertEqual(p.transport.value(), b"")

    def test_handler_sees_connection(self) -> None:
        """The handler's context is the connection, with the peer address."""
        p = _Pair()
        seen: list[str] = []

        def handler(ctx: RemotingConnection, req: RemotingCommand) -> None:
            seen.append(ctx.connection.peer)

        p.dispatcher.register(34, handler)
        p.conn.dataReceived(codec.encode(RemotingCommand(34)))
        self.assertEqual(seen, ["192.168.1.1:54321"])

    def test_disconnect_listener(self) -> None:
        """Disconnect listeners hear of a lost connection."""
        p = _Pair()
        lost: list[RemotingConnection] = []
        p.dispatcher.add_disconnect_listener(lost.append)
        p.conn.connectionLost()
        self.assertEqual(lost, [p.conn])


class PendingRequestTests(SynchronousTestCase):
    def test_response_matched_by_opaque(self) -> None:
        """Responses complete the pending request with the same opaque, in any order."""
        p = _Pair()
        d1 = p.conn.invoke(RemotingCommand(105), 3)
        d2 = p.conn.invoke(RemotingCommand(105), 3)
        r1, r2 = _frames(p.transport)
        self.assertNotEqual(r1.opaque, r2.opaque)
        p.conn.dataReceived(codec.encode(r2.make_response(0, "second")))
        p.conn.dataReceived(codec.encode(r1.make_response(0, "first")))
        self.assertEqual(self.successResultOf(d1).remark, "first")
        self.assertEqual(self.successResultOf(d2).remark, "second")
        self.assertEqual(p.clock.getDelayedCalls()[0].func, p.conn._idle_check)

    def test_timeout(self) -> None:
        """A request with no response fails with RemotingTimeoutError on the clock."""
        p = _Pair()
        d = p.conn.invoke(RemotingCommand(105), 3)
        p.clock.advance(2.9)
        self.assertNoResult(d)
        p.clock.advance(0.2)
        f = self.failureResultOf(d, RemotingTimeoutError)
        self.assertIn("GET_ROUTEINFO_BY_TOPIC", f.value.remark)
        self.assertEqual(p.conn.pending_count, 0)

    def test_cancel(self) -> None:
        """Cancelling a call removes it and its timer."""
        p = _Pair(idle=None)
        d = p.conn.invoke(RemotingCommand(105), 3)
        d.cancel()
        self.failureResultOf(d)
        self.assertEqual(p.conn.pending_count, 0)
        self.assertEqual(p.clock.getDelayedCalls(), [])

    def test_connection_lost_fails_all_pending(self) -> None:
        """Every pending request fails at once when the connection is lost."""
        p = _Pair()
        ds = [p.conn.invoke(RemotingCommand(105), 30) for _ in range(3)]
        p.conn.connectionLost()
        for d in ds:
            self.failureResultOf(d, RemotingConnectError)
        self.assertEqual(p.clock.getDelayedCalls(), [])

    def test_invoke_after_close_fails(self) -> None:
        """Calls on a closed connection fail at once."""
        p = _Pair()
        p.conn.connectionLost()
        self.failureResultOf(p.conn.invoke(RemotingCommand(105), 3), RemotingConnectError)
        self.failureResultOf(p.conn.invoke_oneway(RemotingCommand(105)), RemotingConnectError)

    def test_oneway_sets_bit(self) -> None:
        """invoke_oneway writes the oneway bit and fires at once."""
        p = _Pair()
        self.assertIsNone(self.successResultOf(p.conn.invoke_oneway(RemotingCommand(40))))
        [cmd] = _frames(p.transport)
        self.assertTrue(cmd.is_oneway)

    def test_unmatched_response_dropped(self) -> None:
        """A response nobody waits for is dropped without error."""
        p = _Pair()
        p.conn.dataReceived(codec.encode(RemotingCommand(0, flag=1, opaque=77)))
        self.assertFalse(p.transport.disconnecting)


class BadInputTests(SynchronousTestCase):
    def test_oversized_frame_closes(self) -> None:
        """An oversized frame closes that connection; nothing is dispatched."""
        p = _Pair()
        p.conn.dataReceived(b"\x00\x01\x00\x00" + b"x" * 10)
        self.assertTrue(p.transport.disconnecting)
        p.conn.dataReceived(codec.encode(RemotingCommand(105)))
        self.assertEqual(p.transport.value(), b"")

    def test_bad_header_closes_after_good_frames(self) -> None:
        """Frames before a bad one are still served; the bad one closes the connection."""
        p = _Pair()
        p.dispatcher.register(105, lambda ctx, req: req.make_response(0))
        good = codec.encode(RemotingCommand(105, opaque=1))
        bad = b"\x00\x00\x00\x06\x00\x00\x00\x02{x"
        p.conn.dataReceived(good + bad)
        [resp] = _frames(p.transport)
        self.assertEqual(resp.opaque, 1)
        self.assertTrue(p.transport.disconnecting)

    def test_other_connections_unaffected(self) -> None:
        """A broken connection does not affect another on the same dispatcher."""
        d = Dispatcher()
        d.register(105, lambda ctx, req: req.make_response(0))
        a, b = _Pair(d), _Pair(d)
        a.conn.dataReceived(b"\x00\x00\x00\x06\x09\x00\x00\x02{}")
        self.assertTrue(a.transport.disconnecting)
        b.conn.dataReceived(codec.encode(RemotingCommand(105, opaque=3)))
        [resp] = _frames(b.transport)
        self.assertEqual(resp.opaque, 3)
        self.assertFalse(b.transport.disconnecting)
        self.flushLoggedErrors()


class IdleTests(SynchronousTestCase):
    def test_idle_connection_closed(self) -> None:
        """A connection with no traffic for the idle timeout is closed."""
        p = _Pair(idle=120)
        p.clock.advance(119)
        self.assertFalse(p.transport.disconnecting)
        p.clock.advance(2)
        self.assertTrue(p.transport.disconnecting)

    def test_traffic_keeps_connection(self) -> None:
        """Traffic within each idle period keeps the connection open."""
        p = _Pair(idle=120)
        p.dispatcher.register(34, lambda ctx, req: req.make_response(0))
        for _ in range(5):
            p.clock.advance(100)
            p.conn.dataReceived(codec.encode(RemotingCommand(34)))
        self.assertFalse(p.transport.disconnecting)
