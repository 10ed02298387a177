"""Retention: when expired CommitLog files go, and that queue and index files follow."""

from __future__ import annotations

import os
import time

from twisted.internet.task import Clock

from rmq.store.message_store import MessageStore, PutStatus

from .helpers import ManualRunner, StoreTestCase, msg


def _local_epoch(hour: int) -> float:
    """An epoch second at ``hour``:30 local time on a fixed day."""
    return time.mktime((2024, 3, 5, hour, 30, 0, 0, 0, -1))


class RetentionTests(StoreTestCase):
    """deleteWhen, disk ratio, flush in flight, index and reader-held files."""

    def fill(self, store: MessageStore, files: int, props: str = "") -> None:
        """Put until the CommitLog has ``files`` files."""
        while len(store.commitlog.queue.files) < files:
            res = store.put_message_nowait(msg(body=b"y" * 600, props=props))
            self.assertIs(res.status, PutStatus.PUT_OK)

    def age(self, store: MessageStore, count: int) -> None:
        """Make the ``count`` oldest CommitLog files two hours old."""
        old = self.clock.seconds() - 7200
        for mf in store.commitlog.queue.files[:count]:
            os.utime(mf.path, (old, old))

    def test_deleted_while_flushes_run(self) -> None:
        """Expired files are deleted by the timer even while CommitLog and CQ flushes run."""
        runner = ManualRunner()
        usage = [0.1]
        store = self.open(
            runner=runner,
            flushDiskType="SYNC_FLUSH",
            fileReservedTime=1,
            disk_usage=lambda _p: usage[0],
        )
        self.fill(store, 5)
        store.flusher.kick()
        while runner.release():
            pass
        self.age(store, 3)
        first = store.commitlog.queue.files[0].path
        store.put_message(msg())  # a CommitLog flush is now in flight
        usage[0] = 0.8  # above diskMaxUsedSpaceRatio (75%): deletion due at any hour
        self.clock.advance(10)  # CQ flush timer (also left in flight) and clean timer
        self.assertIsNotNone(store.flusher.in_flight)
        self.assertIsNotNone(store._cq_flush_in_flight)
        self.assertFalse(os.path.exists(first))
        self.assertEqual(len(store.commitlog.queue.files), 2)
        while runner.release():
            pass

    def test_busy_file_kept(self) -> None:
        """A file a running flush covers is kept, and deleted by the pass after the flush."""
        runner = ManualRunner()
        store = self.open(runner=runner, flushDiskType="SYNC_FLUSH", fileReservedTime=1)
        self.fill(store, 3)
        self.age(store, 2)
        busy = store.commitlog.queue.files[0]
        store.flusher.kick()
        self.assertIn(busy, store.flusher.in_flight_files)
        self.assertEqual(store.delete_expired_files(force_hour=True), 0)
        self.assertTrue(os.path.exists(busy.path))
        while runner.release():
            pass
        self.assertEqual(store.delete_expired_files(force_hour=True), 2)
        self.assertFalse(os.path.exists(busy.path))

    def test_delete_when_hour(self) -> None:
        """Expired files wait for the deleteWhen hour when the disk is not under pressure."""
        self.clock = Clock()
        self.clock.advance(_local_epoch(3))
        store = self.open(fileReservedTime=1, deleteWhen="04")
        self.fill(store, 4)
        self.age(store, 2)
        self.clock.advance(10)  # clean timer at 03:30 local: not the hour
        self.assertEqual(len(store.commitlog.queue.files), 4)
        self.clock.advance(3600)  # the timer ran at 04:30 local
        self.assertEqual(len(store.commitlog.queue.files), 2)

    def test_disk_ratio_triggers(self) -> None:
        """Above diskMaxUsedSpaceRatio expired files go outside the deleteWhen hour."""
        self.clock = Clock()
        self.clock.advance(_local_epoch(10))
        usage = [0.5]
        store = self.open(fileReservedTime=1, deleteWhen="04", disk_usage=lambda _p: usage[0])
        self.fill(store, 4)
        self.age(store, 2)
        self.clock.advance(10)
        self.assertEqual(len(store.commitlog.queue.files), 4)
        usage[0] = 0.8
        self.clock.advance(10)
        self.assertEqual(len(store.commitlog.queue.files), 2)

    def test_index_follows(self) -> None:
        """Index files whose entries all point below the new CommitLog start are deleted."""
        store = self.open(fileReservedTime=1)
        self.fill(store, 6, props="KEYS\x01k1 k2 k3")
        index = store.index
        assert index is not None
        self.assertGreater(len(index.files), 2)
        old_index = [f.path for f in index.files[:-1]]
        self.age(store, 5)
        store.delete_expired_files(force_hour=True)
        phys_min = store.get_min_phy_offset()
        self.assertTrue(all(f.end_phy_offset >= phys_min for f in index.files[:1]))
        gone = [p for p in old_index if not os.path.exists(p)]
        self.assertGreater(len(gone), 0)
        self.assertEqual(index.pending_destroy, [])

    def test_held_index_file_retried(self) -> None:
        """An index file still held by a reader is closed by a later pass once it lets go."""
        store = self.open(fileReservedTime=1)
        self.fill(store, 6, props="KEYS\x01k1 k2 k3")
        index = store.index
        assert index is not None
        held = memoryview(index.files[0].mf.mm)
        self.age(store, 5)
        store.delete_expired_files(force_hour=True)
        self.assertEqual(len(index.pending_destroy), 1)
        held.release()
        store.delete_expired_files(force_hour=True)
        self.assertEqual(index.pending_destroy, [])

    def test_held_consume_queue_file_retried(self) -> None:
        """A ConsumeQueue file still held by a reader is closed by a later pass."""
        store = self.open(fileReservedTime=1)
        self.fill(store, 6)
        cq = store.dispatcher.queues[("T", 0)]
        held = memoryview(cq.queue.files[0].mm)
        self.age(store, 5)
        store.delete_expired_files(force_hour=True)
        self.assertEqual(len(cq.queue.pending_destroy), 1)
        held.release()
        store.delete_expired_files(force_hour=True)
        self.assertEqual(cq.queue.pending_destroy, [])

    def test_long_held_file_reported(self) -> None:
        """A deleted file held past destroyMapedFileIntervalForcibly is reported once."""
        store = self.open(fileReservedTime=1, destroyMapedFileIntervalForcibly=120_000)
        self.fill(store, 4)
        view = store.get_message("g", "T", 0, 0, 1).buffers[0]
        self.age(store, 2)
        store.delete_expired_files(force_hour=True)
        self.assertEqual(len(store.commitlog.queue.pending_destroy), 1)
        with self.assertNoLogs("rmq.store.mappedfile", "WARNING"):
            store.delete_expired_files(force_hour=True)  # first seen held
            self.clock.advance(60)
            store.delete_expired_files(force_hour=True)
        with self.assertLogs("rmq.store.mappedfile", "WARNING") as logs:
            self.clock.advance(60)  # the clean timer passes 120 s
        self.assertEqual(len(logs.output), 1)
        self.assertIn("still mapped", logs.output[0])
        with self.assertNoLogs("rmq.store.mappedfile", "WARNING"):
            self.clock.advance(60)
        self.assertEqual(len(store.commitlog.queue.pending_destroy), 1)
        del view
        store.delete_expired_files(force_hour=True)
        self.assertEqual(store.commitlog.queue.pending_destroy, [])
