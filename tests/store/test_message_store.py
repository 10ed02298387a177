"""Behaviour of the MessageStore facade: puts, reads, flush, recovery, retention."""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred

from rmq.common import message as m
from rmq.common.errors import DiskFullError
from rmq.store.format import BLANK, BLANK_SIZE
from rmq.store.message_store import GetStatus, MessageStore, PutResult, PutStatus

from .helpers import ManualRunner, StoreTestCase, crash, make_store, msg


class Base(StoreTestCase):
    """Gives each test a fresh directory and shuts its stores down."""

    def put(self, store: MessageStore, *a: object, **kw: object) -> PutResult:
        result = self.successResultOf(store.put_message(msg(*a, **kw)))  # type: ignore[arg-type]
        self.assertIs(result.status, PutStatus.PUT_OK)
        return result


class PutGetTests(Base):
    """Append and read back."""

    def test_round_trip(self) -> None:
        """Records read back decode to what was put, with offsets and ids set."""
        store = self.open()
        r0 = self.put(store, body=b"a", props="TAGS\x01TagA")
        r1 = self.put(store, body=b"bb")
        self.assertEqual((r0.queue_offset, r1.queue_offset), (0, 1))
        self.assertEqual(r1.wrote_offset, r0.wrote_offset + r0.wrote_bytes)
        got = store.get_message("g", "T", 0, 0, 32)
        self.assertIs(got.status, GetStatus.FOUND)
        self.assertEqual((got.next_begin_offset, got.min_offset, got.max_offset), (2, 0, 2))
        msgs = m.decode_messages(b"".join(got.buffers))
        self.assertEqual([x.body for x in msgs], [b"a", b"bb"])
        self.assertEqual(msgs[0].tags, "TagA")
        self.assertEqual(msgs[1].commit_log_offset, r1.wrote_offset)
        self.assertEqual(msgs[0].offset_msg_id, r0.msg_ids[0])
        self.assertEqual(msgs[0].born_host, ("10.0.0.2", 5555))
        self.assertEqual(msgs[0].body_crc, m.crc32_masked(b"a"))
        self.assertEqual(store.look_message_by_offset(r1.wrote_offset), bytes(got.buffers[1]))

    def test_statuses(self) -> None:
        """Unknown queue, overflow one/badly and max count give the documented statuses."""
        store = self.open()
        self.assertIs(
            store.get_message("g", "T", 0, 0, 32).status, GetStatus.NO_MATCHED_LOGIC_QUEUE
        )
        for _ in range(3):
            self.put(store)
        one = store.get_message("g", "T", 0, 3, 32)
        self.assertEqual((one.status, one.next_begin_offset), (GetStatus.OFFSET_OVERFLOW_ONE, 3))
        bad = store.get_message("g", "T", 0, 9, 32)
        # RocketMQ 4.9 getMessage: while the queue starts at 0, an offset past the end goes to 0
        self.assertEqual((bad.status, bad.next_begin_offset), (GetStatus.OFFSET_OVERFLOW_BADLY, 0))
        two = store.get_message("g", "T", 0, 1, 1)
        self.assertEqual(
            (two.status, two.message_count, two.next_begin_offset), (GetStatus.FOUND, 1, 2)
        )

    def test_filter(self) -> None:
        """A tag-hash filter skips units; none matching gives NO_MATCHED_MESSAGE."""

        class OnlyTag:
            def __init__(self, tag: str) -> None:
                self.code = m.tag_hash_code(tag)

            def is_matched_by_consume_queue(self, tags_code: int | None) -> bool:
                return tags_code == self.code

            def is_matched_by_commit_log(self, record: object, properties: object) -> bool:
                return True

        store = self.open()
        self.put(store, body=b"1", props="TAGS\x01A")
        self.put(store, body=b"2", props="TAGS\x01B")
        got = store.get_message("g", "T", 0, 0, 32, OnlyTag("B"))
        self.assertEqual([x.body for x in m.decode_messages(b"".join(got.buffers))], [b"2"])
        self.assertEqual(got.next_begin_offset, 2)
        none = store.get_message("g", "T", 0, 0, 32, OnlyTag("C"))
        self.assertEqual((none.status, none.next_begin_offset), (GetStatus.NO_MATCHED_MESSAGE, 2))

    def test_roll_files(self) -> None:
        """Records roll over small files with a blank end record and all read back."""
        store = self.open()
        bodies = [bytes([i % 251]) * (700 + i) for i in range(300)]
        for b in bodies:
            self.put(store, body=b)
        self.assertGreater(len(store.commitlog.queue.files), 3)
        first = store.commitlog.queue.files[0]
        end = first.mm.rfind(b"\xcb\xd4\x31\x94")
        remaining, _ = BLANK.unpack_from(first.mm, end - 4)
        self.assertEqual(end - 4 + remaining, first.file_size)
        self.assertGreaterEqual(remaining, BLANK_SIZE)
        out, off = [], 0
        while True:
            got = store.get_message("g", "T", 0, off, 32)
            if got.status is not GetStatus.FOUND:
                break
            out += [x.body for x in m.decode_messages(b"".join(got.buffers))]
            off = got.next_begin_offset
        self.assertEqual(out, bodies)
        self.assertGreater(len(store.dispatcher.queues[("T", 0)].queue.files), 2)

    def test_batch(self) -> None:
        """A batch is one contiguous append with consecutive queue offsets."""
        store = self.open()
        self.put(store)
        res = self.successResultOf(store.put_messages([msg(body=b"x"), msg(body=b"y")]))
        self.assertEqual((res.status, res.queue_offset, res.msg_num), (PutStatus.PUT_OK, 1, 2))
        self.assertEqual(len(res.msg_ids), 2)
        got = store.get_message("g", "T", 0, 1, 32)
        self.assertEqual(sum(len(b) for b in got.buffers), res.wrote_bytes)
        mixed = self.successResultOf(store.put_messages([msg(), msg(topic="U")]))
        self.assertIs(mixed.status, PutStatus.MESSAGE_ILLEGAL)

    def test_illegal(self) -> None:
        """Too-long topics, properties and bodies are refused."""
        store = self.open()
        for bad in (msg(topic="t" * 128), msg(props="a\x01" + "b" * 40000), msg(body=b"x" * 20000)):
            res = self.successResultOf(store.put_message(bad))
            self.assertIn(
                res.status, (PutStatus.MESSAGE_ILLEGAL, PutStatus.PROPERTIES_SIZE_EXCEEDED)
            )
        self.assertEqual(store.get_max_phy_offset(), 0)

    def test_prepared_not_dispatched(self) -> None:
        """Prepared transaction records get queue offset 0 and stay out of the queue."""
        store = self.open()
        half = msg()
        half.sys_flag = m.TRANSACTION_PREPARED_TYPE
        res = self.successResultOf(store.put_message(half))
        self.assertEqual(res.queue_offset, 0)
        self.assertEqual(store.get_max_offset_in_queue("T", 0), 0)
        self.assertIsNotNone(store.look_message_by_offset(res.wrote_offset))

    def test_index_query(self) -> None:
        """Messages are found by each KEYS element and by UNIQ_KEY within a time range."""
        store = self.open()
        now = int(self.clock.seconds() * 1000)
        self.put(store, body=b"1", props="KEYS\x01k1 k2\x02UNIQ_KEY\x01U1")
        self.put(store, body=b"2", props="KEYS\x01k2")
        self.put(store, topic="Other", body=b"3", props="KEYS\x01k2")
        bodies = lambda key: sorted(  # noqa: E731
            m.decode_message_ext(r)[0].body
            for r in store.query_message("T", key, 32, now - 1, now + 1)
        )
        self.assertEqual(bodies("k1"), [b"1"])
        self.assertEqual(bodies("k2"), [b"1", b"2"])
        self.assertEqual(bodies("U1"), [b"1"])
        self.assertEqual(bodies("nope"), [])
        self.assertEqual(store.query_message("T", "k1", 32, now + 5000, now + 9000), [])

    def test_index_rolls(self) -> None:
        """Index files roll when full and older entries stay queryable."""
        store = self.open()
        now = int(self.clock.seconds() * 1000)
        for i in range(500):
            self.put(store, body=b"%d" % i, props=f"KEYS\x01key{i}")
        assert store.index is not None
        self.assertGreater(len(store.index.files), 1)
        for i in (0, 250, 499):
            (rec,) = store.query_message("T", f"key{i}", 32, now - 1, now + 1)
            self.assertEqual(m.decode_message_ext(rec)[0].body, b"%d" % i)

    def test_listener(self) -> None:
        """Arrival listeners hear topic, queue, new max offset and tags code."""
        store = self.open()
        heard: list[tuple[object, ...]] = []
        store.add_arrival_listener(lambda *a: heard.append(a))
        store.add_arrival_listener(lambda *a: 1 / 0)  # a failing listener is contained
        self.put(store, props="TAGS\x01TagA")
        self.assertEqual(heard[0][:4], ("T", 0, 1, 2598919))

    def test_time_lookups(self) -> None:
        """Offset by time and earliest time follow store timestamps."""
        store = self.open()
        t0 = int(self.clock.seconds() * 1000)
        for _ in range(5):
            self.put(store)
            self.clock.advance(1)
        self.assertEqual(store.get_earliest_message_time("T", 0), t0)
        self.assertEqual(store.get_offset_in_queue_by_time("T", 0, t0 + 2000), 2)
        self.assertEqual(store.get_offset_in_queue_by_time("T", 0, t0 + 2500), 3)
        self.assertEqual(store.get_offset_in_queue_by_time("T", 0, t0 + 99000), 5)
        self.assertEqual(store.get_earliest_message_time("X", 0), -1)
        self.assertEqual(store.get_commit_log_offset_in_queue("T", 0, 0), 0)

    def test_delete_topics(self) -> None:
        """Deleted topics lose their queues."""
        store = self.open()
        self.put(store, topic="A")
        self.put(store, topic="B")
        self.assertEqual(store.topic_queue_table(), {"A": [0], "B": [0]})
        store.delete_topics({"A"})
        self.assertEqual(store.topic_queue_table(), {"B": [0]})
        self.assertFalse(os.path.exists(os.path.join(self.root, "consumequeue", "A")))


