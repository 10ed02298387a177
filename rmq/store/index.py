"""IndexFile: hash index from ``topic#key`` to CommitLog offsets (REFERENCE.md §6.4).

Layout: 40-byte header, ``slots`` int32 slots (newest entry number per hash), then 20-byte
entries chained through ``prevIndex``. Entry numbers start at 1. Lookups compare hashes only, so
callers re-check the keys of the records they get back.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet

from rmq.common.errors import StoreError
from rmq.common.message import POW31, java_hash32
from rmq.store.format import (
    INDEX_ENTRY,
    INDEX_ENTRY_SIZE,
    INDEX_HEADER,
    INDEX_HEADER_SIZE,
    INDEX_SLOT,
    INDEX_SLOT_SIZE,
    DispatchRequest,
    index_file_size,
    index_key_hash,
)
from rmq.store.mappedfile import MappedFile, retry_close

log = logging.getLogger(__name__)

_MAX_DIFF = 0x7FFFFFFF
_POW_LIMIT = len(POW31) - 1
_unpack_slot = INDEX_SLOT.unpack_from
_pack_slot = INDEX_SLOT.pack_into
_pack_entry = INDEX_ENTRY.pack_into


def _key_hash(prefix_hash: int, topic: str, key: str) -> int:
    """:func:`index_key_hash` of ``topic#key`` from the cached hash of ``topic#``.

    Java's hash of a concatenation is ``h(a) * 31**len(b) + h(b)`` (mod 2**32).
    """
    n = len(key)
    if n > _POW_LIMIT or not key.isascii():
        return index_key_hash(topic + "#" + key)
    u = (prefix_hash * POW31[n] + java_hash32(key)) & 0xFFFFFFFF
    if u < 0x80000000:
        return u
    return 0 if u == 0x80000000 else 0x100000000 - u


def index_file_name(now_ms: int) -> str:
    """``yyyyMMddHHmmssSSS`` in local time."""
    lt = time.localtime(now_ms / 1000.0)
    return time.strftime("%Y%m%d%H%M%S", lt) + f"{now_ms % 1000:03d}"


class IndexFile:
    """One mapped index file."""

    def __init__(self, path: str, slots: int, entries: int, preallocate: bool = True) -> None:
        self.slots = slots
        self.max_entries = entries
        self.mf = MappedFile(path, 0, index_file_size(slots, entries), preallocate)
        (
            self.begin_timestamp,
            self.end_timestamp,
            self.begin_phy_offset,
            self.end_phy_offset,
            slot_count,
            self.index_count,
        ) = INDEX_HEADER.unpack_from(self.mf.mm, 0)
        self.hash_slot_count = slot_count
        if self.index_count == 0:
            self.index_count = 1
        self.dirty = False
        self.entries_pos = INDEX_HEADER_SIZE + slots * INDEX_SLOT_SIZE

    @property
    def path(self) -> str:
        """The file's path."""
        return self.mf.path

    def is_full(self) -> bool:
        """True when no entry is left."""
        return bool(self.index_count >= self.max_entries)

    def write_header(self) -> None:
        """Write the in-memory header fields into the file."""
        INDEX_HEADER.pack_into(
            self.mf.mm,
            0,
            self.begin_timestamp,
            self.end_timestamp,
            self.begin_phy_offset,
            self.end_phy_offset,
            self.hash_slot_count,
            self.index_count,
        )

    def put(self, key: str, phy_offset: int, store_ts: int) -> bool:
        """Add an entry and write the header; False when the file is full."""
        if not self.put_hash(index_key_hash(key), phy_offset, store_ts):
            return False
        self.write_header()
        return True

    def put_hash(self, key_hash: int, phy_offset: int, store_ts: int) -> bool:
        """Add an entry by key hash without writing the header (callers then call
        :meth:`write_header` once per record); False when the file is full."""
        count = self.index_count
        if count >= self.max_entries:
            return False
        mm = self.mf.mm
        slot_pos = INDEX_HEADER_SIZE + (key_hash % self.slots) * INDEX_SLOT_SIZE
        (prev,) = _unpack_slot(mm, slot_pos)
        if prev < 0 or prev > count:
            prev = 0
        if count <= 1:
            self.begin_timestamp = store_ts
            self.begin_phy_offset = phy_offset
        diff = (store_ts - self.begin_timestamp) // 1000
        if diff < 0:
            diff = 0
        elif diff > _MAX_DIFF:
            diff = _MAX_DIFF
        _pack_entry(
            mm, self.entries_pos + count * INDEX_ENTRY_SIZE, key_hash, phy_offset, diff, prev
        )
        _pack_slot(mm, slot_pos, count)
        if prev == 0:
            self.hash_slot_count += 1
        self.index_count = count + 1
        self.end_phy_offset = phy_offset
        self.end_timestamp = store_ts
        self.dirty = True
        return True

    def overlaps(self, begin: int, end: int) -> bool:
        """True when the file's time range meets [begin, end]."""
        return bool(self.begin_timestamp <= end and self.end_timestamp >= begin)

    def select(self, key: str, max_num: int, begin: int, end: int, out: list[int]) -> None:
        """Append CommitLog offsets whose key hash matches within [begin, end], newest first."""
        mm = self.mf.mm
        key_hash = index_key_hash(key)
        slot_pos = INDEX_HEADER_SIZE + (key_hash % self.slots) * INDEX_SLOT_SIZE
        (cur,) = INDEX_SLOT.unpack_from(mm, slot_pos)
        base = INDEX_HEADER_SIZE + self.slots * INDEX_SLOT_SIZE
        seen = 0
        while 0 < cur < self.index_count and len(out) < max_num and seen < self.max_entries:
            seen += 1
            h, phy, diff, prev = INDEX_ENTRY.unpack_from(mm, base + cur * INDEX_ENTRY_SIZE)
            ts = self.begin_timestamp + diff * 1000
            if h == key_hash and begin <= ts <= end:
                out.append(int(phy))
            if prev <= 0 or prev >= cur or ts < begin:
                break
            cur = prev


