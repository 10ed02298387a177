"""ConsumeQueue: per topic and queue id, 20-byte units (CommitLog offset, size, tag hash).

Unit index = logical (queue) offset. Units are written by the dispatcher at the position their
record's QUEUEOFFSET says, so re-dispatching after a crash is idempotent.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from collections.abc import Set as AbstractSet

from rmq.store.format import CQ_FILLER, CQ_UNIT, CQ_UNIT_SIZE, cq_unit_valid
from rmq.store.mappedfile import MappedFile, MappedFileQueue

log = logging.getLogger(__name__)

_FILLER_SIZE = CQ_FILLER[1]
_pack_unit = CQ_UNIT.pack_into


class ConsumeQueue:
    """One topic/queue's index into the CommitLog."""

    def __init__(
        self, root: str, topic: str, queue_id: int, file_size: int, preallocate: bool = True
    ) -> None:
        self.topic = topic
        self.queue_id = queue_id
        self.file_size = file_size
        self.queue = MappedFileQueue(
            os.path.join(root, topic, str(queue_id)), file_size, preallocate
        )
        self.max_physic_offset = 0  # offset + size of the last unit written
        self.min_logic_offset = 0  # byte offset of the first valid unit
        self.dirty: set[MappedFile] = set()

    # --- write -------------------------------------------------------------------------------

    def put(self, commit_log_offset: int, size: int, tags_code: int, queue_offset: int) -> bool:
        """Write the unit for ``queue_offset``; skip when already there. False on a broken order."""
        expect = queue_offset * CQ_UNIT_SIZE
        files = self.queue.files
        if files:  # fast path: the unit goes right at the end of the last file
            mf = files[-1]
            wp = mf.wrote_position
            if mf.file_from_offset + wp == expect and wp < self.file_size:
                _pack_unit(mf.mm, wp, commit_log_offset, size, tags_code)
                mf.wrote_position = wp + CQ_UNIT_SIZE
                self.dirty.add(mf)
                self.max_physic_offset = commit_log_offset + size
                return True
        current = self.queue.max_offset()
        if not self.queue.files:
            current = expect
            self.min_logic_offset = expect
        if expect < current:
            return True  # already built (re-dispatch after recovery)
        if expect > current:
            log.warning(
                "consume queue %s-%d: gap from %d to %d filled",
                self.topic,
                self.queue_id,
                current // CQ_UNIT_SIZE,
                queue_offset,
            )
            while current < expect:
                self._write(current, *CQ_FILLER)
                current += CQ_UNIT_SIZE
        self._write(expect, commit_log_offset, size, tags_code)
        self.max_physic_offset = commit_log_offset + size
        return True

    def ensure_room(self, queue_offset: int, count: int) -> None:
        """Create now the files units ``queue_offset .. +count`` need (DiskFullError if none)."""
        end = (queue_offset + count) * CQ_UNIT_SIZE
        files = self.queue.files
        if files and end <= files[-1].file_from_offset + self.file_size:
            return
        self.queue.ensure_room(queue_offset * CQ_UNIT_SIZE, end)

    def _write(self, at: int, offset: int, size: int, tags_code: int) -> None:
        mf = self.queue.last_for_write(at)
        if mf.wrote_position == 0 and mf.file_from_offset < at:
            # first file of a queue starting mid-way: fill its head with filler units
            pos = 0
            while mf.file_from_offset + pos < at:
                CQ_UNIT.pack_into(mf.mm, pos, *CQ_FILLER)
                pos += CQ_UNIT_SIZE
            mf.wrote_position = pos
        CQ_UNIT.pack_into(mf.mm, mf.wrote_position, offset, size, tags_code)
        mf.wrote_position += CQ_UNIT_SIZE
        self.dirty.add(mf)

    # --- read --------------------------------------------------------------------------------

    @property
    def max_offset(self) -> int:
        """Next queue offset to be written (number of units including fillers)."""
        return self.queue.max_offset() // CQ_UNIT_SIZE

    @property
    def min_offset(self) -> int:
        """First readable queue offset."""
        return self.min_logic_offset // CQ_UNIT_SIZE

    def get_unit(self, index: int) -> tuple[int, int, int] | None:
        """(commitLogOffset, size, tagsCode) at queue offset ``index``, or None."""
        at = index * CQ_UNIT_SIZE
        if at < self.min_logic_offset:
            return None
        mf = self.queue.find(at)
        if mf is None or at - mf.file_from_offset >= mf.wrote_position:
            return None
        off, size, tags = CQ_UNIT.unpack_from(mf.mm, at - mf.file_from_offset)
        return int(off), int(size), int(tags)

    def iter_units(self, index: int, max_bytes: int) -> Iterator[tuple[int, int, int]]:
        """Units from ``index`` to the end of its file (at most ``max_bytes`` worth)."""
        at = index * CQ_UNIT_SIZE
        mf = self.queue.find(at)
        if mf is None:
            return
        pos = at - mf.file_from_offset
        stop = min(mf.wrote_position, pos + max_bytes)
        mm = mf.mm
        unpack = CQ_UNIT.unpack_from
        while pos < stop:
            yield unpack(mm, pos)
            pos += CQ_UNIT_SIZE

    def next_file_offset(self, index: int) -> int:
        """Queue offset where the file after the one holding ``index`` starts."""
        per_file = self.file_size // CQ_UNIT_SIZE
        return (index // per_file + 1) * per_file

    # --- recovery and retention ----------------------------------------------------------------

    def load(self) -> None:
        """Map this queue's files."""
        self.queue.load()

    def recover(self) -> None:
        """Find the last valid unit scanning from the third-last file; cut everything after."""
        files = self.queue.files
        if not files:
            return
        start = max(0, len(files) - 3)
        end = files[start].file_from_offset
        max_phys = 0
        for mf in files[start:]:
            pos = 0
            mm = mf.mm
            while pos < self.file_size:
                off, size, _tags = CQ_UNIT.unpack_from(mm, pos)
                if not cq_unit_valid(off, size):
                    break
                if size != _FILLER_SIZE:
                    max_phys = off + size
                pos += CQ_UNIT_SIZE
            mf.wrote_position = mf.flushed_position = pos
            end = mf.file_from_offset + pos
            if pos < self.file_size:
                break
        self.queue.truncate(end, self.file_size)
        self.max_physic_offset = max_phys
        self.min_logic_offset = max(self.min_logic_offset, self.queue.min_offset())

    def truncate_dirty(self, phys_end: int) -> None:
        """Drop trailing units whose record ends past ``phys_end`` (after CommitLog truncation)."""
        index = self.max_offset
        first = self.queue.min_offset() // CQ_UNIT_SIZE
        while index > first:
            unit = self.get_unit(index - 1)
            if unit is None or unit[1] == _FILLER_SIZE or unit[0] + unit[1] <= phys_end:
                break
            index -= 1
        if index < self.max_offset:
            self.queue.truncate(index * CQ_UNIT_SIZE, self.file_size)
        last = self.get_unit(index - 1) if index > first else None
        self.max_physic_offset = last[0] + last[1] if last and last[1] != _FILLER_SIZE else 0
        if not self.queue.files:
            self.min_logic_offset = index * CQ_UNIT_SIZE

    def correct_min_offset(self, phys_min: int) -> None:
        """Move the min offset to the first unit whose record is still in the CommitLog."""
        lo = max(self.min_logic_offset, self.queue.min_offset()) // CQ_UNIT_SIZE
        hi = self.max_offset
        while lo < hi:
            mid = (lo + hi) // 2
            unit = self.get_unit(mid)
            if unit is not None and unit[1] != _FILLER_SIZE and unit[0] >= phys_min:
                hi = mid
            else:
                lo = mid + 1
        self.min_logic_offset = lo * CQ_UNIT_SIZE

    def delete_expired(self, phys_min: int, busy: AbstractSet[MappedFile] = frozenset()) -> int:
        """Delete files whose every unit points below ``phys_min`` (keeping the last file).

        Stops at a file in ``busy`` (being fsynced): a later pass deletes it.
        """
        count = 0
        files = self.queue.files
        while len(files) - count > 1:
            mf = files[count]
            if mf in busy:
                break
            last = CQ_UNIT.unpack_from(mf.mm, self.file_size - CQ_UNIT_SIZE)
            if last[0] + last[1] > phys_min and last[1] != _FILLER_SIZE:
                break
            count += 1
        if count:
            self.dirty.difference_update(self.queue.delete_first(count))
        self.correct_min_offset(phys_min)
        return count

    def destroy(self) -> None:
        """Delete all files of this queue."""
        self.queue.delete_first(len(self.queue.files))
        self.queue.drop_spares()
        self.dirty.clear()
        with contextlib.suppress(OSError):
            os.rmdir(self.queue.directory)
        self.max_physic_offset = 0
        self.min_logic_offset = 0
