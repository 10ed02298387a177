"""Read rate of 32-message gets from a hot (page-cached) CommitLog file."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._store_common import cleanup, open_store, tmpdir
from rmq.store.message_store import GetStatus, MessageToStore

N = 50_000


def main() -> None:
    root = tmpdir()
    try:
        store = open_store(root, 128 << 20)
        body = os.urandom(1024)
        for i in range(N):
            store.put_message(MessageToStore("Hot", 0, body, properties=f"TAGS\x01T{i % 4}"))
        gets = msgs = nbytes = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 2.0:
            off = 0
            while True:
                got = store.get_message("g", "Hot", 0, off, 32)
                if got.status is not GetStatus.FOUND:
                    break
                gets += 1
                msgs += got.message_count
                nbytes += sum(len(b) for b in got.buffers)
                off = got.next_begin_offset
                del got
        el = time.perf_counter() - t0
        print(
            f"get_message(32) from a hot file, 1 KiB body ({nbytes / max(msgs, 1):.0f} B/record), "
            f"ASYNC_FLUSH: {gets / el:,.0f} gets/s, {msgs / el:,.0f} msg/s, "
            f"{nbytes / el / 1e6:,.0f} MB/s (zero-copy slices)"
        )
        store.shutdown()
    finally:
        cleanup(root)


if __name__ == "__main__":
    main()