class IndexService:
    """The list of IndexFiles: builds entries for dispatched records and answers key queries."""

    def __init__(
        self,
        directory: str,
        slots: int,
        entries: int,
        clock: Callable[[], float],
        preallocate: bool = True,
    ) -> None:
        self.directory = directory
        self.slots = slots
        self.entries = entries
        self.clock = clock
        self.preallocate = preallocate
        self.files: list[IndexFile] = []
        self.pending_destroy: list[MappedFile] = []
        self._prefix_hashes: dict[str, int] = {}  # java_hash32(topic + "#")

    def load(self) -> None:
        """Map the existing index files, oldest first."""
        if not os.path.isdir(self.directory):
            return
        size = index_file_size(self.slots, self.entries)
        for name in sorted(os.listdir(self.directory)):
            path = os.path.join(self.directory, name)
            if not name.isdigit():
                log.warning("ignoring index file %s", path)
                continue
            if os.path.getsize(path) != size:
                self.close()
                raise StoreError(
                    f"index file {path} has {os.path.getsize(path)} bytes, the configured "
                    f"maxHashSlotNum/maxIndexNum give {size}"
                )
            self.files.append(IndexFile(path, self.slots, self.entries, self.preallocate))

    def end_phy_offset(self) -> int:
        """CommitLog offset of the newest indexed record (-1 when none)."""
        for f in reversed(self.files):
            if f.index_count > 1:
                return int(f.end_phy_offset)
        return -1

    def ensure_room(self, entries: int) -> None:
        """Roll to a new file now unless the last one has ``entries`` free entries, so a full
        disk shows before a record is written (a batch wider than a file may roll again)."""
        files = self.files
        need = min(entries, self.entries - 1)
        if files and files[-1].max_entries - files[-1].index_count >= need:
            return
        self._roll()

    def _writable(self) -> IndexFile:
        last = self.files[-1] if self.files else None
        if last is not None and not last.is_full():
            return last
        return self._roll()

    def _roll(self) -> IndexFile:
        last = self.files[-1] if self.files else None
        os.makedirs(self.directory, exist_ok=True)
        now_ms = int(self.clock() * 1000)
        path = os.path.join(self.directory, index_file_name(now_ms))
        while os.path.exists(path):
            now_ms += 1
            path = os.path.join(self.directory, index_file_name(now_ms))
        f = IndexFile(path, self.slots, self.entries, self.preallocate)
        if last is not None:
            f.begin_phy_offset = f.end_phy_offset = last.end_phy_offset
            f.begin_timestamp = f.end_timestamp = last.end_timestamp
        self.files.append(f)
        return f

    def build(self, req: DispatchRequest) -> None:
        """Index the record's UNIQ_KEY and each KEYS element as ``topic#key``."""
        if req.commit_log_offset <= self.end_phy_offset():
            return  # already indexed (re-dispatch after recovery)
        self.add(req.topic, req.keys, req.uniq_key, req.commit_log_offset, req.store_timestamp)

    def add(self, topic: str, keys: str | None, uniq_key: str | None, phy: int, ts: int) -> None:
        """Index a newly appended record (no already-indexed check: the put path only grows).

        The header is written once per record, after its entries.
        """
        ph = self._prefix_hashes.get(topic)
        if ph is None:
            ph = self._prefix_hash(topic)
        files = self.files
        f = files[-1] if files and not files[-1].is_full() else self._writable()
        if uniq_key:
            f = self._put_hash(f, _key_hash(ph, topic, uniq_key), phy, ts)
        if keys:
            for k in keys.split(" "):
                if k:
                    f = self._put_hash(f, _key_hash(ph, topic, k), phy, ts)
        f.write_header()

    def _prefix_hash(self, topic: str) -> int:
        if len(self._prefix_hashes) > 4096:
            self._prefix_hashes.clear()
        h = self._prefix_hashes[topic] = java_hash32(topic + "#")
        return h

    def _put_hash(self, f: IndexFile, key_hash: int, phy: int, ts: int) -> IndexFile:
        if not f.put_hash(key_hash, phy, ts):
            f.write_header()
            f = self._writable()  # rolls to a new file
            f.put_hash(key_hash, phy, ts)
        return f

    def query(self, topic: str, key: str, max_num: int, begin: int, end: int) -> list[int]:
        """CommitLog offsets of candidates for ``topic#key`` in [begin, end], newest first."""
        out: list[int] = []
        full = topic + "#" + key
        for f in reversed(self.files):
            if len(out) >= max_num:
                break
            if f.index_count > 1 and f.overlaps(begin, end):
                f.select(full, max_num, begin, end, out)
        return out

    def dirty_files(self) -> list[MappedFile]:
        """Mapped files with unflushed entries (their dirty marks are cleared)."""
        out = [f.mf for f in self.files if f.dirty]
        for f in self.files:
            f.dirty = False
        return out

    def delete_below(self, phys_min: int, busy: AbstractSet[MappedFile] = frozenset()) -> int:
        """Delete files whose newest entry points below ``phys_min`` (never the last).

        Stops at a file in ``busy`` (being fsynced). Files still held by readers stay mapped
        (already unlinked) until :meth:`retry_destroy` finds them released.
        """
        count = 0
        while len(self.files) > 1 and self.files[0].end_phy_offset < phys_min:
            if self.files[0].mf in busy:
                break
            f = self.files.pop(0)
            if not f.mf.destroy():
                self.pending_destroy.append(f.mf)
            count += 1
        return count

    def retry_destroy(self, now: float = 0.0, patience: float | None = None) -> None:
        """Close deleted files whose readers have since let go (see :func:`retry_close`)."""
        self.pending_destroy = retry_close(self.pending_destroy, now, patience)

    def close(self) -> None:
        """Unmap every file."""
        for f in self.files:
            if not f.mf.close():
                self.pending_destroy.append(f.mf)
        self.files = []
