"""zope.interface seams of the remoting layer."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from rmq.remoting.command import RemotingCommand


class IRemotingConnection(Interface):
    """One live connection to a remoting peer; both sides may send requests on it."""

    peer = Attribute("'ip:port' of the remote side")
    local_address = Attribute("'ip:port' of this side")
    connected = Attribute("True until the connection is lost")

    def invoke(command: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
        """Send a request and fire with its response, or fail on timeout or loss."""

    def invoke_oneway(command: RemotingCommand) -> Deferred[None]:
        """Send a request with the oneway bit; fire once it is written."""

    def send_response(command: RemotingCommand) -> None:
        """Write a response (no-op when the connection is gone)."""

    def close() -> None:
        """Close the connection; every pending request fails at once."""


class IRemotingClient(Interface):
    """Requests to peers named by address, over one reused connection per address."""

    def invoke(addr: str, command: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
        """Send ``command`` to ``addr`` ('host:port') and fire with the response."""

    def invoke_oneway(addr: str, command: RemotingCommand) -> Deferred[None]:
        """Send ``command`` to ``addr`` with the oneway bit."""

    def close() -> Deferred[None]:
        """Close every connection."""
