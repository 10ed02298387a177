"""TransactionProducer: half message, local transaction, END_TRANSACTION, and broker checks.

The local-transaction callback and the check callback may return a state or a Deferred of one.
END_TRANSACTION is sent oneway to the master that stored the half message, as Java does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from rmq import headers as h
from rmq.client.config import ClientConfig
from rmq.client.instance import MQClientInstance
from rmq.client.model import LocalTransactionState, Message, SendResult, SendStatus
from rmq.client.producer import Producer, ProducerConfig
from rmq.common import message as m
from rmq.common.errors import MQClientError
from rmq.common.message import MessageExt

_log = Logger()


class TransactionListener(Protocol):
    """The listener argument's static type: the methods of ``interfaces.ITransactionListener``.

    Structural, so plain user classes type-check without declaring the zope interface; classes
    may still declare ``@implementer(ITransactionListener)`` to have ``verifyObject`` check them.
    """

    def execute_local_transaction(
        self, msg: Message, arg: Any
    ) -> LocalTransactionState | Deferred[LocalTransactionState]: ...

    def check_local_transaction(
        self, msg: MessageExt
    ) -> LocalTransactionState | Deferred[LocalTransactionState]: ...


@attrs.frozen
class TransactionSendResult:
    """The half message's SendResult and the state sent in END_TRANSACTION."""

    send_result: SendResult
    state: LocalTransactionState


class TransactionProducer(Producer):
    """A producer whose messages commit or roll back with a local transaction."""

    def __init__(
        self,
        reactor: Any,
        config: ProducerConfig,
        client: ClientConfig | MQClientInstance,
        listener: TransactionListener,
    ) -> None:
        super().__init__(reactor, config, client)
        self.listener = listener

    def send_in_transaction(self, msg: Message, arg: Any = None) -> Deferred[TransactionSendResult]:
        """Send a half message, run the local transaction, then commit or roll back."""
        try:
            self._check(msg)
        except MQClientError as e:
            d: Deferred[TransactionSendResult] = Deferred()
            d.errback(e)
            return d
        return Deferred.fromCoroutine(self._send_in_transaction(msg, arg))

    async def _send_in_transaction(self, msg: Message, arg: Any) -> TransactionSendResult:
        half = attrs.evolve(msg, delay_level=0)
        extra = {m.TRAN_MSG: "true", m.PGROUP: self.group}
        result = await self._sem.run(
            lambda: Deferred.fromCoroutine(self._send(half, None, None, None, None, extra))
        )
        state = LocalTransactionState.ROLLBACK_MESSAGE
        error: str | None = None
        if result.status is SendStatus.SEND_OK:
            half.properties.setdefault(m.TRANSACTION_ID, result.msg_id)
            try:
                state = await _call(self.listener.execute_local_transaction, half, arg)
            except Exception as e:
                _log.failure("local transaction of {id} raised", id=result.msg_id)
                state, error = LocalTransactionState.UNKNOW, f"{type(e).__name__}: {e}"
        self._end(result, state, error)
        return TransactionSendResult(result, state)

    def _end(self, result: SendResult, state: LocalTransactionState, remark: str | None) -> None:
        addr = self.instance.master_addr(result.message_queue.broker_name)
        _, _, commit_log_offset = m.decode_offset_msg_id(result.offset_msg_id)
        if addr is None:
            _log.warn("no master for {b}; END_TRANSACTION not sent", b=result.message_queue)
            return
        header = h.EndTransactionRequestHeader(
            producerGroup=self.group,
            tranStateTableOffset=result.queue_offset,
            commitLogOffset=commit_log_offset,
            commitOrRollback=state.value,
            msgId=result.msg_id,
            fromTransactionCheck=False,
            transactionId=result.transaction_id or result.msg_id,
            bname=result.message_queue.broker_name,
        )
        self.instance.api.end_transaction(addr, header, remark).addErrback(
            lambda f: _log.warn("END_TRANSACTION: {e}", e=f.getErrorMessage())
        )

    def check_transaction_state(
        self, broker_addr: str, msg: MessageExt, header: h.CheckTransactionStateRequestHeader
    ) -> None:
        """Ask the listener and answer the broker with END_TRANSACTION (fromTransactionCheck)."""
        d = _call(self.listener.check_local_transaction, msg)

        def answer(state: LocalTransactionState, remark: str | None = None) -> None:
            uniq = msg.properties_dict.get(m.UNIQ_KEY) or header.msgId or msg.offset_msg_id
            end = h.EndTransactionRequestHeader(
                producerGroup=self.group,
                tranStateTableOffset=header.tranStateTableOffset,
                commitLogOffset=header.commitLogOffset,
                commitOrRollback=state.value,
                msgId=uniq,
                fromTransactionCheck=True,
                transactionId=header.transactionId,
            )
            self.instance.api.end_transaction(broker_addr, end, remark).addErrback(
                lambda f: _log.warn("END_TRANSACTION (check): {e}", e=f.getErrorMessage())
            )

        def failed(f: Any) -> None:
            answer(LocalTransactionState.UNKNOW, f.getErrorMessage())

        d.addCallbacks(answer, failed)


def _call(fn: Callable[..., Any], *args: Any) -> Deferred[LocalTransactionState]:
    """Run a listener callback that may return a state or a Deferred of one."""
    d: Deferred[LocalTransactionState] = maybeDeferred(fn, *args)
    return d
