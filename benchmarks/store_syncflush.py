"""SYNC_FLUSH group commit with 1, 16 and 256 concurrent puts, beside the disk's fsync rate."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import reactor
from twisted.internet.defer import Deferred

from benchmarks._store_common import cleanup, message, tmpdir
from rmq.store.config import StoreConfig
from rmq.store.message_store import MessageStore

SECONDS = float(os.environ.get("SECONDS_PER_RUN", "2"))


def fsync_rate() -> float:
    """fsyncs per second of 1 KiB appends with plain file writes."""
    root = tmpdir()
    try:
        fd = os.open(os.path.join(root, "f"), os.O_WRONLY | os.O_CREAT)
        n, t0, data = 0, time.perf_counter(), os.urandom(1024)
        while time.perf_counter() - t0 < SECONDS:
            os.write(fd, data)
            os.fsync(fd)
            n += 1
        os.close(fd)
        return n / (time.perf_counter() - t0)
    finally:
        cleanup(root)


async def one_run(concurrency: int) -> tuple[float, int]:
    root = tmpdir()
    cfg = StoreConfig.from_mapping(
        {
            "storePathRootDir": root,
            "mappedFileSizeCommitLog": 256 << 20,
            "flushDiskType": "SYNC_FLUSH",
        }
    )
    store = MessageStore(cfg, reactor)
    store.start()
    body = os.urandom(1024)
    done = [0]
    stop_at = time.perf_counter() + SECONDS
    finished: Deferred[None] = Deferred()
    live = [concurrency]

    def next_put(_: object = None) -> None:
        if time.perf_counter() >= stop_at:
            live[0] -= 1
            if live[0] == 0:
                finished.callback(None)
            return
        done[0] += 1
        store.put_message(message(done[0], body)).addCallback(next_put)

    t0 = time.perf_counter()
    for _ in range(concurrency):
        next_put()
    await finished
    elapsed = time.perf_counter() - t0
    runs = store.flusher.runs
    await store.shutdown()
    cleanup(root)
    return done[0] / elapsed, runs


async def main() -> None:
    print("SYNC_FLUSH group commit, 1 KiB body (TAGS, KEYS, UNIQ_KEY), real reactor + thread pool")
    for c in (1, 16, 256):
        base = fsync_rate()  # baseline measured beside each figure (the disk drifts)
        rate, runs = await one_run(c)
        n = rate * SECONDS
        print(
            f"  {c:>3} concurrent puts: {rate:,.0f} acked msg/s, {runs} flush runs "
            f"({n / max(runs, 1):.1f} puts/run); disk {base:,.0f} fsync/s (1 KiB write + fsync)"
        )


def entry() -> None:
    def go() -> None:
        d = Deferred.fromCoroutine(main())
        d.addErrback(lambda f: f.printTraceback())
        d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined]

    reactor.callWhenRunning(go)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    entry()
