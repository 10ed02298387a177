"""What a client instance needs from the producers and consumers registered with it."""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.defer import Deferred

from rmq.client.model import MessageQueue
from rmq.common.message import MessageExt
from rmq.common.route import TopicRouteData
from rmq.headers import CheckTransactionStateRequestHeader


class ProducerInner(Protocol):
    """A producer group living in a client instance."""

    group: str

    def published_topics(self) -> list[str]:
        """Topics whose routes the instance should keep fresh."""

    def update_route(self, topic: str, route: TopicRouteData) -> None:
        """A fresh route for one of :meth:`published_topics`."""

    def check_transaction_state(
        self, broker_addr: str, msg: MessageExt, header: CheckTransactionStateRequestHeader
    ) -> None:
        """Answer a broker's CHECK_TRANSACTION_STATE (transactional producers only)."""


class ConsumerInner(Protocol):
    """A consumer group living in a client instance."""

    group: str

    def consumer_data(self) -> dict[str, Any]:
        """This group's ConsumerData for heartbeats."""

    def subscribed_topics(self) -> list[str]:
        """Topics (the retry topic included) whose routes the instance should keep fresh."""

    def update_route(self, topic: str, route: TopicRouteData) -> None:
        """A fresh route for one of :meth:`subscribed_topics`."""

    def do_rebalance(self) -> Deferred[None]:
        """Recompute queue ownership now."""

    def persist_offsets(self) -> Deferred[None]:
        """Push consumed offsets to their store."""

    def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """Broker-ordered offset reset (RESET_CONSUMER_CLIENT_OFFSET)."""

    def offsets_of(self, topic: str) -> dict[MessageQueue, int]:
        """Current consumed offsets of a topic's owned queues."""

    def running_info(self) -> dict[Any, Any]:
        """ConsumerRunningInfo as a JSON-ready object."""

    def consume_directly(
        self, msg: MessageExt, broker_name: str | None
    ) -> Deferred[dict[str, Any]]:
        """Run the listener on one message (CONSUME_MESSAGE_DIRECTLY)."""
