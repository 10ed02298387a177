"""Broker config JSON files (topics.json, subscriptionGroup.json, ...) written as RocketMQ does.

Java's ``MixAll.string2File`` writes ``<file>.tmp``, keeps the previous content as ``<file>.bak``
and renames the temporary file over the old one; loading falls back to ``.bak`` when the file
is missing or empty. Here every write is also fsynced, and it runs through a ``Runner`` (a
thread pool in the broker) so the reactor thread never waits on the disk. ``JsonFilePersister``
serialises writes: a persist asked for while one is in flight causes exactly one more write of
the latest state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from rmq.common import fastjson
from rmq.common.errors import ConfigError
from rmq.common.route import DataVersion

__all__ = [
    "JsonFilePersister",
    "Runner",
    "VersionedConfigTable",
    "read_config_file",
    "synchronous_runner",
    "thread_runner",
    "write_config_file",
]

T = TypeVar("T")
_log = Logger()

Runner = Callable[[Callable[[], None]], Deferred[None]]
"""Runs a blocking function off the reactor thread and fires when it is done."""


def synchronous_runner(work: Callable[[], None]) -> Deferred[None]:
    """A ``Runner`` that runs the work at once (tests and tools)."""
    return maybeDeferred(work)


def thread_runner(reactor: IReactorFromThreads, pool: ThreadPool) -> Runner:
    """A ``Runner`` that runs the work in ``pool`` and fires on the reactor thread."""

    def run(work: Callable[[], None]) -> Deferred[None]:
        return deferToThreadPool(reactor, pool, work)

    return run


def _write_synced(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_config_file(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, keeping the old content in ``path.bak``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    _write_synced(tmp, data)
    try:
        with open(path, "rb") as f:
            old = f.read()
    except FileNotFoundError:
        old = None
    if old:
        _write_synced(f"{path}.bak.tmp", old)
        os.replace(f"{path}.bak.tmp", f"{path}.bak")
    os.replace(tmp, path)
    _fsync_dir(directory)


def read_config_file(path: str) -> bytes | None:
    """The file's content, or its ``.bak`` when it is missing or empty; None when neither."""
    for candidate in (path, f"{path}.bak"):
        try:
            with open(candidate, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        if data.strip():
            return data
    return None


def load_json_file(path: str) -> Mapping[Any, Any] | None:
    """Parse a config file (lenient fastjson reader); ConfigError naming the file if damaged."""
    raw = read_config_file(path)
    if raw is None:
        return None
    try:
        obj = fastjson.loads(raw)
    except (fastjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(obj, Mapping):
        raise ConfigError(f"config file {path} does not hold a JSON object")
    return obj


def pretty_json(obj: Any) -> bytes:
    """Pretty-printed JSON with sorted keys, as fastjson's prettyFormat writes these files."""
    return json.dumps(obj, indent="\t", sort_keys=True, ensure_ascii=False).encode("utf-8")


class JsonFilePersister:
    """Writes ``encode()`` to ``path`` through ``runner``, never two writes at once.

    ``encode`` runs on the caller's (reactor) thread so it sees a consistent table; only the
    disk work goes to the runner.
    """

    def __init__(self, path: str, encode: Callable[[], bytes], runner: Runner) -> None:
        self.path = path
        self._encode = encode
        self._runner = runner
        self._writing = False
        self._dirty = False
        self._waiters: list[Deferred[None]] = []
        self._next_waiters: list[Deferred[None]] = []

    def persist(self) -> Deferred[None]:
        """Schedule a write of the current state; fires when that state is on disk."""
        d: Deferred[None] = Deferred()
        if self._writing:
            self._dirty = True
            self._next_waiters.append(d)
        else:
            self._waiters.append(d)
            self._start()
        return d

    def _start(self) -> None:
        self._writing = True
        data = self._encode()
        path = self.path
        self._runner(lambda: write_config_file(path, data)).addBoth(self._done)

    def _done(self, result: Failure | None) -> None:
        waiters, self._waiters = self._waiters, []
        self._writing = False
        if self._dirty:
            self._dirty = False
            self._waiters, self._next_waiters = self._next_waiters, []
            self._start()
        for d in waiters:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(None)


class VersionedConfigTable(Generic[T]):
    """A broker config table persisted as ``{"<table_key>": {name: item}, "dataVersion": ...}``.

    The shape shared by topics.json and subscriptionGroup.json: loading (stored entries
    override built-ins), the wrapper body the admin and registration codes send, and a
    DataVersion bumped and persisted on every change. Subclasses say how items convert.
    """

    table_key: ClassVar[str]
    what: ClassVar[str]

    def __init__(self, path: str, clock: IReactorTime, runner: Runner) -> None:
        self.path = path
        self.clock = clock
        self.data_version = DataVersion(self._now_ms(), 0)
        self._table: dict[str, T] = {}
        self._persister = JsonFilePersister(path, self.encode, runner)

    def _now_ms(self) -> int:
        return int(self.clock.seconds() * 1000)

    def item_from_obj(self, obj: Mapping[Any, Any], name: str) -> tuple[str, T]:
        raise NotImplementedError

    def item_to_obj(self, item: T) -> dict[str, Any]:
        raise NotImplementedError

    def load(self) -> None:
        """Read the file (or its .bak); stored entries override the built-in ones."""
        obj = load_json_file(self.path)
        if obj is None:
            return
        table = obj.get(self.table_key) or {}
        if not isinstance(table, Mapping):
            raise ConfigError(f"{self.path}: {self.table_key} is not an object")
        try:
            for name, raw in table.items():
                key, item = self.item_from_obj(raw, str(name))
                self._table[key] = item
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{self.path}: bad {self.what}: {exc}") from exc
        version = obj.get("dataVersion")
        if isinstance(version, Mapping):
            self.data_version = DataVersion.from_obj(version)

    def wrapper_json_dict(self) -> dict[str, Any]:
        """The wrapper body: ``{"<table_key>": {...}, "dataVersion": {...}}``."""
        return {
            "dataVersion": self.data_version.to_obj(),
            self.table_key: {n: self.item_to_obj(i) for n, i in self._table.items()},
        }

    def encode(self) -> bytes:
        """The file content for the current table."""
        return pretty_json(self.wrapper_json_dict())

    def persist(self) -> Deferred[None]:
        """Write the file in the background; fires when the current state is on disk."""
        return self._persister.persist()

    def _bump(self) -> None:
        """Record a change: new DataVersion, persisted in the background."""
        self.data_version = self.data_version.next_version(self._now_ms())
        self.persist().addErrback(lambda f: _log.failure("persisting {p} failed", f, p=self.path))
