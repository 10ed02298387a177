"""Namespaced key/value configuration of the name server, persisted to ``kvConfig.json``.

The file has Java's shape, ``{"configTable":{"<namespace>":{"k":"v"}}}``. Every change is written
atomically (temporary file, fsync, rename, directory fsync) by ``runner``, which the service backs
with a thread pool so the reactor thread never waits on the disk. Writes never overlap: a change
made while a write is in flight schedules exactly one more write of the latest state.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.common import fastjson
from rmq.common.errors import ConfigError
from rmq.common.route import KVTable

__all__ = ["KVConfigManager", "Runner", "atomic_write", "synchronous_runner"]

Runner = Callable[[Callable[[], None]], Deferred[None]]
"""Runs a blocking function off the reactor thread and fires when it is done."""

_log = Logger()


def synchronous_runner(work: Callable[[], None]) -> Deferred[None]:
    """A ``Runner`` that runs the work at once (tests and tools)."""
    return maybeDeferred(work)


def atomic_write(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new content."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class KVConfigManager:
    """The KV tables in memory; each change triggers one background persist."""

    def __init__(self, path: str, runner: Runner = synchronous_runner) -> None:
        self.path = path
        self.table: dict[str, dict[str, str]] = {}
        self._runner = runner
        self._writing: Deferred[None] | None = None
        self._dirty = False
        self._idle: list[Deferred[None]] = []
        self.version = 0
        """Bumped on every change, so callers can cache answers that read the table."""

    def load(self) -> None:
        """Read the file if it exists (at start-up); a damaged file stops start-up."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return
        if not raw.strip():
            return
        try:
            obj = fastjson.loads(raw)
            table = obj.get("configTable") or {}
            self.table = {
                str(ns): {str(k): str(v) for k, v in kv.items()} for ns, kv in table.items()
            }
        except (fastjson.JSONDecodeError, AttributeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"kvConfigPath {self.path}: cannot load: {exc}") from exc

    # --- operations --------------------------------------------------------

    def put(self, namespace: str, key: str, value: str) -> None:
        """Set a value and persist."""
        self.table.setdefault(namespace, {})[key] = value
        self._changed()

    def get(self, namespace: str, key: str) -> str | None:
        """A value, or None when the namespace or key is unknown."""
        return self.table.get(namespace, {}).get(key)

    def delete(self, namespace: str, key: str) -> None:
        """Remove a key (an emptied namespace is kept, as Java does) and persist if it existed."""
        kv = self.table.get(namespace)
        if kv is not None and kv.pop(key, None) is not None:
            self._changed()

    def namespace(self, namespace: str) -> KVTable | None:
        """All keys of a namespace, or None when it is unknown."""
        kv = self.table.get(namespace)
        if kv is None:
            return None
        return KVTable(dict(kv))

    # --- persistence ------------------------------------------------------

    def snapshot(self) -> bytes:
        """The file content for the current state."""
        return fastjson.dumpb({"configTable": self.table})

    def _changed(self) -> None:
        self.version += 1
        if self._writing is not None:
            self._dirty = True
            return
        self._start_write()

    def _start_write(self) -> None:
        self._dirty = False
        data = self.snapshot()
        path = self.path
        d = self._runner(lambda: atomic_write(path, data))
        self._writing = d
        d.addErrback(self._write_failed)
        d.addBoth(self._write_done)

    def _write_failed(self, failure: Failure) -> None:
        _log.failure("cannot persist {path}", failure, path=self.path)

    def _write_done(self, _: object) -> None:
        self._writing = None
        if self._dirty:
            self._start_write()
            return
        idle, self._idle = self._idle, []
        for d in idle:
            d.callback(None)

    def flushed(self) -> Deferred[None]:
        """Fires once every change so far is on disk (or failed and was logged)."""
        if self._writing is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idle.append(d)
        return d
