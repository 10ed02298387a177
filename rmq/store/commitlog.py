"""CommitLog: every message record appended to a queue of mapped files (REFERENCE.md §6.2).

When a record (plus the 8-byte end marker) does not fit, the next file is created first and only
then the blank end-of-file record is written, so a failed creation leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from rmq.common.errors import MessageIllegal
from rmq.store.format import (
    BLANK_RECORD,
    BLANK_SIZE,
    I32,
    DispatchRequest,
    RecordError,
    check_record,
    write_blank,
)
from rmq.store.mappedfile import MappedFile, MappedFileQueue

log = logging.getLogger(__name__)


class CommitLog:
    """Append-only record log over a :class:`MappedFileQueue`."""

    def __init__(self, directory: str, file_size: int, preallocate: bool = True) -> None:
        self.file_size = file_size
        self.queue = MappedFileQueue(directory, file_size, preallocate)
        self.last_store_timestamp = 0

    # --- append ------------------------------------------------------------------------------

    def reserve(self, total: int) -> tuple[MappedFile, int]:
        """A file and position where ``total`` bytes fit, rolling to a new file if needed.

        Raises MessageIllegal when ``total`` can never fit, DiskFullError/StoreError when the next
        file cannot be created (nothing is written then).
        """
        if total + BLANK_SIZE > self.file_size:
            raise MessageIllegal(f"record of {total} bytes exceeds the CommitLog file size")
        last = self.queue.last()
        if last is None or last.is_full():
            mf = self.queue.last_for_write(0)
            return mf, mf.wrote_position
        if total + BLANK_SIZE <= last.remaining():
            return last, last.wrote_position
        nxt = self.queue.create(last.file_from_offset + self.file_size)
        write_blank(last.mm, last.wrote_position, last.remaining())
        last.wrote_position = self.file_size
        return nxt, 0

    def append(self, data: bytes, store_timestamp: int) -> int:
        """Append pre-encoded record bytes (already carrying their offsets); return the offset."""
        mf, pos = self.reserve(len(data))
        mf.mm[pos : pos + len(data)] = data
        mf.wrote_position = pos + len(data)
        self.last_store_timestamp = store_timestamp
        return mf.file_from_offset + pos

    def next_write_offset(self, total: int) -> int:
        """The offset where a record of ``total`` bytes will land (no side effects)."""
        last = self.queue.last()
        if last is None:
            return 0
        if last.is_full() or total + BLANK_SIZE > last.remaining():
            return last.file_from_offset + self.file_size
        return last.end_offset

    # --- read --------------------------------------------------------------------------------

    @property
    def max_offset(self) -> int:
        """Offset just past the last written byte."""
        return self.queue.max_offset()

    @property
    def min_offset(self) -> int:
        """Offset of the oldest byte still kept."""
        return self.queue.min_offset()

    def get_data(self, offset: int, size: int) -> memoryview | None:
        """A zero-copy view of ``size`` bytes at ``offset`` (None if not written or removed)."""
        mf = self.queue.find(offset)
        if mf is None:
            return None
        pos = offset - mf.file_from_offset
        if size <= 0 or pos + size > mf.wrote_position:
            return None
        return memoryview(mf.mm)[pos : pos + size]

    def get_record(self, offset: int) -> memoryview | None:
        """The whole record starting at ``offset``, by its TOTALSIZE field."""
        mf = self.queue.find(offset)
        if mf is None:
            return None
        pos = offset - mf.file_from_offset
        if pos + 8 > mf.wrote_position:
            return None
        (size,) = I32.unpack_from(mf.mm, pos)
        return self.get_data(offset, size)

    # --- recovery ----------------------------------------------------------------------------

    def load(self) -> None:
        """Map the existing files."""
        self.queue.load()

    def scan(
        self, start_index: int, check_crc: bool
    ) -> Iterator[tuple[MappedFile, int, DispatchRequest]]:
        """Yield valid records from file ``start_index`` on; stops at the first invalid one.

        After the generator ends, :attr:`scan_end` is the offset just past the last valid data.
        """
        files = self.queue.files
        self.scan_end = files[start_index].file_from_offset if files else 0
        for mf in files[start_index:]:
            pos = 0
            while True:
                try:
                    res = check_record(mf.mm, pos, self.file_size, check_crc)
                except RecordError as e:
                    log.warning("commit log %s: %s; truncating", mf.path, e)
                    self.scan_end = mf.file_from_offset + pos
                    return
                if isinstance(res, DispatchRequest):
                    if res.commit_log_offset != mf.file_from_offset + pos:
                        log.warning("commit log %s: record at %d has wrong offset", mf.path, pos)
                        self.scan_end = mf.file_from_offset + pos
                        return
                    yield mf, pos, res
                    pos += res.size
                    self.scan_end = mf.file_from_offset + pos
                    continue
                if res == BLANK_RECORD:
                    self.scan_end = mf.file_from_offset + self.file_size
                    break  # next file
                self.scan_end = mf.file_from_offset + pos  # zeros: end of data
                return

    def set_end(self, end: int, proof_run: int) -> None:
        """Make ``end`` the write position: earlier files full, later data zeroed or deleted."""
        for mf in self.queue.files:
            if mf.file_from_offset + self.file_size <= end:
                mf.wrote_position = mf.flushed_position = self.file_size
        self.queue.truncate(end, proof_run)
        last = self.queue.last()
        if last is not None and last.file_from_offset <= end:
            last.wrote_position = last.flushed_position = end - last.file_from_offset

    def first_store_timestamp(self, index: int) -> int:
        """Store time of the first record of file ``index`` (-1 when it has none)."""
        mf = self.queue.files[index]
        try:
            res = check_record(mf.mm, 0, self.file_size, False)
        except RecordError:
            return -1
        if isinstance(res, DispatchRequest):
            return res.store_timestamp
        return -1
