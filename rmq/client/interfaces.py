"""zope.interface seams of the client: what instances, consumers and producers need of each other.

``MQClientInstance`` drives the producers (:class:`IProducerInner`) and consumers
(:class:`IConsumerInner`) registered with it; consumers keep offsets in an :class:`IOffsetStore`;
a transactional producer asks an :class:`ITransactionListener`. Real classes declare them with
``@implementer`` and tests check them with ``verifyObject``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from rmq.client.model import LocalTransactionState, Message, MessageQueue
from rmq.common.message import MessageExt
from rmq.common.route import TopicRouteData
from rmq.headers import CheckTransactionStateRequestHeader

if TYPE_CHECKING:
    from rmq.client.offset_store import ReadOffsetType


class IProducerInner(Interface):
    """A producer group living in a client instance."""

    group = Attribute("the producer group name (str)")

    def published_topics() -> list[str]:
        """Topics whose routes the instance should keep fresh."""

    def update_route(topic: str, route: TopicRouteData) -> None:
        """A fresh route for one of :meth:`published_topics`."""

    def check_transaction_state(
        broker_addr: str, msg: MessageExt, header: CheckTransactionStateRequestHeader
    ) -> None:
        """Answer a broker's CHECK_TRANSACTION_STATE (transactional producers only)."""


class IConsumerInner(Interface):
    """A consumer group living in a client instance."""

    group = Attribute("the consumer group name (str)")

    def consumer_data() -> dict[str, Any]:
        """This group's ConsumerData for heartbeats."""

    def subscribed_topics() -> list[str]:
        """Topics (the retry topic included) whose routes the instance should keep fresh."""

    def update_route(topic: str, route: TopicRouteData) -> None:
        """A fresh route for one of :meth:`subscribed_topics`."""

    def do_rebalance() -> Deferred[None]:
        """Recompute queue ownership now."""

    def persist_offsets() -> Deferred[None]:
        """Push consumed offsets to their store."""

    def reset_offset(topic: str, offsets: dict[MessageQueue, int]) -> None:
        """Broker-ordered offset reset (RESET_CONSUMER_CLIENT_OFFSET)."""

    def offsets_of(topic: str) -> dict[MessageQueue, int]:
        """Current consumed offsets of a topic's owned queues."""

    def running_info() -> dict[Any, Any]:
        """ConsumerRunningInfo as a JSON-ready object."""

    def consume_directly(msg: MessageExt, broker_name: str | None) -> Deferred[dict[str, Any]]:
        """Run the listener on one message (CONSUME_MESSAGE_DIRECTLY)."""


class IOffsetStore(Interface):
    """A consumer group's offsets: an in-memory table plus where it is persisted."""

    def load() -> Deferred[None]:
        """Fill the table from the persisted copy (if the store keeps one locally)."""

    def update(mq: MessageQueue, offset: int, increase_only: bool = False) -> None:
        """Set an offset (``increase_only``: never move it backwards)."""

    def read(mq: MessageQueue, how: ReadOffsetType) -> Deferred[int]:
        """An offset from memory and/or the persisted copy; -1 when unknown."""

    def persist(mqs: Iterable[MessageQueue]) -> Deferred[None]:
        """Write out the offsets of ``mqs``."""

    def remove(mq: MessageQueue) -> None:
        """Forget one queue (it moved to another consumer)."""

    def get(mq: MessageQueue) -> int | None:
        """The in-memory offset of one queue, or None."""

    def table() -> dict[MessageQueue, int]:
        """A copy of the in-memory table."""


class ITransactionListener(Interface):
    """The application's side of a transaction; either method may return a Deferred."""

    def execute_local_transaction(
        msg: Message, arg: Any
    ) -> LocalTransactionState | Deferred[LocalTransactionState]:
        """Run the local transaction after the half message is stored."""

    def check_local_transaction(
        msg: MessageExt,
    ) -> LocalTransactionState | Deferred[LocalTransactionState]:
        """Answer the broker: what became of this half message's transaction?"""
