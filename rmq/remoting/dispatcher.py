"""Request dispatch: request code -> handler, shared by name server, broker and client."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.common.errors import RMQError
from rmq.remoting.codes import RPC_ONEWAY, RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand

if TYPE_CHECKING:
    from rmq.remoting.protocol import RemotingConnection

HandlerResult: TypeAlias = "RemotingCommand | Deferred[RemotingCommand | None] | None"
Handler: TypeAlias = "Callable[[RemotingConnection, RemotingCommand], HandlerResult]"
DisconnectListener: TypeAlias = "Callable[[RemotingConnection], None]"

_log = Logger()


def _code_name(code: int) -> str:
    try:
        return RequestCode(code).name
    except ValueError:
        return str(code)


class Dispatcher:
    """Maps request codes to handlers and turns their results into responses.

    A handler gets the connection the request came on (it doubles as the request
    context: ``ctx.peer``, ``ctx.connection`` for calls back to that peer) and the
    request. It returns a response, ``None`` (nothing to send) or a Deferred of
    either. An ``RMQError`` becomes a response with its code and remark; any other
    exception becomes SYSTEM_ERROR and is logged. Oneway requests get no answer.
    """

    def __init__(self) -> None:
        self._handlers: dict[int, Handler] = {}
        self._default: Handler | None = None
        self._disconnect: list[DisconnectListener] = []
        self._connect: list[DisconnectListener] = []

    def register(self, code: int, handler: Handler) -> None:
        self._handlers[int(code)] = handler

    def register_default(self, handler: Handler) -> None:
        """Handler for codes with no registered handler (the broker's admin default)."""
        self._default = handler

    def handler_for(self, code: int) -> Handler | None:
        return self._handlers.get(code, self._default)

    def add_disconnect_listener(self, listener: DisconnectListener) -> None:
        self._disconnect.append(listener)

    def add_connect_listener(self, listener: DisconnectListener) -> None:
        self._connect.append(listener)

    def connection_made(self, conn: RemotingConnection) -> None:
        for listener in self._connect:
            try:
                listener(conn)
            except Exception:
                _log.failure("connect listener failed")

    def connection_lost(self, conn: RemotingConnection) -> None:
        for listener in self._disconnect:
            try:
                listener(conn)
            except Exception:
                _log.failure("disconnect listener failed")

    def dispatch(self, conn: RemotingConnection, request: RemotingCommand) -> None:
        """Run the handler for ``request`` and send what it answers."""
        handler = self._handlers.get(request.code, self._default)
        oneway = request.flag & RPC_ONEWAY
        if handler is None:
            if not oneway:
                conn.send_response(
                    request.make_response(
                        ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                        f" request type {request.code} not supported",
                    )
                )
            return
        try:
            result = handler(conn, request)
        except Exception as e:
            self._answer_error(conn, request, e)
            return
        if isinstance(result, Deferred):
            result.addCallbacks(
                self._answer,
                self._answer_failure,
                callbackArgs=(conn, request),
                errbackArgs=(conn, request),
            )
        elif result is not None and not oneway:
            conn.send_response(result)

    @staticmethod
    def _answer(
        result: RemotingCommand | None, conn: RemotingConnection, request: RemotingCommand
    ) -> None:
        if result is not None and not request.is_oneway:
            conn.send_response(result)

    def _answer_failure(
        self, failure: Failure, conn: RemotingConnection, request: RemotingCommand
    ) -> None:
        exc = failure.value
        if isinstance(exc, Exception):
            self._answer_error(conn, request, exc, failure)

    @staticmethod
    def _answer_error(
        conn: RemotingConnection,
        request: RemotingCommand,
        exc: Exception,
        failure: Failure | None = None,
    ) -> None:
        if isinstance(exc, RMQError):
            code, remark = exc.code, exc.remark
        else:
            _log.failure(
                "request {code} from {peer} failed",
                failure or Failure(exc),
                code=_code_name(request.code),
                peer=conn.peer,
            )
            code, remark = int(ResponseCode.SYSTEM_ERROR), f"{type(exc).__name__}: {exc}"
        if not request.is_oneway:
            conn.send_response(request.make_response(code, remark))
