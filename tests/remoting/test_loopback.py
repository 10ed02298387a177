"""Remoting server and client over real loopback sockets."""

from __future__ import annotations

from twisted.internet import defer, endpoints, protocol, reactor
from twisted.internet.interfaces import IListeningPort
from twisted.trial.unittest import TestCase

from rmq.remoting.client import RemotingClient
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.protocol import RemotingConnection
from rmq.remoting.server import RemotingServerFactory


class _Raw(protocol.Protocol):
    def __init__(self) -> None:
        self.lost: defer.Deferred[None] = defer.Deferred()

    def connectionLost(self, reason: object = None) -> None:
        self.lost.callback(None)


class LoopbackTests(TestCase):
    async def _server(self) -> str:
        self.dispatcher = Dispatcher()
        self.dispatcher.register(105, self._echo)
        self.factory = RemotingServerFactory(self.dispatcher, reactor, max_frame=1024 * 1024)
        ep = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        port: IListeningPort = await ep.listen(self.factory)
        self.addCleanup(port.stopListening)
        self.client = RemotingClient(reactor)
        self.addCleanup(self.client.close)
        return f"127.0.0.1:{port.getHost().port}"  # type: ignore[attr-defined]

    @staticmethod
    def _echo(ctx: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        return req.make_response(0, None, dict(req.ext_fields), req.body)

    async def test_pipelined_calls(self) -> None:
        """Many calls in flight on one connection all get their own answers."""
        addr = await self._server()
        calls = [
            self.client.invoke(
                addr, RemotingCommand(105, ext_fields={"i": str(i)}, body=b"x" * i), 5
            )
            for i in range(200)
        ]
        results = await defer.gatherResults(calls)
        self.assertEqual([r.ext_fields["i"] for r in results], [str(i) for i in range(200)])
        self.assertEqual([len(r.body or b"") for r in results], list(range(200)))

    async def test_bad_client_does_not_disturb_others(self) -> None:
        """A client sending garbage is disconnected; another client keeps working."""
        addr = await self._server()
        port = int(addr.rsplit(":", 1)[1])
        raw = _Raw()
        await endpoints.connectProtocol(
            endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), raw
        )
        raw.transport.write(b"\x00\x00\x00\x06\x05\x00\x00\x02{}")  # serialize type 5
        await raw.lost
        resp = await self.client.invoke(addr, RemotingCommand(105, ext_fields={"a": "b"}), 5)
        self.assertEqual(resp.ext_fields, {"a": "b"})

    async def test_oversized_frame_closes_connection(self) -> None:
        """A frame above the server's maximum closes that connection only."""
        addr = await self._server()
        port = int(addr.rsplit(":", 1)[1])
        raw = _Raw()
        await endpoints.connectProtocol(
            endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), raw
        )
        raw.transport.write((2 * 1024 * 1024).to_bytes(4, "big") + b"\x00" * 64)
        await raw.lost
        resp = await self.client.invoke(addr, RemotingCommand(105), 5)
        self.assertEqual(resp.code, 0)
