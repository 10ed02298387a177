"""Child process for the crash test: SYNC_FLUSH puts, printing each acknowledged message.

Usage: python crash_writer.py <store root>. Runs until killed; prints ``ACK <i> <queue offset>``
after each put's Deferred fires with PUT_OK, so every printed message is on disk.
"""

from __future__ import annotations

import sys

from twisted.internet import reactor

from rmq.store.config import StoreConfig
from rmq.store.message_store import MessageStore, MessageToStore, PutResult, PutStatus

IN_FLIGHT = 16


def body_for(i: int) -> bytes:
    """Deterministic body of message ``i`` (the parent checks it byte for byte)."""
    return (b"msg-%06d-" % i) * (1 + i % 40)


def main(root: str) -> None:
    config = StoreConfig.from_mapping(
        {
            "storePathRootDir": root,
            "mappedFileSizeCommitLog": 256 * 1024,
            "mappedFileSizeConsumeQueue": 20 * 1000,
            "flushDiskType": "SYNC_FLUSH",
            "maxHashSlotNum": 1000,
            "maxIndexNum": 4000,
            "maxMessageSize": 64 * 1024,
        }
    )
    store = MessageStore(config, reactor, store_host=("127.0.0.1", 10911))
    store.start()
    counter = [0]

    def put_next() -> None:
        i = counter[0]
        counter[0] += 1
        msg = MessageToStore(
            topic="Crash",
            queue_id=0,
            body=body_for(i),
            properties=f"KEYS\x01k{i}",
            born_timestamp=i,
        )
        store.put_message(msg).addCallback(acked, i)

    def acked(result: PutResult, i: int) -> None:
        if result.status is PutStatus.PUT_OK:
            sys.stdout.write(f"ACK {i} {result.queue_offset}\n")
            sys.stdout.flush()
        put_next()

    for _ in range(IN_FLIGHT):
        put_next()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1])
