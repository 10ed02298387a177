"""LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42): broker-side queue locks for orderly consumers.

Bodies per REFERENCE §4.4: the request is ``{"clientId","consumerGroup","mqSet":[MessageQueue]}``
and the lock answer is ``{"lockOKMQSet":[MessageQueue]}`` (the shape the C++ client accepted in
``broker-lock_batch_mq-response-accepted-by-cpp.bin``); unlock answers SUCCESS with no body.

Wiring: ``register(dispatcher, broker)`` needs ``broker.locks`` (a
``rmq.broker.locks.RebalanceLockManager`` the controller creates) and ``broker.clock``
(anything with ``seconds()``).
"""

from __future__ import annotations

from typing import Any

from rmq.broker.locks import MessageQueue, RebalanceLockManager
from rmq.common import fastjson
from rmq.common.errors import BodyError
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

__all__ = ["LockBatchBody", "OrderlyProcessor", "register"]


class LockBatchBody:
    """LockBatchRequestBody / UnlockBatchRequestBody: who asks, for which group and queues."""

    __slots__ = ("client_id", "consumer_group", "mqs")

    def __init__(self, client_id: str, consumer_group: str, mqs: list[MessageQueue]) -> None:
        self.client_id = client_id
        self.consumer_group = consumer_group
        self.mqs = mqs

    @classmethod
    def decode(cls, body: bytes | None) -> LockBatchBody:
        """Parse a request body; raises BodyError (SYSTEM_ERROR) naming what is wrong."""
        obj = fastjson.load_object(body, "lock/unlock request")
        client_id, group = obj.get("clientId"), obj.get("consumerGroup")
        if not isinstance(client_id, str) or not client_id:
            raise BodyError("lock/unlock body has no clientId")
        if not isinstance(group, str) or not group:
            raise BodyError("lock/unlock body has no consumerGroup")
        raw = obj.get("mqSet") or []
        if not isinstance(raw, list):
            raise BodyError("lock/unlock body mqSet must be a list")
        return cls(client_id, group, [MessageQueue.from_json(m) for m in raw])

    def encode(self) -> bytes:
        """The body as a client sends it (fastjson field order)."""
        return fastjson.dumpb(
            {
                "clientId": self.client_id,
                "consumerGroup": self.consumer_group,
                "mqSet": [mq.to_json() for mq in self.mqs],
            }
        )


def encode_lock_response(mqs: set[MessageQueue]) -> bytes:
    """``{"lockOKMQSet":[...]}`` with the queues in a stable order."""
    return fastjson.dumpb({"lockOKMQSet": [mq.to_json() for mq in sorted(mqs)]})


class OrderlyProcessor:
    """Handlers for the two lock codes over one broker's lock table."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    @property
    def locks(self) -> RebalanceLockManager:
        locks: RebalanceLockManager = self.broker.locks
        return locks

    def lock_batch(self, conn: Any, request: RemotingCommand) -> RemotingCommand:
        """LOCK_BATCH_MQ: answer the queues now locked by the asking client."""
        body = LockBatchBody.decode(request.body)
        granted = self.locks.try_lock_batch(
            body.consumer_group, body.mqs, body.client_id, self.broker.clock.seconds()
        )
        return request.make_response(body=encode_lock_response(granted))

    def unlock_batch(self, conn: Any, request: RemotingCommand) -> RemotingCommand:
        """UNLOCK_BATCH_MQ: release the client's locks; always SUCCESS."""
        body = LockBatchBody.decode(request.body)
        self.locks.unlock_batch(body.consumer_group, body.mqs, body.client_id)
        return request.make_response()


def register(dispatcher: Dispatcher, broker: Any) -> None:
    """Register LOCK_BATCH_MQ and UNLOCK_BATCH_MQ on ``dispatcher``."""
    processor = OrderlyProcessor(broker)
    dispatcher.register(RequestCode.LOCK_BATCH_MQ, processor.lock_batch)
    dispatcher.register(RequestCode.UNLOCK_BATCH_MQ, processor.unlock_batch)
