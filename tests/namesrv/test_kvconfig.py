"""Tests for rmq.namesrv.kvconfig: KV operations and atomic, serialized persistence."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import ConfigError
from rmq.namesrv.kvconfig import KVConfigManager, atomic_write


class QueuedRunner:
    """A runner that holds work until the test releases it (a thread pool stand-in)."""

    def __init__(self) -> None:
        self.queue: list[tuple[Callable[[], None], Deferred[None]]] = []

    def __call__(self, work: Callable[[], None]) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.queue.append((work, d))
        return d

    def run_one(self) -> None:
        work, d = self.queue.pop(0)
        try:
            work()
        except Exception as exc:
            d.errback(exc)
        else:
            d.callback(None)


class KVConfigTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "namesrv", "kvConfig.json")

    def _file(self) -> object:
        with open(self.path, encoding="utf-8") as f:
            return json.load(f)

    def test_put_get_delete(self) -> None:
        """Values are stored per namespace, deleted, and persisted in Java's shape."""
        kv = KVConfigManager(self.path)
        kv.put("ns", "k", "v")
        self.assertEqual(kv.get("ns", "k"), "v")
        self.assertEqual(self._file(), {"configTable": {"ns": {"k": "v"}}})
        kv.delete("ns", "k")
        self.assertIsNone(kv.get("ns", "k"))
        self.assertEqual(self._file(), {"configTable": {"ns": {}}})

    def test_namespace_listing(self) -> None:
        """A namespace lists as a KVTable; an unknown one is None."""
        kv = KVConfigManager(self.path)
        kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4")
        table = kv.namespace("ORDER_TOPIC_CONFIG")
        assert table is not None
        self.assertEqual(table.table, {"T": "broker-a:4"})
        self.assertIsNone(kv.namespace("other"))

    def test_load(self) -> None:
        """A saved file is loaded by a new manager."""
        KVConfigManager(self.path).put("ns", "k", "v")
        kv = KVConfigManager(self.path)
        kv.load()
        self.assertEqual(kv.get("ns", "k"), "v")

    def test_load_missing_and_damaged(self) -> None:
        """A missing file is an empty store; a damaged one stops start-up."""
        KVConfigManager(self.path).load()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "w") as f:
            f.write("{not json")
        self.assertRaises(ConfigError, KVConfigManager(self.path).load)

    def test_writes_serialized_and_coalesced(self) -> None:
        """Changes during a write lead to exactly one more write of the latest state."""
        runner = QueuedRunner()
        kv = KVConfigManager(self.path, runner)
        kv.put("ns", "a", "1")
        kv.put("ns", "b", "2")
        kv.put("ns", "c", "3")
        self.assertEqual(len(runner.queue), 1)
        flushed = kv.flushed()
        runner.run_one()
        self.assertNoResult(flushed)
        self.assertEqual(len(runner.queue), 1)
        runner.run_one()
        self.successResultOf(flushed)
        self.assertEqual(self._file(), {"configTable": {"ns": {"a": "1", "b": "2", "c": "3"}}})

    def test_write_failure_logged(self) -> None:
        """A failed write is logged and does not block later writes."""
        runner = QueuedRunner()
        kv = KVConfigManager(self.path, runner)
        kv.put("ns", "a", "1")
        _work, d = runner.queue.pop(0)
        d.errback(OSError("disk full"))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        kv.put("ns", "b", "2")
        runner.run_one()
        self.assertEqual(self._file(), {"configTable": {"ns": {"a": "1", "b": "2"}}})

    def test_atomic_write_replaces(self) -> None:
        """atomic_write leaves only the final file, no temporary."""
        atomic_write(self.path, b"one")
        atomic_write(self.path, b"two")
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"two")
        self.assertEqual(os.listdir(os.path.dirname(self.path)), ["kvConfig.json"])
