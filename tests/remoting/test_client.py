"""RemotingClient on a MemoryReactorClock: connection reuse, timeouts, back-off."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from rmq.common.errors import RemotingConnectError, RemotingTimeoutError
from rmq.remoting import codec
from rmq.remoting.client import RemotingClient, split_address
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.interfaces import IRemotingClient, IRemotingConnection
from rmq.remoting.protocol import RemotingConnection


class _Harness:
    def __init__(self, dispatcher: Dispatcher | None = None) -> None:
        self.reactor = MemoryReactorClock()
        self.client = RemotingClient(self.reactor, dispatcher, connect_timeout=3.0)
        self.wrappers: list[object] = []

    def accept(self, index: int = -1) -> tuple[RemotingConnection, StringTransport]:
        """Complete the pending connection attempt number ``index``."""
        host, port, factory, _timeout, _bind = self.reactor.tcpClients[index]
        wrapper = factory.buildProtocol(IPv4Address("TCP", host, port))
        transport = StringTransport(peerAddress=IPv4Address("TCP", host, port))
        wrapper.makeConnection(transport)
        proto = wrapper._wrappedProtocol  # the endpoint wraps our protocol
        self.wrappers.append(wrapper)
        return proto, transport

    def refuse(self, index: int = -1) -> None:
        connector = self.reactor.connectors[index]
        _h, _p, factory, _t, _b = self.reactor.tcpClients[index]
        factory.clientConnectionFailed(connector, ConnectionRefusedError())


def _answer(conn: RemotingConnection, transport: StringTransport, remark: str) -> None:
    for req in codec.FrameDecoder().feed(transport.value()):
        conn.dataReceived(codec.encode(req.make_response(0, remark)))
    transport.clear()


class ClientTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        """The client and its connections provide their interfaces."""
        h = _Harness()
        verifyObject(IRemotingClient, h.client)
        d = h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 3)
        conn, _ = h.accept()
        verifyObject(IRemotingConnection, conn)
        d.cancel()
        self.failureResultOf(d)

    def test_invoke_and_reuse(self) -> None:
        """Calls to one address share one connection."""
        h = _Harness()
        d1 = h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 3)
        d2 = h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 3)
        self.assertEqual(len(h.reactor.tcpClients), 1)
        conn, transport = h.accept()
        _answer(conn, transport, "ok")
        self.assertEqual(self.successResultOf(d1).remark, "ok")
        self.assertEqual(self.successResultOf(d2).remark, "ok")
        d3 = h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 3)
        self.assertEqual(len(h.reactor.tcpClients), 1)
        _answer(conn, transport, "again")
        self.assertEqual(self.successResultOf(d3).remark, "again")

    def test_timeout_covers_connect(self) -> None:
        """A call whose connection never completes times out on the clock."""
        h = _Harness()
        d = h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 2)
        h.reactor.advance(2.1)
        self.failureResultOf(d, RemotingTimeoutError)

    def test_timeout_after_connect(self) -> None:
        """A call that connected but got no answer times out within its budget."""
        h = _Harness()
        d = h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 2)
        h.reactor.advance(0.5)
        h.accept()
        h.reactor.advance(1.4)
        self.assertNoResult(d)
        h.reactor.advance(0.2)
        self.failureResultOf(d, RemotingTimeoutError)

    def test_refused_then_backoff(self) -> None:
        """A refused connection fails the call; calls during back-off fail at once."""
        h = _Harness()
        d = h.client.invoke("127.0.0.1:1", RemotingCommand(105), 3)
        h.refuse()
        self.failureResultOf(d, RemotingConnectError)
        d2 = h.client.invoke("127.0.0.1:1", RemotingCommand(105), 3)
        self.failureResultOf(d2, RemotingConnectError)
        self.assertEqual(len(h.reactor.tcpClients), 1)
        h.reactor.advance(0.3)
        h.client.invoke("127.0.0.1:1", RemotingCommand(105), 3).addErrback(lambda f: None)
        self.assertEqual(len(h.reactor.tcpClients), 2)

    def test_reconnect_after_loss(self) -> None:
        """After the connection is lost, pending calls fail and the next call reconnects."""
        h = _Harness()
        d = h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 3)
        conn, _ = h.accept()
        conn.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(d, RemotingConnectError)
        h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 3).addErrback(lambda f: None)
        self.assertEqual(len(h.reactor.tcpClients), 2)

    def test_server_requests_reach_client_dispatcher(self) -> None:
        """Requests the broker sends on the client's connection reach client processors."""
        disp = Dispatcher()
        seen: list[str] = []

        def on_notify(ctx: RemotingConnection, req: RemotingCommand) -> None:
            seen.append(req.ext_fields["consumerGroup"])

        disp.register(40, on_notify)
        h = _Harness(disp)
        h.client.invoke("127.0.0.1:9876", RemotingCommand(34), 3).addErrback(lambda f: None)
        conn, _ = h.accept()
        conn.dataReceived(
            codec.encode(RemotingCommand(40, flag=2, ext_fields={"consumerGroup": "G"}))
        )
        self.assertEqual(seen, ["G"])

    def test_oneway(self) -> None:
        """invoke_oneway connects, writes with the oneway bit, and fires."""
        h = _Harness()
        d = h.client.invoke_oneway("127.0.0.1:9876", RemotingCommand(15))
        _, transport = h.accept()
        self.assertIsNone(self.successResultOf(d))
        [cmd] = codec.FrameDecoder().feed(transport.value())
        self.assertTrue(cmd.is_oneway)

    def test_close_refuses_new_calls(self) -> None:
        """After close, calls fail with a connection error."""
        h = _Harness()
        self.successResultOf(h.client.close())
        self.failureResultOf(h.client.invoke("127.0.0.1:9876", RemotingCommand(105), 3))

    def test_split_address(self) -> None:
        """Addresses parse as host:port, including bracketed IPv6."""
        self.assertEqual(split_address("127.0.0.1:9876"), ("127.0.0.1", 9876))
        self.assertEqual(split_address("[::1]:10911"), ("::1", 10911))
        self.assertRaises(ValueError, split_address, "nohost")
