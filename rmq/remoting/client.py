"""Client side: one reused connection per address, cancellable calls with timeouts."""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IDelayedCall, IReactorTCP
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rmq.common.errors import RemotingConnectError, RemotingTimeoutError
from rmq.remoting.codec import DEFAULT_MAX_FRAME
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.interfaces import IRemotingClient
from rmq.remoting.protocol import RemotingConnection

_log = Logger()

BACKOFF_INITIAL = 0.2
BACKOFF_MAX = 5.0


def split_address(addr: str) -> tuple[str, int]:
    """'host:port' (or '[v6]:port') -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad address {addr!r}: expected host:port")
    return host.strip("[]"), int(port)


class _ClientConnection(RemotingConnection):
    def __init__(self, client: RemotingClient, addr: str) -> None:
        super().__init__(client.dispatcher, client.reactor, client.max_frame, client.idle_timeout)
        self._client = client
        self._addr = addr

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        super().connectionLost(reason)
        self._client._lost(self._addr, self)


@implementer(IRemotingClient)
class RemotingClient:
    """Calls to remoting peers by address.

    One connection per address is made on first use and reused; callers waiting
    for it share the attempt. After a failed attempt the address backs off
    (0.2 s doubling to 5 s): calls in that window fail at once instead of piling
    up connection attempts. Requests the peer sends to us go to ``dispatcher``.
    """

    def __init__(
        self,
        reactor: Any,
        dispatcher: Dispatcher | None = None,
        connect_timeout: float = 3.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        idle_timeout: float | None = 120.0,
    ) -> None:
        self.reactor = reactor
        self.dispatcher = dispatcher
        self.connect_timeout = connect_timeout
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout
        self._conns: dict[str, RemotingConnection] = {}
        self._connecting: dict[str, list[Deferred[RemotingConnection]]] = {}
        self._attempts: dict[str, Deferred[Any]] = {}
        self._backoff: dict[str, tuple[float, float]] = {}
        self._closed = False

    # --- connections ----------------------------------------------------------

    def connection(self, addr: str) -> Deferred[RemotingConnection]:
        """The live connection to ``addr``, connecting if needed."""
        conn = self._conns.get(addr)
        if conn is not None and conn.connected:
            d: Deferred[RemotingConnection] = Deferred()
            d.callback(conn)
            return d
        if self._closed:
            return _fail(RemotingConnectError("client is closed"))
        until = self._backoff.get(addr)
        if until is not None and self.reactor.seconds() < until[0]:
            wait = until[0] - self.reactor.seconds()
            return _fail(RemotingConnectError(f"connect to {addr} failed; retry in {wait:.1f}s"))
        waiters = self._connecting.get(addr)

        def cancel(d: Deferred[RemotingConnection]) -> None:
            ws = self._connecting.get(addr)
            if ws and d in ws:
                ws.remove(d)

        waiter: Deferred[RemotingConnection] = Deferred(cancel)
        if waiters is not None:
            waiters.append(waiter)
            return waiter
        self._connecting[addr] = [waiter]
        try:
            host, port = split_address(addr)
        except ValueError as e:
            del self._connecting[addr]
            return _fail(RemotingConnectError(str(e)))
        attempt = connectProtocol(self._endpoint(host, port), _ClientConnection(self, addr))
        self._attempts[addr] = attempt
        attempt.addCallbacks(self._connected, self._connect_failed, (addr,), None, (addr,))
        return waiter

    def _endpoint(self, host: str, port: int) -> Any:
        reactor: IReactorTCP = self.reactor
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return HostnameEndpoint(reactor, host, port, timeout=self.connect_timeout)
        return TCP4ClientEndpoint(reactor, host, port, timeout=self.connect_timeout)

    def _connected(self, conn: RemotingConnection, addr: str) -> None:
        self._attempts.pop(addr, None)
        self._backoff.pop(addr, None)
        if self._closed:
            conn.close()
        else:
            self._conns[addr] = conn
        for w in self._connecting.pop(addr, []):
            if self._closed:
                w.errback(RemotingConnectError("client is closed"))
            else:
                w.callback(conn)

    def _connect_failed(self, failure: Failure, addr: str) -> None:
        self._attempts.pop(addr, None)
        prev = self._backoff.get(addr)
        delay = BACKOFF_INITIAL if prev is None else min(prev[1] * 2, BACKOFF_MAX)
        self._backoff[addr] = (self.reactor.seconds() + delay, delay)
        err = RemotingConnectError(f"connect to {addr} failed: {failure.getErrorMessage()}")
        for w in self._connecting.pop(addr, []):
            w.errback(err)

    def _lost(self, addr: str, conn: RemotingConnection) -> None:
        if self._conns.get(addr) is conn:
            del self._conns[addr]

    # --- calls ----------------------------------------------------------------

    def invoke(
        self, addr: str, command: RemotingCommand, timeout: float
    ) -> Deferred[RemotingCommand]:
        """Send ``command`` to ``addr``; fire with the response.

        The timeout covers connecting too. Cancelling the Deferred abandons the call.
        """
        conn = self._conns.get(addr)
        if conn is not None and conn.connected:
            return conn.invoke(command, timeout)
        start = self.reactor.seconds()
        state: dict[str, Any] = {}

        def cancel(_: Deferred[RemotingCommand]) -> None:
            inner = state.get("inner")
            if inner is not None:
                inner.cancel()

        result: Deferred[RemotingCommand] = Deferred(cancel)
        timer: IDelayedCall = self.reactor.callLater(timeout, self._call_timed_out, state, addr)

        def on_conn(c: RemotingConnection) -> None:
            remaining = max(timeout - (self.reactor.seconds() - start), 0.001)
            if timer.active():
                timer.cancel()
            inner = c.invoke(command, remaining)
            state["inner"] = inner
            inner.chainDeferred(result)

        def on_fail(f: Failure) -> None:
            if timer.active():
                timer.cancel()
            if state.get("timed_out"):
                result.errback(
                    RemotingTimeoutError(f"connect to {addr} timed out after {timeout:g}s")
                )
            elif f.check(CancelledError) and result.called:
                return
            else:
                result.errback(f)

        cd = self.connection(addr)
        state["inner"] = cd
        cd.addCallbacks(on_conn, on_fail)
        return result

    @staticmethod
    def _call_timed_out(state: dict[str, Any], addr: str) -> None:
        state["timed_out"] = True
        inner = state.get("inner")
        if inner is not None:
            inner.cancel()

    def invoke_oneway(self, addr: str, command: RemotingCommand) -> Deferred[None]:
        """Send ``command`` oneway; fires when written, fails if no connection."""
        return self.connection(addr).addCallback(lambda c: c.invoke_oneway(command))

    def close(self) -> Deferred[None]:
        """Close every connection and refuse new calls."""
        self._closed = True
        for attempt in list(self._attempts.values()):
            attempt.cancel()
        for conn in list(self._conns.values()):
            conn.close()
        self._conns.clear()
        d: Deferred[None] = Deferred()
        d.callback(None)
        return d

    def is_connected(self, addr: str) -> bool:
        conn = self._conns.get(addr)
        return conn is not None and bool(conn.connected)


def _fail(exc: Exception) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(exc)
    return d
