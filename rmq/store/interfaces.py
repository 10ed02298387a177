"""zope.interface seam between the broker and its message store.

:class:`IMessageStore` is the facade the broker's processors, long polling, schedule and
transaction services call (``broker.store``). ``MessageStore`` provides it; broker tests may
inject smaller fakes, which is why the broker still probes a few optional extras with ``getattr``
(``checkpoint``, ``index``, ``check_in_disk_by_consume_offset``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from rmq.store.dispatch import ArrivalListener
    from rmq.store.message_store import GetResult, MessageFilter, MessageToStore, PutResult


class IMessageStore(Interface):
    """CommitLog + ConsumeQueues + index behind one facade (Java's ``MessageStore``)."""

    config = Attribute(
        "the StoreConfig in force; the broker may replace it on UPDATE_BROKER_CONFIG"
    )

    def start() -> None:
        """Lock the directory, load files, recover and start the periodic tasks."""

    def shutdown() -> Deferred[None]:
        """Stop the tasks, flush everything and release the directory lock."""

    def add_arrival_listener(cb: ArrivalListener) -> None:
        """Call ``cb`` for every message dispatched to a ConsumeQueue (long polling)."""

    def put_message(msg: MessageToStore) -> Deferred[PutResult]:
        """Append one message; under SYNC_FLUSH fire once it is on disk."""

    def put_messages(msgs: list[MessageToStore]) -> Deferred[PutResult]:
        """Append a batch of one topic/queue as one contiguous append."""

    def put_message_nowait(msg: MessageToStore) -> PutResult:
        """Append one message and return at once (see :meth:`wait_flushed`)."""

    def put_messages_nowait(msgs: list[MessageToStore]) -> PutResult:
        """Batch form of :meth:`put_message_nowait`."""

    def wait_flushed(result: PutResult) -> Deferred[PutResult]:
        """Fire with ``result`` once its bytes are flushed (FLUSH_DISK_TIMEOUT if late)."""

    def get_message(
        group: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_msg_nums: int,
        message_filter: MessageFilter | None = None,
        max_total_bytes: int | None = None,
    ) -> GetResult:
        """Read up to ``max_msg_nums`` raw records (and ``max_total_bytes``) from ``offset``."""

    def get_max_offset_in_queue(topic: str, queue_id: int) -> int:
        """Next queue offset to be written (0 for an unknown queue)."""

    def get_min_offset_in_queue(topic: str, queue_id: int) -> int:
        """First readable queue offset (0 for an unknown queue)."""

    def get_offset_in_queue_by_time(topic: str, queue_id: int, timestamp_ms: int) -> int:
        """First queue offset stored at or after ``timestamp_ms``."""

    def get_earliest_message_time(topic: str, queue_id: int) -> int:
        """Store time of a queue's first readable message (-1 if none)."""

    def get_message_store_timestamp(topic: str, queue_id: int, cq_offset: int) -> int:
        """Store time of the message at a queue offset (-1 if unknown)."""

    def look_message_by_offset(commit_log_offset: int) -> bytes | None:
        """The raw record starting at a CommitLog offset, or None."""

    def query_message(
        topic: str, key: str, max_num: int, begin_ts: int, end_ts: int
    ) -> list[bytes]:
        """Records of ``topic`` whose keys contain ``key`` within a store-time range."""

    def topic_queue_table() -> dict[str, list[int]]:
        """Known queue ids per topic."""

    def delete_topics(topics: set[str]) -> None:
        """Drop the ConsumeQueues of these topics."""

    def clean_expired_consume_queue() -> Deferred[int]:
        """Destroy queues wholly below the CommitLog's min offset; fire with how many."""

    def runtime_info() -> dict[str, str]:
        """The store's figures for GET_BROKER_RUNTIME_INFO."""
