"""A short-lived admin connection set: one RemotingClient whose close waits for every socket.

Command-line tools and tests open a few connections, make their calls and leave; ``close``
fires only once every connection is really gone, so a test reactor is left clean.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed

from rmq.remoting.client import RemotingClient
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.protocol import RemotingConnection


class Session:
    """Owns a ``RemotingClient`` (``self.remoting``) and tracks its live connections."""

    def __init__(self, reactor: Any, connect_timeout: float = 3.0) -> None:
        self.reactor = reactor
        self.dispatcher = Dispatcher()
        self._live: dict[RemotingConnection, Deferred[None]] = {}
        self.dispatcher.add_connect_listener(self._made)
        self.dispatcher.add_disconnect_listener(self._lost)
        self.remoting = RemotingClient(
            reactor, self.dispatcher, connect_timeout=connect_timeout, idle_timeout=None
        )

    def _made(self, conn: RemotingConnection) -> None:
        self._live[conn] = Deferred()

    def _lost(self, conn: RemotingConnection) -> None:
        d = self._live.pop(conn, None)
        if d is not None:
            d.callback(None)

    def close(self) -> Deferred[None]:
        """Close every connection; fires once all of them are lost."""
        waits = list(self._live.values())
        self.remoting.close()
        if not waits:
            return succeed(None)
        return DeferredList(waits).addCallback(lambda _: None)
