"""END_TRANSACTION (37): the producer's commit / rollback / unknown for a half message.

Java producers send it oneway (then the dispatcher writes no answer); answers to non-oneway
requests carry SUCCESS or code 1 with RocketMQ's remark. State 0 (unknown) does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from rmq.headers import EndTransactionRequestHeader
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["EndTransactionRequestHeader", "register"]


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve END_TRANSACTION (37) through ``broker.transactions``."""

    def handle(ctx: RemotingConnection, request: RemotingCommand) -> Any:
        if broker.config.broker_id != 0:
            return request.make_response(
                ResponseCode.SLAVE_NOT_AVAILABLE, "Can not process transaction message in slave"
            )
        h = EndTransactionRequestHeader.from_ext(request.ext_fields)
        transactions: Any = getattr(broker, "transactions", None)
        if transactions is None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, "transactions are disabled")
        d = transactions.end(
            h.producerGroup, h.tranStateTableOffset, h.commitLogOffset, h.commitOrRollback
        )
        if d is None:
            return None
        done: Deferred[Any] = d
        return done.addCallback(lambda _: request.make_response(ResponseCode.SUCCESS))

    dispatcher.register(RequestCode.END_TRANSACTION, handle)