class FlushTests(Base):
    """SYNC_FLUSH group commit and timeouts."""

    def test_group_commit(self) -> None:
        """Many puts share flush runs and fire in order only after their flush."""
        runner = ManualRunner()
        store = self.open(runner=runner, flushDiskType="SYNC_FLUSH")
        order: list[int] = []
        ds: list[Deferred[PutResult]] = []
        for i in range(100):
            d = store.put_message(msg(body=b"%d" % i))
            d.addCallback(lambda r, i=i: order.append(i) or r)
            ds.append(d)
        self.assertEqual(order, [])
        self.assertEqual(runner.release(), 1)  # first run covers the first put
        self.assertEqual(order, [0])
        self.assertEqual(runner.release(), 1)  # one more run covers the other 99
        self.assertEqual(order, list(range(100)))
        self.assertEqual(store.flusher.runs, 2)
        for d in ds:
            self.assertIs(self.successResultOf(d).status, PutStatus.PUT_OK)

    def test_timeout(self) -> None:
        """A flush that never completes turns into FLUSH_DISK_TIMEOUT after syncFlushTimeout."""
        runner = ManualRunner()
        store = self.open(runner=runner, flushDiskType="SYNC_FLUSH", syncFlushTimeout=100)
        d = store.put_message(msg())
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.assertIs(self.successResultOf(d).status, PutStatus.FLUSH_DISK_TIMEOUT)
        runner.release()
        self.assertEqual(store.flusher.flushed_offset, store.get_max_phy_offset())

    def test_async_flush(self) -> None:
        """ASYNC_FLUSH acks at once and the timer flushes later."""
        runner = ManualRunner()
        store = self.open(runner=runner)
        self.successResultOf(store.put_message(msg(body=b"x" * 9000)))
        self.successResultOf(store.put_message(msg(body=b"x" * 9000)))
        self.assertGreater(store.flusher.dirty_bytes(), 0)
        self.clock.advance(0.5)
        runner.release()
        self.assertEqual(store.flusher.dirty_bytes(), 0)
        self.assertGreater(store.checkpoint.physic_msg_timestamp, 0)


