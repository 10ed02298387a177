"""A store file whose size differs from the configuration stops the store from starting."""

from __future__ import annotations

import os

from twisted.internet.task import Clock

from rmq.common.errors import StoreError
from rmq.store.message_store import GetStatus

from .helpers import StoreTestCase, make_store, msg


class FileSizeTests(StoreTestCase):
    """CommitLog, ConsumeQueue and index files of the wrong size."""

    def setUp(self) -> None:
        super().setUp()
        store = self.open()
        self.successResultOf(store.put_message(msg(props="KEYS\x01k")))
        self.successResultOf(store.shutdown())

    def refused(self, **overrides: object) -> str:
        """Start with ``overrides`` and return the StoreError text."""
        with self.assertRaises(StoreError) as cm:
            make_store(self.root, clock=Clock(), **overrides)
        return str(cm.exception)

    def test_commit_log(self) -> None:
        """Another mappedFileSizeCommitLog: refused, naming the file; the lock is released."""
        text = self.refused(mappedFileSizeCommitLog=128 * 1024)
        self.assertIn(os.path.join("commitlog", "00000000000000000000"), text)
        store = self.open()  # the right size still starts (directory not left locked)
        self.assertIs(store.get_message("g", "T", 0, 0, 1).status, GetStatus.FOUND)

    def test_consume_queue(self) -> None:
        """Another mappedFileSizeConsumeQueue: refused, naming the queue file."""
        text = self.refused(mappedFileSizeConsumeQueue=20 * 50)
        self.assertIn(os.path.join("consumequeue", "T", "0", "00000000000000000000"), text)

    def test_index(self) -> None:
        """Another maxIndexNum: refused, naming the index file."""
        text = self.refused(maxIndexNum=800)
        self.assertIn("index", text)
        self.assertIn(os.listdir(os.path.join(self.root, "index"))[0], text)
