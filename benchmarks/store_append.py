"""Append rate of 1 KiB messages with ASYNC_FLUSH, beside raw sequential write bandwidth.

Three entry points: put_message (Deferred per put), put_message_nowait (PutResult at once) and
put_messages (batches of 32 of one queue). Each figure is printed beside the raw write bandwidth
of the same disk measured in the same run with plain file writes of the same total size.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._store_common import cleanup, message, open_store, raw_write, tmpdir

N = int(os.environ.get("N", "200000"))
BATCH = 32
MODES = ("put_message", "put_message_nowait", f"put_messages x{BATCH}")


def run(mode: str) -> tuple[float, float, int]:
    """(append seconds, seconds incl. final fsync, bytes) for N messages."""
    root = tmpdir()
    try:
        store = open_store(root, 256 << 20)
        body = os.urandom(1024)
        msgs = [message(i, body) for i in range(N)]
        if mode.startswith("put_messages"):
            for i, m in enumerate(msgs):
                m.queue_id = (i // BATCH) & 7  # a batch shares its queue
        t0 = time.perf_counter()
        if mode == "put_message":
            for m in msgs:
                store.put_message(m)
        elif mode == "put_message_nowait":
            for m in msgs:
                store.put_message_nowait(m)
        else:
            for i in range(0, N, BATCH):
                store.put_messages(msgs[i : i + BATCH])
        t_append = time.perf_counter() - t0
        store.shutdown()  # final fsync (inline)
        t_total = time.perf_counter() - t0
        return t_append, t_total, store.put_size_total
    finally:
        cleanup(root)


def raw(nbytes: int) -> tuple[float, float]:
    """Raw sequential write MB/s of ``nbytes`` (page cache only, then with fsync)."""
    root = tmpdir()
    try:
        path = os.path.join(root, "raw")
        nosync = raw_write(path, nbytes, 1 << 20, fsync=False)
        os.unlink(path)
        sync = raw_write(path, nbytes, 1 << 20, fsync=True)
    finally:
        cleanup(root)
    return nbytes / 1e6 / nosync, nbytes / 1e6 / sync


def main() -> None:
    print(f"store append: ASYNC_FLUSH, 1 KiB body (TAGS, KEYS, UNIQ_KEY), {N} msgs, index on")
    for mode in MODES:
        t_append, t_total, nbytes = run(mode)
        raw_cache, raw_sync = raw(nbytes)
        mb = nbytes / 1e6
        store_sync = mb / t_total
        print(f"{mode} ({nbytes / N:.0f} B/record, {mb:.0f} MB):")
        print(f"  store {N / t_append:,.0f} msg/s, {mb / t_append:,.1f} MB/s append only;")
        print(f"        {N / t_total:,.0f} msg/s, {store_sync:,.1f} MB/s incl. final fsync")
        print(f"  raw   {raw_cache:,.1f} MB/s page cache, {raw_sync:,.1f} MB/s with fsync")
        print(f"  ratio store/raw (both with fsync): {store_sync / raw_sync:.3f}")


if __name__ == "__main__":
    main()
