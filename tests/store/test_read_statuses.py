"""Read statuses that need a damaged or unusual queue, and the byte limit of a read."""

from __future__ import annotations

import os

from rmq.store.message_store import GetStatus, MessageStore, PutStatus

from .helpers import StoreTestCase, msg


class ReadStatusTests(StoreTestCase):
    """OFFSET_FOUND_NULL, MESSAGE_WAS_REMOVING, NO_MESSAGE_IN_QUEUE, OVERFLOW_BADLY, max bytes."""

    def fill(self, store: MessageStore, count: int, body: bytes = b"z" * 600) -> None:
        """Put ``count`` messages to T-0."""
        for _ in range(count):
            self.assertIs(store.put_message_nowait(msg(body=body)).status, PutStatus.PUT_OK)

    def test_offset_found_null(self) -> None:
        """A missing ConsumeQueue file inside [min, max) answers OFFSET_FOUND_NULL, next file."""
        store = self.open()
        per_file = store.config.mapped_file_size_consume_queue // 20
        self.fill(store, per_file + 5, body=b"x")
        cq = store.dispatcher.queues[("T", 0)]
        cq.queue.delete_first(1)  # lost file; the min offset still says 0
        got = store.get_message("g", "T", 0, 3, 32)
        self.assertEqual(
            (got.status, got.next_begin_offset, got.message_count),
            (GetStatus.OFFSET_FOUND_NULL, per_file, 0),
        )

    def test_message_was_removing(self) -> None:
        """Units whose records all left the CommitLog answer MESSAGE_WAS_REMOVING, skipping them."""
        store = self.open()
        self.fill(store, 300)
        store.commitlog.queue.delete_first(2)  # ~180 records; min offsets not corrected
        per_file = store.config.mapped_file_size_consume_queue // 20
        got = store.get_message("g", "T", 0, 0, 32)
        self.assertEqual(
            (got.status, got.next_begin_offset, got.buffers),
            (GetStatus.MESSAGE_WAS_REMOVING, per_file, []),
        )

    def test_no_message_in_queue(self) -> None:
        """A queue with no unit yet answers NO_MESSAGE_IN_QUEUE and next offset 0."""
        store = self.open()
        store.dispatcher.find_or_create("E", 0)
        got = store.get_message("g", "E", 0, 5, 32)
        self.assertEqual((got.status, got.next_begin_offset), (GetStatus.NO_MESSAGE_IN_QUEUE, 0))

    def test_overflow_badly_after_retention(self) -> None:
        """Past the end of a queue no longer starting at 0, the next offset is the max offset."""
        store = self.open(fileReservedTime=1)
        self.fill(store, 300)
        old = self.clock.seconds() - 7200
        for mf in store.commitlog.queue.files[:2]:
            os.utime(mf.path, (old, old))
        self.assertEqual(store.delete_expired_files(force_hour=True), 2)
        min_o = store.get_min_offset_in_queue("T", 0)
        self.assertGreater(min_o, 0)
        got = store.get_message("g", "T", 0, 1000, 32)
        self.assertEqual(
            (got.status, got.next_begin_offset), (GetStatus.OFFSET_OVERFLOW_BADLY, 300)
        )

    def test_max_total_bytes(self) -> None:
        """``max_total_bytes`` caps a read, but the first record always comes."""
        store = self.open()
        self.fill(store, 3)
        one = store.get_message("g", "T", 0, 0, 32).buffers[0]
        got = store.get_message("g", "T", 0, 0, 32, max_total_bytes=2 * len(one) + 1)
        self.assertEqual((got.message_count, got.next_begin_offset), (2, 2))
        got = store.get_message("g", "T", 0, 0, 32, max_total_bytes=0)
        self.assertEqual(got.message_count, 1)
        self.assertEqual(store.get_message("g", "T", 0, 0, 32).message_count, 3)
