"""Shared bits for the store benchmarks (not a test)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock

from rmq.store.config import StoreConfig
from rmq.store.message_store import MessageStore, MessageToStore


def tmpdir() -> str:
    """A scratch directory on the disk under test (BENCH_DIR, else the system temp dir)."""
    return tempfile.mkdtemp(prefix="rmq-bench-", dir=os.environ.get("BENCH_DIR"))


def cleanup(path: str) -> None:
    """Remove a scratch directory."""
    shutil.rmtree(path, ignore_errors=True)


def inline(f: Callable[[], None]) -> Deferred[None]:
    """Run blocking work at once (single-threaded figures)."""
    return maybeDeferred(f)


def open_store(root: str, file_size: int) -> MessageStore:
    """A started ASYNC_FLUSH store on a Clock set to now, blocking work run inline."""
    clock = Clock()
    clock.advance(time.time())
    cfg = StoreConfig.from_mapping({"storePathRootDir": root, "mappedFileSizeCommitLog": file_size})
    store = MessageStore(cfg, clock, runner=inline, disk_usage=lambda _p: 0.1)
    store.start()
    return store


def message(i: int, body: bytes) -> MessageToStore:
    """A 1 KiB message with realistic properties (tags, keys, unique id)."""
    return MessageToStore(
        topic="BenchTopic",
        queue_id=i & 7,
        body=body,
        properties=f"TAGS\x01TagA\x02KEYS\x01k{i}\x02UNIQ_KEY\x01{i:032X}",
        born_timestamp=1,
        born_host=("127.0.0.1", 40000),
    )


def raw_write(path: str, total: int, chunk: int, fsync: bool) -> float:
    """Seconds to write ``total`` bytes sequentially with plain writes (optionally fsync)."""
    data = os.urandom(chunk)
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        left = total
        while left > 0:
            f.write(data)
            left -= chunk
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    return time.perf_counter() - t0
