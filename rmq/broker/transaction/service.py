"""``broker.transactions``: park half messages on send, commit or roll them back on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.defer import Deferred

from rmq.broker.requeue import PutOutcome, put
from rmq.broker.topics import PERM_READ, PERM_WRITE, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC
from rmq.broker.transaction.check import TransactionCheckService
from rmq.broker.transaction.half import commit_message, op_message, park, producer_group
from rmq.common.errors import NoPermission, RMQError
from rmq.common.message import (
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    MessageExt,
    decode_message_ext,
)

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController

__all__ = ["TransactionService"]

M = TypeVar("M")


class TransactionService:
    """Half-message life cycle for one broker; owns the check-back service."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        config = broker.config
        self.checker = TransactionCheckService(
            broker,
            interval=config.transaction_check_interval / 1000.0,
            timeout_ms=config.transaction_time_out,
            check_max=config.transaction_check_max,
        )

    def start(self) -> None:
        self.checker.start()

    def stop(self) -> None:
        self.checker.stop()

    def ensure_topics(self) -> None:
        """Create the half and op topics (1 queue, RW) on first use."""
        rw = PERM_READ | PERM_WRITE
        for topic in (TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC):
            if self.broker.topics.get(topic) is None:
                self.broker.topics.create_in_send_back(topic, 1, rw, 0)

    def prepare(self, msg: M) -> M:
        """The half copy of a TRAN_MSG send; NoPermission when the broker refuses them."""
        if self.broker.config.reject_transaction_message:
            raise NoPermission(
                f"the broker[{self.broker.config.broker_ip1}] sending transaction message is "
                "forbidden"
            )
        self.ensure_topics()
        return park(msg)

    def find_half(self, commit_log_offset: int) -> MessageExt:
        """The half message at a commit-log offset, or RMQError."""
        raw = self.broker.store.look_message_by_offset(commit_log_offset)
        if raw is None:
            raise RMQError("Find prepared transaction message failed")
        msg, _ = decode_message_ext(raw)
        if msg.topic != TRANS_HALF_TOPIC:
            raise RMQError("Find prepared transaction message failed")
        return msg

    def end(
        self,
        group: str,
        tran_state_table_offset: int,
        commit_log_offset: int,
        commit_or_rollback: int,
    ) -> Deferred[None] | None:
        """Commit or roll back a half message; None when the state is unknown (no action)."""
        if commit_or_rollback not in (TRANSACTION_COMMIT_TYPE, TRANSACTION_ROLLBACK_TYPE):
            return None
        half = self.find_half(commit_log_offset)
        if producer_group(half) != group:
            raise RMQError("The producer group wrong")
        if half.queue_offset != tran_state_table_offset:
            raise RMQError("The transaction state table offset wrong")
        if half.commit_log_offset != commit_log_offset:
            raise RMQError("The commit log offset wrong")
        if commit_or_rollback == TRANSACTION_ROLLBACK_TYPE:
            return self.delete(half)
        d: Deferred[PutOutcome] = put(self.broker.store, commit_message(half))

        def committed(outcome: PutOutcome) -> Deferred[None]:
            if not outcome.ok:
                raise RMQError(f"commit of transaction message failed: {outcome.status}")
            return self.delete(half)

        return d.addCallback(committed)

    def delete(self, half: MessageExt) -> Deferred[None]:
        """Append the op message that marks ``half`` done."""
        self.ensure_topics()
        op = op_message(half.queue_id, half.queue_offset, self.broker.store_host)

        def written(outcome: PutOutcome) -> None:
            if not outcome.ok:
                raise RMQError(f"delete prepared transaction message failed: {outcome.status}")

        return put(self.broker.store, op).addCallback(written)

    def pending_count(self) -> Any:
        """Half messages not yet resolved by the last check pass (for tests and admin)."""
        return self.checker.last_pending
