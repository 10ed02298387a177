"""RemotingConnection: framing, pending requests by opaque, and request dispatch."""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rmq.common.errors import FrameError, RemotingConnectError, RemotingTimeoutError
from rmq.remoting.codec import DEFAULT_MAX_FRAME, FrameDecoder, encode
from rmq.remoting.codes import RPC_ONEWAY, RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.interfaces import IRemotingConnection

_log = Logger()


def _address(addr: Any) -> str:
    host = getattr(addr, "host", None)
    port = getattr(addr, "port", None)
    return f"{host}:{port}" if host is not None else str(addr)


@implementer(IRemotingConnection)
class RemotingConnection(Protocol):
    """One remoting connection, used the same way by servers and clients.

    Incoming responses complete the pending request with the same opaque; incoming
    requests go to the dispatcher. When the connection is lost every pending
    request fails at once with ``RemotingConnectError``. A connection idle for
    ``idle_timeout`` seconds (nothing read or written) is closed. The connection is
    also the request context handed to handlers (``ctx.peer``, ``ctx.connection``).
    """

    def __init__(
        self,
        dispatcher: Dispatcher | None,
        reactor: IReactorTime,
        max_frame: int = DEFAULT_MAX_FRAME,
        idle_timeout: float | None = 120.0,
    ) -> None:
        self.dispatcher = dispatcher
        self.reactor = reactor
        self.decoder = FrameDecoder(max_frame)
        self.idle_timeout = idle_timeout
        self.connected = False
        self.peer = "?"
        self.local_address = "?"
        self.attributes: dict[str, Any] = {}
        self._pending: dict[int, tuple[Deferred[RemotingCommand], IDelayedCall]] = {}
        self._opaques = itertools.count()
        self._idle_call: IDelayedCall | None = None
        self._active = False
        self._broken = False
        self._batch: list[bytes] | None = None

    @property
    def connection(self) -> RemotingConnection:
        return self

    # --- Protocol -----------------------------------------------------------

    def connectionMade(self) -> None:
        self.connected = True
        self.peer = _address(self.transport.getPeer())  # type: ignore[union-attr]
        self.local_address = _address(self.transport.getHost())  # type: ignore[union-attr]
        if self.idle_timeout:
            self._idle_call = self.reactor.callLater(self.idle_timeout, self._idle_check)
        if self.dispatcher is not None:
            self.dispatcher.connection_made(self)

    def dataReceived(self, data: bytes) -> None:
        if self._broken:
            return
        self._active = True
        commands = self.decoder.feed(data)
        # Writes made while handling one read go out as one write.
        batch: list[bytes] = []
        self._batch = batch
        try:
            self._handle(commands)
        finally:
            self._batch = None
            if batch and self.connected:
                self.transport.write(b"".join(batch))  # type: ignore[union-attr]
        if self.decoder.error is not None:
            self._frame_error(self.decoder.error)

    def _handle(self, commands: list[RemotingCommand]) -> None:
        for cmd in commands:
            if cmd.flag & 1:
                entry = self._pending.pop(cmd.opaque, None)
                if entry is None:
                    _log.debug("dropping unmatched response opaque={o}", o=cmd.opaque)
                    continue
                d, timer = entry
                if timer.active():
                    timer.cancel()
                d.callback(cmd)
            elif self.dispatcher is not None:
                self.dispatcher.dispatch(self, cmd)
            elif not cmd.flag & RPC_ONEWAY:
                self.send_response(cmd.make_response(3, f" request type {cmd.code} not supported"))

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self.connected = False
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        self._idle_call = None
        pending, self._pending = self._pending, {}
        for d, timer in pending.values():
            if timer.active():
                timer.cancel()
            d.errback(RemotingConnectError(f"connection to {self.peer} lost"))
        if self.dispatcher is not None:
            self.dispatcher.connection_lost(self)

    # --- sending ------------------------------------------------------------

    def _write(self, cmd: RemotingCommand) -> None:
        self._active = True
        if self._batch is not None:
            self._batch.append(encode(cmd))
        else:
            self.transport.write(encode(cmd))  # type: ignore[union-attr]

    def send_response(self, command: RemotingCommand) -> None:
        if self.connected:
            self._write(command)

    def invoke(self, command: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
        if not self.connected:
            return _failed(RemotingConnectError(f"connection to {self.peer} is closed"))
        opaque = next(self._opaques)
        command.opaque = opaque
        command.flag &= ~RPC_ONEWAY

        def cancel(d: Deferred[RemotingCommand]) -> None:
            entry = self._pending.pop(opaque, None)
            if entry is not None and entry[1].active():
                entry[1].cancel()

        d: Deferred[RemotingCommand] = Deferred(cancel)
        timer = self.reactor.callLater(timeout, self._timed_out, opaque, command.code, timeout)
        self._pending[opaque] = (d, timer)
        self._write(command)
        return d

    def invoke_oneway(self, command: RemotingCommand) -> Deferred[None]:
        if not self.connected:
            return _failed(RemotingConnectError(f"connection to {self.peer} is closed"))
        command.opaque = next(self._opaques)
        command.flag |= RPC_ONEWAY
        self._write(command)
        return succeed(None)

    def close(self) -> None:
        if self.transport is not None and self.connected:
            self.transport.loseConnection()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # --- internals ----------------------------------------------------------

    def _timed_out(self, opaque: int, code: int, timeout: float) -> None:
        entry = self._pending.pop(opaque, None)
        if entry is not None:
            try:
                name = RequestCode(code).name
            except ValueError:
                name = str(code)
            entry[0].errback(
                RemotingTimeoutError(f"{name} to {self.peer} timed out after {timeout:g}s")
            )

    def _idle_check(self) -> None:
        self._idle_call = None
        if not self.connected or not self.idle_timeout:
            return
        if self._active or self._pending:
            self._active = False
            self._idle_call = self.reactor.callLater(self.idle_timeout, self._idle_check)
            return
        _log.info("closing connection to {peer}: idle {t}s", peer=self.peer, t=self.idle_timeout)
        self.close()

    def _frame_error(self, error: FrameError) -> None:
        self._broken = True
        _log.warn("closing connection to {peer}: {reason}", peer=self.peer, reason=error.remark)
        if self.transport is not None:
            self.transport.loseConnection()


def _failed(exc: Exception) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(exc)
    return d