class RecoveryTests(Base):
    """Restart after clean shutdown and after crashes."""

    def test_clean_restart(self) -> None:
        """After shutdown, data, queue offsets and index survive; no abort file remains."""
        store = self.open()
        for i in range(50):
            self.put(store, body=b"%d" % i, props=f"KEYS\x01k{i}")
        self.successResultOf(store.shutdown())
        self.assertFalse(os.path.exists(os.path.join(self.root, "abort")))
        store2 = self.open()
        self.assertEqual(store2.recovered_records, 0)
        self.assertEqual(store2.get_max_offset_in_queue("T", 0), 50)
        self.assertEqual(self.put(store2).queue_offset, 50)
        now = int(self.clock.seconds() * 1000)
        self.assertEqual(len(store2.query_message("T", "k7", 32, now - 1, now + 1)), 1)

    def test_locked(self) -> None:
        """A second store on the same directory is refused."""
        self.open()
        from rmq.common.errors import StoreError

        self.assertRaises(StoreError, make_store, self.root, self.clock)

    def test_torn_tail(self) -> None:
        """A half-written last record is cut; earlier ones stay and new puts reuse the space."""
        store = self.open()
        results = [self.put(store, body=b"%d" % i) for i in range(10)]
        last = results[-1]
        mf = store.commitlog.queue.last()
        assert mf is not None
        pos = last.wrote_offset - mf.file_from_offset
        mf.mm[pos + 30 : pos + last.wrote_bytes] = bytes(last.wrote_bytes - 30)
        crash(store)
        store2 = self.open()
        self.assertEqual(store2.get_max_phy_offset(), last.wrote_offset)
        self.assertEqual(store2.get_max_offset_in_queue("T", 0), 9)
        self.assertEqual(self.put(store2, body=b"new").queue_offset, 9)
        got = store2.get_message("g", "T", 0, 0, 32)
        self.assertEqual(
            [x.body for x in m.decode_messages(b"".join(got.buffers))],
            [b"%d" % i for i in range(9)] + [b"new"],
        )

    def test_flipped_crc(self) -> None:
        """A record whose body bytes were flipped is never served; later ones are cut too."""
        store = self.open()
        results = [self.put(store, body=b"body-%d" % i) for i in range(20)]
        bad = results[15]
        mf = store.commitlog.queue.last()
        assert mf is not None
        body_at = bad.wrote_offset - mf.file_from_offset + bad.wrote_bytes - 1 - 2 - 1 - 6
        mf.mm[body_at] ^= 0xFF
        crash(store)
        store2 = self.open()
        self.assertEqual(store2.get_max_phy_offset(), bad.wrote_offset)
        self.assertEqual(store2.get_max_offset_in_queue("T", 0), 15)
        got = store2.get_message("g", "T", 0, 0, 32)
        self.assertEqual(len(m.decode_messages(b"".join(got.buffers))), 15)
        self.assertIsNone(store2.look_message_by_offset(results[16].wrote_offset))

    def test_lost_consume_queue(self) -> None:
        """Consume queues missing after a crash are rebuilt from the CommitLog."""
        store = self.open()
        for i in range(30):
            self.put(store, qid=i % 3)
        crash(store)
        import shutil

        shutil.rmtree(os.path.join(self.root, "consumequeue"))
        store2 = self.open()
        self.assertEqual([store2.get_max_offset_in_queue("T", q) for q in range(3)], [10, 10, 10])
        self.assertEqual(store2.recovered_records, 30)


