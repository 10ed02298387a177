"""The checkpoint file: store times of the last flushed CommitLog, ConsumeQueue and index data.

One 4 KiB page; abnormal recovery starts from the newest CommitLog file whose first record is
older than what the checkpoint says is safely on disk (REFERENCE.md §6.5 and §6.9).
"""

from __future__ import annotations

import os

from rmq.store.format import CHECKPOINT, CHECKPOINT_FILE_SIZE


class Checkpoint:
    """In-memory checkpoint values with load and (thread-safe) save."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.physic_msg_timestamp = 0
        self.logics_msg_timestamp = 0
        self.index_msg_timestamp = 0

    def load(self) -> None:
        """Read the file if present (missing or short files leave zeros)."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read(CHECKPOINT.size)
        except FileNotFoundError:
            return
        if len(raw) == CHECKPOINT.size:
            (
                self.physic_msg_timestamp,
                self.logics_msg_timestamp,
                self.index_msg_timestamp,
            ) = CHECKPOINT.unpack(raw)

    def snapshot(self) -> bytes:
        """The page to write, taken on the reactor thread."""
        page = bytearray(CHECKPOINT_FILE_SIZE)
        CHECKPOINT.pack_into(
            page, 0, self.physic_msg_timestamp, self.logics_msg_timestamp, self.index_msg_timestamp
        )
        return bytes(page)

    def write(self, page: bytes) -> None:
        """Write and fsync a page from :meth:`snapshot`; meant to run in a worker thread."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, page, 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    def min_timestamp(self, with_index: bool) -> int:
        """The oldest of the recorded times (the index time only when asked)."""
        m = min(self.physic_msg_timestamp, self.logics_msg_timestamp)
        if with_index and self.index_msg_timestamp:
            m = min(m, self.index_msg_timestamp)
        return m
