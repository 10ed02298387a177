"""clean_expired_consume_queue: queues wholly below the CommitLog min offset go; others shrink."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from rmq.store.message_store import SCHEDULE_TOPIC, GetStatus, MessageStore, MessageToStore
from tests.store.helpers import ManualRunner, make_store


def put(store: MessageStore, topic: str, queue_id: int, n: int) -> None:
    for _ in range(n):
        msg = MessageToStore(topic, queue_id, b"z" * 600, store_host=("127.0.0.1", 10911))
        assert store.put_message_nowait(msg).ok


class CleanExpiredTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())

    def fill(self, store: MessageStore) -> int:
        """Old topic in the first files, then Live; drop three CommitLog files. Returns min."""
        put(store, SCHEDULE_TOPIC, 2, 3)
        for _ in range(125):
            put(store, "Old", 0, 1)
            put(store, "Old", 1, 1)
        put(store, "Live", 0, 150)
        files = store.commitlog.queue.files
        self.assertGreater(len(files), 4)
        self.assertLess(store.dispatcher.queues[("Old", 1)].max_physic_offset, 3 * 64 * 1024)
        store.commitlog.queue.delete_first(3)
        return store.get_min_phy_offset()

    def test_expired_queues_destroyed_and_min_corrected(self) -> None:
        """Old's queues and directory go, Live's min offset moves up, the delay queue stays."""
        store, _ = make_store(self.root)
        self.addCleanup(store.shutdown)
        phys_min = self.fill(store)
        self.assertEqual(store.get_min_offset_in_queue("Live", 0), 0)
        d = store.clean_expired_consume_queue()
        self.assertEqual(self.successResultOf(d), 2)
        self.assertEqual(set(store.topic_queue_table()), {"Live", SCHEDULE_TOPIC})
        self.assertFalse(os.path.exists(os.path.join(store.config.consume_queue_dir, "Old")))
        low = store.get_min_offset_in_queue("Live", 0)
        self.assertGreater(low, 0)
        got = store.get_message("g", "Live", 0, low, 1)
        self.assertIs(got.status, GetStatus.FOUND)
        self.assertIs(
            store.get_message("g", "Live", 0, low - 1, 1).status, GetStatus.OFFSET_TOO_SMALL
        )
        self.assertLessEqual(store.get_commit_log_offset_in_queue("Live", 0, low - 1), phys_min)
        put(store, "Old", 0, 1)  # a destroyed queue starts again at offset 0, as in RocketMQ
        self.assertEqual(store.get_max_offset_in_queue("Old", 0), 1)

    def test_nothing_expired_changes_nothing(self) -> None:
        """With the whole CommitLog present, no queue is destroyed and min offsets stay 0."""
        store, _ = make_store(self.root)
        self.addCleanup(store.shutdown)
        put(store, "Old", 0, 10)
        self.assertEqual(self.successResultOf(store.clean_expired_consume_queue()), 0)
        self.assertEqual(store.get_min_offset_in_queue("Old", 0), 0)
        self.assertEqual(store.get_max_offset_in_queue("Old", 0), 10)

    def test_waits_for_running_queue_flush(self) -> None:
        """No queue file is destroyed while a ConsumeQueue flush is in its thread."""
        runner = ManualRunner()
        store, _ = make_store(self.root, runner=runner)
        self.fill(store)
        store._flush_logics_now()
        d = store.clean_expired_consume_queue()
        self.assertNoResult(d)
        self.assertIn("Old", store.topic_queue_table())
        runner.release()
        self.assertEqual(self.successResultOf(d), 2)
        shut = store.shutdown()
        while runner.release():
            pass
        self.successResultOf(shut)
