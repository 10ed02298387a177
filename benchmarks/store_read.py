"""Read rate of 32-message gets from a hot (page-cached) CommitLog file."""

from __future__ import annotations

import os
import sys
import time

from twisted.internet.task import Clock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._store_common import cleanup, inline, tmpdir
from rmq.store.config import StoreConfig
from rmq.store.message_store import GetStatus, MessageStore, MessageToStore

N = 50_000


def main() -> None:
    root = tmpdir()
    try:
        clock = Clock()
        clock.advance(time.time())
        cfg = StoreConfig.from_mapping(
            {"storePathRootDir": root, "mappedFileSizeCommitLog": 128 << 20}
        )
        store = MessageStore(cfg, clock, runner=inline, disk_usage=lambda _p: 0.1)
        store.start()
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
