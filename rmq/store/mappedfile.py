"""Fixed-size memory-mapped files named by their 20-digit start offset, and ordered queues of them.

Files are preallocated (``posix_fallocate``) when created so a full disk shows up as an error at
creation time rather than as SIGBUS on a later write into the mapping. Writes happen on the reactor
thread; :meth:`MappedFile.fsync` is safe to run in a worker thread.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
from collections.abc import Callable, Iterator

from rmq.common.errors import DiskFullError, StoreError

log = logging.getLogger(__name__)

_ZERO_CHUNK = 64 * 1024


def file_name(offset: int) -> str:
    """20-digit, zero-padded file name for a start offset."""
    return f"{offset:020d}"


class MappedFile:
    """One mmap'ed file: the owner tracks ``wrote_position``; flushes are recorded here."""

    __slots__ = (
        "_closed",
        "_fd",
        "file_from_offset",
        "file_size",
        "flushed_position",
        "held_since",
        "mm",
        "path",
        "wrote_position",
    )

    def __init__(self, path: str, file_from_offset: int, file_size: int, preallocate: bool = True):
        self.path = path
        self.file_from_offset = file_from_offset
        self.file_size = file_size
        self.wrote_position = 0
        self.flushed_position = 0
        self.held_since = 0.0  # when a deleted file was first found still held by readers
        self._closed = False
        exists = os.path.exists(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not exists:
                os.ftruncate(fd, file_size)
                if preallocate:
                    os.posix_fallocate(fd, 0, file_size)
            elif os.fstat(fd).st_size != file_size:
                raise StoreError(f"{path}: size {os.fstat(fd).st_size} != expected {file_size}")
            self.mm = mmap.mmap(fd, file_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as e:
            os.close(fd)
            if not exists:
                with _suppress_oserror():
                    os.unlink(path)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(f"no space to create {path}: {e}") from e
            raise StoreError(f"cannot create mapped file {path}: {e}") from e
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    @property
    def end_offset(self) -> int:
        """Absolute offset just past the written data."""
        return self.file_from_offset + self.wrote_position

    def remaining(self) -> int:
        """Bytes left for appending."""
        return self.file_size - self.wrote_position

    def is_full(self) -> bool:
        """True when nothing more fits."""
        return self.wrote_position >= self.file_size

    def fsync(self) -> None:
        """Force the file's dirty pages (written through the mapping) to disk. Thread-safe."""
        if not self._closed:
            os.fsync(self._fd)

    def zero_tail(self, pos: int, proof_run: int) -> None:
        """Zero bytes from ``pos`` until a run of ``proof_run`` zero bytes proves the old end.

        Used when truncating after recovery, so stale records past the cut can never be read.
        """
        run = 0
        mm = self.mm
        end = self.file_size
        while pos < end and run < proof_run:
            stop = min(end, pos + _ZERO_CHUNK)
            chunk = mm[pos:stop]
            if chunk.count(0) == len(chunk):
                run += stop - pos
            else:
                run = 0
                mm[pos:stop] = bytes(stop - pos)
            pos = stop

    def last_modified(self) -> float:
        """The file's modification time (seconds since the epoch)."""
        return os.path.getmtime(self.path)

    def touch(self, when: float) -> None:
        """Set the file's modification time (mmap writes do not always update it)."""
        with _suppress_oserror():
            os.utime(self.path, (when, when))

    def close(self) -> bool:
        """Unmap and close; False (try again later) while readers still hold slices."""
        if self._closed:
            return True
        try:
            self.mm.close()
        except BufferError:
            return False
        os.close(self._fd)
        self._closed = True
        return True

    def destroy(self) -> bool:
        """Delete the file; the mapping stays alive until its readers let go."""
        with _suppress_oserror():
            os.unlink(self.path)
        return self.close()


def retry_close(
    pending: list[MappedFile], now: float = 0.0, patience: float | None = None
) -> list[MappedFile]:
    """Close deleted files whose readers have let go; return those still held.

    A file still held ``patience`` seconds after it was first found held (RocketMQ's
    destroyMapedFileIntervalForcibly) is reported once: Python cannot unmap a mapping that
    readers' slices still use, so unlike RocketMQ it is not forced.
    """
    held: list[MappedFile] = []
    for mf in pending:
        if mf.close():
            continue
        held.append(mf)
        if patience is None:
            continue
        if not mf.held_since:
            mf.held_since = now
        elif now - mf.held_since >= patience:
            log.warning(
                "deleted file %s still mapped by readers after %.0f s", mf.path, now - mf.held_since
            )
            mf.held_since = float("inf")  # reported
    return held


class _suppress_oserror:
    def __enter__(self) -> None:
        return None

    def __exit__(self, et: object, ev: object, tb: object) -> bool:
        return isinstance(ev, OSError)


class MappedFileQueue:
    """The ordered files of one log (CommitLog or one ConsumeQueue)."""

    def __init__(self, directory: str, file_size: int, preallocate: bool = True) -> None:
        self.directory = directory
        self.file_size = file_size
        self.preallocate = preallocate
        self.files: list[MappedFile] = []
        self.pending_destroy: list[MappedFile] = []
        self.spares: list[MappedFile] = []
        """Files created ahead by :meth:`ensure_room`, not yet part of the queue."""
        self.create_hook: Callable[[str], None] | None = None  # test fault injection

    def load(self) -> None:
        """Map the existing files; all are assumed full until recovery sets the real end.

        A file of another size than configured raises StoreError (like RocketMQ, the store
        does not start rather than lose or misread data).
        """
        if not os.path.isdir(self.directory):
            return
        names = sorted(n for n in os.listdir(self.directory) if n.isdigit() and len(n) == 20)
        for name in names:
            path = os.path.join(self.directory, name)
            size = os.path.getsize(path)
            if size != self.file_size:
                self.close()
                raise StoreError(
                    f"store file {path} has {size} bytes, the configured file size is "
                    f"{self.file_size}: restore the old size setting or move the file away"
                )
            mf = MappedFile(path, int(name), self.file_size, self.preallocate)
            mf.wrote_position = mf.flushed_position = self.file_size
            self.files.append(mf)

    def __iter__(self) -> Iterator[MappedFile]:
        return iter(self.files)

    def last(self) -> MappedFile | None:
        """The newest file, if any."""
        return self.files[-1] if self.files else None

    def create(self, start_offset: int) -> MappedFile:
        """Create (and map) the file that starts at ``start_offset`` (or take its spare)."""
        spares = self.spares
        if spares and spares[0].file_from_offset == start_offset:
            mf = spares.pop(0)
        else:
            self.drop_spares()  # made for another start: hold no data
            mf = self._new_file(start_offset)
        self.files.append(mf)
        return mf

    def _new_file(self, start_offset: int) -> MappedFile:
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, file_name(start_offset))
        if self.create_hook is not None:
            self.create_hook(path)
        return MappedFile(path, start_offset, self.file_size, self.preallocate)

    def ensure_room(self, start: int, end: int) -> None:
        """Create now (as spares) the files that writing bytes ``[start, end)`` will need.

        So a full disk shows before the caller writes anything that refers to those bytes.
        Raises DiskFullError/StoreError; the files created so far stay as spares.
        """
        last = self.last()
        fs = self.file_size
        nxt = last.file_from_offset + fs if last is not None else start - start % fs
        if self.spares:
            nxt = self.spares[-1].file_from_offset + fs
        while nxt < end:
            self.spares.append(self._new_file(nxt))
            nxt += fs

    def drop_spares(self) -> None:
        """Delete the spare files (they hold no data)."""
        spares, self.spares = self.spares, []
        for mf in spares:
            self._destroy(mf)

    def last_for_write(self, start_offset: int = 0) -> MappedFile:
        """The file to append to, creating the next one when the last is full."""
        last = self.last()
        if last is None:
            return self.create(start_offset - start_offset % self.file_size)
        if last.is_full():
            return self.create(last.file_from_offset + self.file_size)
        return last

    def find(self, offset: int) -> MappedFile | None:
        """The file holding absolute ``offset``, or None."""
        files = self.files
        if not files:
            return None
        idx = (offset - files[0].file_from_offset) // self.file_size
        if 0 <= idx < len(files):
            mf = files[idx]
            if mf.file_from_offset <= offset < mf.file_from_offset + self.file_size:
                return mf
        for mf in files:
            if mf.file_from_offset <= offset < mf.file_from_offset + self.file_size:
                return mf
        return None

    def min_offset(self) -> int:
        """Start offset of the oldest file (0 when empty)."""
        return self.files[0].file_from_offset if self.files else 0

    def max_offset(self) -> int:
        """Absolute offset just past the written data."""
        last = self.last()
        return last.end_offset if last else 0

    def flushed_offset(self) -> int:
        """Absolute offset up to which data is known to be on disk."""
        for mf in reversed(self.files):
            if mf.flushed_position:
                return mf.file_from_offset + mf.flushed_position
        return self.min_offset()

    def truncate(self, offset: int, proof_run: int) -> None:
        """Drop all data at and after ``offset``: zero the cut file's tail, delete later files."""
        keep: list[MappedFile] = []
        for mf in self.files:
            if mf.file_from_offset + self.file_size <= offset:
                keep.append(mf)
            elif mf.file_from_offset <= offset:
                pos = offset - mf.file_from_offset
                mf.zero_tail(pos, proof_run)
                mf.wrote_position = min(mf.wrote_position, pos)
                mf.flushed_position = min(mf.flushed_position, pos)
                keep.append(mf)
            else:
                self._destroy(mf)
        self.files = keep
        self.drop_spares()

    def delete_first(self, count: int = 1) -> list[MappedFile]:
        """Remove the ``count`` oldest files; return them."""
        gone, self.files = self.files[:count], self.files[count:]
        for mf in gone:
            self._destroy(mf)
        return gone

    def _destroy(self, mf: MappedFile) -> None:
        if not mf.destroy():
            self.pending_destroy.append(mf)

    def retry_destroy(self, now: float = 0.0, patience: float | None = None) -> None:
        """Close mappings whose readers have since let go (see :func:`retry_close`)."""
        self.pending_destroy = retry_close(self.pending_destroy, now, patience)

    def close(self) -> None:
        """Unmap every file (readers' slices keep theirs alive); spares are deleted."""
        self.drop_spares()
        for mf in self.files:
            if not mf.close():
                self.pending_destroy.append(mf)
        self.files = []
