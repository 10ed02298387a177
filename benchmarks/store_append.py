"""Append rate of 1 KiB messages with ASYNC_FLUSH, beside raw sequential write bandwidth."""

from __future__ import annotations

import os
import sys
import time

from twisted.internet.task import Clock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._store_common import cleanup, inline, message, raw_write, tmpdir
from rmq.store.config import StoreConfig
from rmq.store.message_store import MessageStore

N = int(os.environ.get("N", "200000"))
BATCH = 32


def run(batch: bool) -> tuple[float, float, int]:
    root = tmpdir()
    try:
        clock = Clock()
        clock.advance(time.time())
        cfg = StoreConfig.from_mapping(
            {"storePathRootDir": root, "mappedFileSizeCommitLog": 256 << 20}
        )
        store = MessageStore(cfg, clock, runner=inline, disk_usage=lambda _p: 0.1)
        store.start()
        body = os.urandom(1024)
        msgs = [message(i, body) for i in range(N)]
        t0 = time.perf_counter()
        if batch:
            for i in range(0, N, BATCH):
                store.put_messages(
                    [m for m in msgs[i : i + BATCH] if m.queue_id == 0] or msgs[i : i + 1]
                )
        else:
            for m in msgs:
                store.put_message(m)
        t_append = time.perf_counter() - t0
        store.shutdown()  # final fsync (inline)
        t_total = time.perf_counter() - t0
        return t_append, t_total, store.put_size_total
    finally:
        cleanup(root)


def main() -> None:
    t_append, t_total, nbytes = run(batch=False)
    root = tmpdir()
    try:
        raw_nosync = raw_write(os.path.join(root, "raw"), nbytes, 1 << 20, fsync=False)
        os.unlink(os.path.join(root, "raw"))
        raw_sync = raw_write(os.path.join(root, "raw"), nbytes, 1 << 20, fsync=True)
    finally:
        cleanup(root)
    mb = nbytes / 1e6
    print(f"store append (ASYNC_FLUSH, 1 KiB body, {N} msgs, {nbytes / N:.0f} B/record):")
    print(f"  {N / t_append:,.0f} msg/s, {mb / t_append:,.1f} MB/s (append only)")
    print(f"  {N / t_total:,.0f} msg/s, {mb / t_total:,.1f} MB/s (incl. final fsync)")
    print(f"raw sequential write of {mb:.0f} MB, 1 MiB writes, same disk:")
    print(f"  {mb / raw_nosync:,.1f} MB/s (page cache), {mb / raw_sync:,.1f} MB/s (with fsync)")
    print(f"ratio store/raw (both with fsync): {raw_sync / t_total:.2f}")


if __name__ == "__main__":
    main()