class FaultTests(Base):
    """Disk full and retention."""

    def test_disk_full_on_roll(self) -> None:
        """ENOSPC creating the next file refuses the put and leaves no partial record."""
        store = self.open()
        while len(store.commitlog.queue.files) < 2:
            self.put(store, body=b"x" * 5000)
        before = store.get_max_phy_offset()

        def no_space(path: str) -> None:
            raise DiskFullError(f"no space for {path}")

        store.commitlog.queue.create_hook = no_space
        for _ in range(20):
            res = self.successResultOf(store.put_message(msg(body=b"x" * 5000)))
            if res.status is not PutStatus.PUT_OK:
                break
        self.assertIs(res.status, PutStatus.SERVICE_NOT_AVAILABLE)
        self.assertIn("no space", res.remark)
        after = store.get_max_phy_offset()
        self.assertGreaterEqual(after, before)
        refused = self.successResultOf(store.put_message(msg()))
        self.assertIs(refused.status, PutStatus.SERVICE_NOT_AVAILABLE)
        store.commitlog.queue.create_hook = None
        crash(store)
        store2 = self.open()
        self.assertEqual(store2.get_max_phy_offset(), after)

    def test_disk_ratio(self) -> None:
        """Above the warning ratio puts are refused until space comes back."""
        usage = [0.95]
        store = self.open(disk_usage=lambda _p: usage[0])
        res = self.successResultOf(store.put_message(msg()))
        self.assertIs(res.status, PutStatus.SERVICE_NOT_AVAILABLE)
        usage[0] = 0.5
        self.clock.advance(10)
        self.put(store)

    def test_disk_ratio_counts_like_df(self) -> None:
        """Reserved blocks count neither as used nor as free (df's Use%)."""
        import os
        from types import SimpleNamespace

        from rmq.store import message_store

        fake = SimpleNamespace(f_blocks=1000, f_bfree=600, f_bavail=100, f_frsize=4096)
        self.patch(os, "statvfs", lambda _path: fake)
        self.assertAlmostEqual(message_store._disk_ratio("/x"), 400 / 500)

    def test_retention(self) -> None:
        """Expired CommitLog files are deleted with their queue files; old offsets are too small."""
        store = self.open(fileReservedTime=1)
        for _ in range(400):
            self.put(store, body=b"y" * 600)
        files = list(store.commitlog.queue.files)
        old = self.clock.seconds() - 7200
        for mf in files[:3]:
            os.utime(mf.path, (old, old))
        view = store.get_message("g", "T", 0, 0, 1).buffers[0]  # a reader holds a slice
        deleted = store.delete_expired_files(force_hour=True)
        self.assertEqual(deleted, 3)
        self.assertEqual(bytes(view[4:8]), b"\xda\xa3\x20\xa7")  # still mapped for the reader
        self.assertEqual(store.get_min_phy_offset(), files[3].file_from_offset)
        low = store.get_message("g", "T", 0, 0, 32)
        self.assertIs(low.status, GetStatus.OFFSET_TOO_SMALL)
        got = store.get_message("g", "T", 0, low.next_begin_offset, 32)
        self.assertIs(got.status, GetStatus.FOUND)
        first = m.decode_messages(b"".join(got.buffers))[0]
        self.assertGreaterEqual(first.commit_log_offset, store.get_min_phy_offset())
        self.assertFalse(os.path.exists(files[0].path))
        del view, got, low
        store.commitlog.queue.retry_destroy()
        self.assertEqual(store.commitlog.queue.pending_destroy, [])
