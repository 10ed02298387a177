"""Tests for rmq.broker.persist: atomic config files with .bak, serialised background writes."""

from __future__ import annotations

import os
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.persist import (
    JsonFilePersister,
    load_json_file,
    read_config_file,
    write_config_file,
)
from rmq.common.errors import ConfigError
from rmq.common.route import DataVersion


class ManualRunner:
    """Holds disk work until the test runs it."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], None], Deferred[None]]] = []

    def __call__(self, work: Callable[[], None]) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.jobs.append((work, d))
        return d

    def run_one(self) -> None:
        work, d = self.jobs.pop(0)
        work()
        d.callback(None)


class FileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        self.path = os.path.join(self.dir, "topics.json")

    def test_write_creates_directory_and_file(self) -> None:
        """The first write creates the folder and leaves no .tmp or .bak behind."""
        write_config_file(self.path, b'{"a":1}')
        self.assertEqual(read_config_file(self.path), b'{"a":1}')
        self.assertEqual(sorted(os.listdir(self.dir)), ["topics.json"])

    def test_second_write_keeps_backup(self) -> None:
        """Replacing the file keeps the previous content in .bak, as Java does."""
        write_config_file(self.path, b"old")
        write_config_file(self.path, b"new")
        with open(self.path + ".bak", "rb") as f:
            self.assertEqual(f.read(), b"old")
        self.assertEqual(read_config_file(self.path), b"new")

    def test_read_falls_back_to_backup(self) -> None:
        """An empty or missing file is replaced by the .bak content."""
        write_config_file(self.path, b"old")
        write_config_file(self.path, b"new")
        with open(self.path, "wb"):
            pass
        self.assertEqual(read_config_file(self.path), b"old")
        os.remove(self.path)
        self.assertEqual(read_config_file(self.path), b"old")

    def test_read_missing_is_none(self) -> None:
        """No file and no .bak gives None."""
        self.assertIsNone(read_config_file(self.path))
        self.assertIsNone(load_json_file(self.path))

    def test_load_accepts_fastjson_and_rejects_garbage(self) -> None:
        """Unquoted int keys parse; a damaged file raises ConfigError naming the path."""
        write_config_file(self.path, b'{"offsetTable":{"t@g":{0:5}}}')
        obj = load_json_file(self.path)
        assert obj is not None
        self.assertEqual(obj["offsetTable"]["t@g"][0], 5)
        write_config_file(self.path, b"{not json")
        err = self.assertRaises(ConfigError, load_json_file, self.path)
        self.assertIn(self.path, err.remark)


class DataVersionTests(SynchronousTestCase):
    def test_next_version_and_json(self) -> None:
        """next_version sets the time and bumps the counter; JSON keys are Java's."""
        v = DataVersion(5, 0).next_version(1234)
        self.assertEqual(v.to_obj(), {"counter": 1, "timestamp": 1234})
        self.assertEqual(v.to_json(), b'{"counter":1,"timestamp":1234}')
        self.assertEqual(DataVersion.from_obj({"counter": 1, "timestamp": 1234}), v)


class PersisterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "f.json")
        self.state = b"1"
        self.runner = ManualRunner()
        self.p = JsonFilePersister(self.path, lambda: self.state, self.runner)

    def test_writes_never_overlap_and_coalesce(self) -> None:
        """Persists during a write cause exactly one more write, of the latest state."""
        first = self.p.persist()
        self.state = b"2"
        second = self.p.persist()
        self.state = b"3"
        third = self.p.persist()
        self.assertEqual(len(self.runner.jobs), 1)
        self.runner.run_one()
        self.successResultOf(first)
        self.assertNoResult(second)
        self.assertEqual(len(self.runner.jobs), 1)
        self.runner.run_one()
        self.successResultOf(second)
        self.successResultOf(third)
        self.assertEqual(read_config_file(self.path), b"3")
        self.assertEqual(self.runner.jobs, [])

    def test_failure_reaches_caller(self) -> None:
        """A failed write fails the persist Deferred."""

        def failing(work: Callable[[], None]) -> Deferred[None]:
            d: Deferred[None] = Deferred()
            d.errback(OSError("disk gone"))
            return d

        p = JsonFilePersister(self.path, lambda: b"x", failing)
        self.failureResultOf(p.persist(), OSError)
