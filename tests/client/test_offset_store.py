"""Offset stores: local file format and round trip, memory table rules."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from rmq.client.model import MessageQueue
from rmq.client.offset_store import (
    LocalFileOffsetStore,
    ReadOffsetType,
    decode_offsets,
    encode_offsets,
    sync_runner,
)

MQ = MessageQueue("T", "broker-a", 3)


class LocalFileTests(SynchronousTestCase):
    def test_java_shape(self) -> None:
        """The file uses fastjson object keys, as Java's OffsetSerializeWrapper does."""
        raw = encode_offsets({MQ: 42})
        self.assertEqual(
            raw, b'{"offsetTable":{{"brokerName":"broker-a","queueId":3,"topic":"T"}:42}}'
        )
        self.assertEqual(decode_offsets(raw), {MQ: 42})

    def test_round_trip_and_backup(self) -> None:
        """Persist writes offsets.json (old copy kept as .bak); a new store loads them."""
        base = self.mktemp()
        store = LocalFileOffsetStore(base, "1.2.3.4@x", "G", sync_runner)
        store.update(MQ, 5)
        self.successResultOf(store.persist([MQ]))
        store.update(MQ, 9)
        self.successResultOf(store.persist([MQ]))
        self.assertTrue(os.path.exists(store.path + ".bak"))
        again = LocalFileOffsetStore(base, "1.2.3.4@x", "G", sync_runner)
        self.successResultOf(again.load())
        self.assertEqual(self.successResultOf(again.read(MQ, ReadOffsetType.STORE)), 9)
        self.assertEqual(store.path, os.path.join(base, "1.2.3.4@x", "G", "offsets.json"))

    def test_increase_only(self) -> None:
        """increase_only updates never move an offset backwards."""
        store = LocalFileOffsetStore(self.mktemp(), "c", "G", sync_runner)
        store.update(MQ, 10)
        store.update(MQ, 4, increase_only=True)
        self.assertEqual(store.table(), {MQ: 10})
        store.update(MQ, 4)
        self.assertEqual(store.table(), {MQ: 4})

    def test_missing_file(self) -> None:
        """No file means no offsets (-1)."""
        store = LocalFileOffsetStore(self.mktemp(), "c", "G", sync_runner)
        self.successResultOf(store.load())
        self.assertEqual(self.successResultOf(store.read(MQ, ReadOffsetType.STORE)), -1)
