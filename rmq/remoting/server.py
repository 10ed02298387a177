"""Server side: a factory of RemotingConnections sharing one dispatcher."""

from __future__ import annotations

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import ServerFactory

from rmq.remoting.codec import DEFAULT_MAX_FRAME
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.protocol import RemotingConnection


class RemotingServerFactory(ServerFactory):
    """Builds a ``RemotingConnection`` per accepted client, all using ``dispatcher``."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        reactor: IReactorTime,
        max_frame: int = DEFAULT_MAX_FRAME,
        idle_timeout: float | None = 120.0,
    ) -> None:
        self.dispatcher = dispatcher
        self.reactor = reactor
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout
        self.connections: set[RemotingConnection] = set()
        dispatcher.add_connect_listener(self.connections.add)
        dispatcher.add_disconnect_listener(self.connections.discard)

    def buildProtocol(self, addr: IAddress | None) -> RemotingConnection:
        proto = RemotingConnection(self.dispatcher, self.reactor, self.max_frame, self.idle_timeout)
        proto.factory = self
        return proto

    def close_all(self) -> None:
        """Close every live connection (at shutdown)."""
        for conn in list(self.connections):
            conn.close()
