"""MessageStore: the facade the broker calls (put, get, offsets, queries, lifecycle).

All methods run on the reactor thread; fsync, checkpoint writes and other slow disk work go
through ``runner`` (a worker thread by default). Reads return zero-copy slices of the mapped files.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from rmq.common.errors import DiskFullError, MessageIllegal, StoreError
from rmq.common.message import (
    BORNHOST_V6_FLAG,
    KEYS,
    MESSAGE_MAGIC_CODE,
    SCHEDULE_TOPIC,
    STOREHOST_V6_FLAG,
    TAGS,
    TRANSACTION_MASK,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    UNIQ_KEY,
    host_to_bytes,
    property_value,
    tag_hash_code,
)
from rmq.store.checkpoint import Checkpoint
from rmq.store.commitlog import CommitLog
from rmq.store.config import StoreConfig
from rmq.store.dispatch import AppendedEntry, ArrivalListener, Dispatcher
from rmq.store.flush import CommitLogFlusher, Runner
from rmq.store.format import (
    BLANK_SIZE,
    CQ_FILLER,
    CQ_UNIT,
    CQ_UNIT_SIZE,
    DispatchRequest,
    RecordError,
    check_record,
    read_store_timestamp,
)
from rmq.store.index import IndexService
from rmq.store.interfaces import IMessageStore
from rmq.store.mappedfile import MappedFile
from rmq.store.recovery import recover

log = logging.getLogger(__name__)

_FILLER_SIZE = CQ_FILLER[1]
"""Delay-level queues: never cleaned as expired (RocketMQ skips them too)."""
_NOT_V6 = ~(BORNHOST_V6_FLAG | STOREHOST_V6_FLAG)
_crc32 = zlib.crc32
_unpack_unit = CQ_UNIT.unpack_from
# Fixed head of a stored record up to BODYLENGTH (§5.1), by born + store host byte lengths:
# size, magic, bodyCRC, queueId, flag, queueOffset, physicalOffset, sysFlag, bornTimestamp,
# bornHost, storeTimestamp, storeHost, reconsumeTimes, preparedTransactionOffset, bodyLength.
_HEADS = {b * 32 + s: struct.Struct(f">iiiiiqqiq{b}sq{s}siqi") for b in (8, 20) for s in (8, 20)}
_TopicInfo = tuple[bytes, struct.Struct, int]  # topic bytes, tail struct, tail length


class PutStatus(enum.Enum):
    """Outcome of a put (names as Apache RocketMQ's PutMessageStatus)."""

    PUT_OK = "PUT_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"
    SERVICE_NOT_AVAILABLE = "SERVICE_NOT_AVAILABLE"
    CREATE_MAPPED_FILE_FAILED = "CREATE_MAPPED_FILE_FAILED"
    MESSAGE_ILLEGAL = "MESSAGE_ILLEGAL"
    PROPERTIES_SIZE_EXCEEDED = "PROPERTIES_SIZE_EXCEEDED"
    OS_PAGECACHE_BUSY = "OS_PAGECACHE_BUSY"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


@attrs.frozen
class PutResult:
    """Result of a put; offsets refer to the first record of a batch."""

    status: PutStatus
    wrote_offset: int = -1
    wrote_bytes: int = 0
    msg_ids: list[str] = attrs.field(factory=list)
    queue_offset: int = -1
    msg_num: int = 0
    store_timestamp: int = 0
    remark: str = ""

    @property
    def ok(self) -> bool:
        """True when the message is stored (a flush timeout still stored it)."""
        return self.status in (PutStatus.PUT_OK, PutStatus.FLUSH_DISK_TIMEOUT)


PUT_OK = PutStatus.PUT_OK


@attrs.define(slots=True)
class MessageToStore:
    """One message as the broker hands it to the store (properties already encoded)."""

    topic: str
    queue_id: int
    body: bytes
    flag: int = 0
    properties: str = ""
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: tuple[str, int] = ("127.0.0.1", 0)
    store_host: tuple[str, int] | None = None
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    tags_code: int | None = None
    wait_store_msg_ok: bool = True
    properties_dict: dict[str, str] | None = None
    """Optional: ``properties`` already decoded by the caller (must match it). Saves the store
    a decode; it is also what arrival listeners get."""


class GetStatus(enum.Enum):
    """Outcome of a read (names as Apache RocketMQ's GetMessageStatus)."""

    FOUND = "FOUND"
    NO_MATCHED_MESSAGE = "NO_MATCHED_MESSAGE"
    MESSAGE_WAS_REMOVING = "MESSAGE_WAS_REMOVING"
    OFFSET_FOUND_NULL = "OFFSET_FOUND_NULL"
    OFFSET_OVERFLOW_BADLY = "OFFSET_OVERFLOW_BADLY"
    OFFSET_OVERFLOW_ONE = "OFFSET_OVERFLOW_ONE"
    OFFSET_TOO_SMALL = "OFFSET_TOO_SMALL"
    NO_MATCHED_LOGIC_QUEUE = "NO_MATCHED_LOGIC_QUEUE"
    NO_MESSAGE_IN_QUEUE = "NO_MESSAGE_IN_QUEUE"


@attrs.frozen
class GetResult:
    """Raw records for a pull plus the offsets the pull response needs."""

    status: GetStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    buffers: list[memoryview | bytes] = attrs.field(factory=list)
    message_count: int = 0
    suggest_pull_from_slave: bool = False

    @property
    def buffer_total_size(self) -> int:
        """Total bytes of the records."""
        return sum(len(b) for b in self.buffers)


class MessageFilter(Protocol):
    """Broker-side filter: by tag hash from the ConsumeQueue, then (optionally) by record."""

    def is_matched_by_consume_queue(self, tags_code: int | None) -> bool: ...

    def is_matched_by_commit_log(
        self, record: memoryview | bytes, properties: dict[str, str] | None
    ) -> bool: ...


class StoreReactor(IReactorTime, IReactorThreads):
    """What the store needs from a reactor: a clock and a thread pool."""


def _total_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _disk_ratio(path: str) -> float:
    """Used fraction of the disk as ``df`` reports it: used / (used + available to us).

    Blocks reserved for root (or held back by the filesystem) count neither as used nor as
    available; counting them as used would call a disk "full" that still has room.
    """
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    usable = used + st.f_bavail * st.f_frsize
    if usable <= 0:
        return 0.0
    return used / usable


@implementer(IMessageStore)
class MessageStore:
    """CommitLog + ConsumeQueues + index with flush, recovery and retention."""

    def __init__(
        self,
        config: StoreConfig,
        reactor: Any,
        store_host: tuple[str, int] | None = None,
        runner: Runner | None = None,
        disk_usage: Callable[[str], float] | None = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self.store_host = store_host or ("127.0.0.1", 10911)
        self._store_host_bytes = host_to_bytes(self.store_host)
        self._runner: Runner = runner or self._thread_runner
        self._disk_usage = disk_usage or _disk_ratio
        self.commitlog = CommitLog(
            config.commit_log_dir,
            config.mapped_file_size_commit_log,
            config.preallocate_mapped_files,
        )
        self.index: IndexService | None = (
            IndexService(
                config.index_dir,
                config.max_hash_slot_num,
                config.max_index_num,
                reactor.seconds,
                config.preallocate_mapped_files,
            )
            if config.message_index_enable
            else None
        )
        self.dispatcher = Dispatcher(
            config.consume_queue_dir,
            config.mapped_file_size_consume_queue,
            self.index,
            config.preallocate_mapped_files,
        )
        self.checkpoint = Checkpoint(config.checkpoint_path)
        self.flusher = CommitLogFlusher(
            reactor, self._runner, self.commitlog, config.sync_flush_timeout, self._physic_flushed
        )
        self._queue_offsets: dict[tuple[str, int], int] = {}
        self._hosts: dict[tuple[str, int], bytes] = {}  # host -> host_to_bytes(host)
        self._topics: dict[str, _TopicInfo] = {}
        self._id_prefixes: dict[tuple[str, int], str] = {}
        self._loops: list[LoopingCall] = []
        self._lock_fd = -1
        self._running = False
        self._shutting_down = False
        self.writable = True
        self.disk_ratio = 0.0
        self._cq_flush_in_flight: Deferred[None] | None = None
        self._cq_flush_files: frozenset[MappedFile] = frozenset()
        self._last_thorough = 0.0
        self.put_times_total = 0
        self.put_size_total = 0
        self.recovered_records = 0
        self._proof_run = min(
            config.mapped_file_size_commit_log, config.max_message_size + 64 * 1024 + 256
        )
        self._memory = _total_memory()

    def _thread_runner(self, f: Callable[[], None]) -> Deferred[None]:
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), f)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Lock the directory, load files, recover, create the abort file, start timers."""
        cfg = self.config
        os.makedirs(cfg.root_dir, exist_ok=True)
        fd = os.open(cfg.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise StoreError(f"store {cfg.root_dir} is locked by another process") from e
        self._lock_fd = fd
        last_exit_ok = not os.path.exists(cfg.abort_path)
        try:
            self.checkpoint.load()
            self.commitlog.load()
            self.dispatcher.load()
            if self.index is not None:
                self.index.load()
        except BaseException:
            self._unload()
            raise
        self.recovered_records = recover(
            self.commitlog,
            self.dispatcher,
            self.checkpoint,
            last_exit_ok,
            cfg.check_crc_on_recover,
            self._proof_run,
        )
        self._queue_offsets = {k: cq.max_offset for k, cq in self.dispatcher.queues.items()}
        self.flusher.reset(self.commitlog.max_offset)
        with open(cfg.abort_path, "wb"):
            pass
        self._running = True
        self._check_disk()
        if not cfg.sync_flush:
            self._loop(self._async_flush, cfg.flush_interval_commit_log)
        self._loop(self._flush_logics, cfg.flush_interval_consume_queue)
        self._loop(self._clean, cfg.clean_resource_interval)

    def _unload(self) -> None:
        """Undo a failed start: unmap what was loaded and release the lock."""
        self.commitlog.queue.close()
        for cq in self.dispatcher.queues.values():
            cq.queue.close()
        self.dispatcher.queues.clear()
        if self.index is not None:
            self.index.close()
        os.close(self._lock_fd)
        self._lock_fd = -1

    def _loop(self, fn: Callable[[], None], interval_ms: int) -> None:
        def guarded() -> None:
            try:
                fn()
            except Exception:
                log.exception("store timer %s failed", getattr(fn, "__name__", fn))

        lc = LoopingCall(guarded)
        lc.clock = self.reactor
        lc.start(interval_ms / 1000.0, now=False)
        self._loops.append(lc)

    def shutdown(self) -> Deferred[None]:
        """Flush everything, write the checkpoint, close files and remove the abort file."""
        return Deferred.fromCoroutine(self._shutdown())

    async def _shutdown(self) -> None:
        if not self._running:
            return
        self._shutting_down = True
        for lc in self._loops:
            if lc.running:
                lc.stop()
        self._loops = []
        await self.flusher.wait_for(self.commitlog.max_offset, timeout=False)
        self.flusher.stop()
        if self._cq_flush_in_flight is not None:
            await self._cq_flush_in_flight
        await self._flush_logics_now()
        self.commitlog.queue.close()
        for cq in self.dispatcher.queues.values():
            cq.queue.close()
        if self.index is not None:
            self.index.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.config.abort_path)
        os.close(self._lock_fd)
        self._lock_fd = -1
        self._running = False

    # --- write path --------------------------------------------------------------------------

    def add_arrival_listener(self, cb: ArrivalListener) -> None:
        """Call ``cb(topic, queue_id, max_offset, tags_code, store_ts, properties)`` on arrival."""
        self.dispatcher.listeners.append(cb)

    def put_message(self, msg: MessageToStore) -> Deferred[PutResult]:
        """Append one message; in SYNC_FLUSH the Deferred fires after its bytes are flushed."""
        result, wait = self._append([msg])
        if wait and self.config.sync_flush and result.status is PutStatus.PUT_OK:
            return self.wait_flushed(result)
        return succeed(result)

    def put_messages(self, msgs: list[MessageToStore]) -> Deferred[PutResult]:
        """Append several messages of one topic/queue as one contiguous append (a batch)."""
        result, wait = self._append(msgs)
        if wait and self.config.sync_flush and result.status is PutStatus.PUT_OK:
            return self.wait_flushed(result)
        return succeed(result)

    def put_message_nowait(self, msg: MessageToStore) -> PutResult:
        """Append one message and return at once, without waiting for any flush.

        For ASYNC_FLUSH (or ``wait_store_msg_ok=False``) this is the whole put. Under SYNC_FLUSH
        the record is written but maybe not on disk yet: pass the result to
        :meth:`wait_flushed` before acknowledging it.
        """
        return self._append([msg])[0]

    def put_messages_nowait(self, msgs: list[MessageToStore]) -> PutResult:
        """Batch form of :meth:`put_message_nowait`."""
        return self._append(msgs)[0]

    def wait_flushed(self, result: PutResult) -> Deferred[PutResult]:
        """Fire with ``result`` once its bytes are flushed (FLUSH_DISK_TIMEOUT status if late)."""
        if result.status is not PutStatus.PUT_OK:
            return succeed(result)

        def flushed(ok: bool) -> PutResult:
            return result if ok else attrs.evolve(result, status=PutStatus.FLUSH_DISK_TIMEOUT)

        d = self.flusher.wait_for(result.wrote_offset + result.wrote_bytes)
        return d.addCallback(flushed)

    def _refuse(self, status: PutStatus, remark: str) -> tuple[PutResult, bool]:
        return PutResult(status, remark=remark), False

    def _host_bytes(self, host: tuple[str, int]) -> bytes:
        """Cached :func:`host_to_bytes` (born hosts are few: one per producer connection)."""
        cache = self._hosts
        if len(cache) > 4096:
            cache.clear()
        raw = cache[host] = host_to_bytes(host)
        return raw

    def _topic_info(self, topic: str) -> _TopicInfo | None:
        """Encoded topic and its record-tail struct, cached; None for an illegal topic."""
        raw = topic.encode()
        if len(raw) > 127 or not raw:
            return None
        cache = self._topics
        if len(cache) > 65536:
            cache.clear()
        info = cache[topic] = (raw, struct.Struct(f">B{len(raw)}sh"), 3 + len(raw))
        return info

    def _reserve(self, total: int) -> tuple[MappedFile, int] | PutResult:
        """:meth:`CommitLog.reserve`, turning its errors into refusals."""
        try:
            return self.commitlog.reserve(total)
        except DiskFullError as e:
            self.writable = False
            log.error("put refused, disk full: %s", e)
            return self._refuse(PutStatus.SERVICE_NOT_AVAILABLE, str(e))[0]
        except MessageIllegal as e:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL, str(e))[0]
        except (StoreError, OSError) as e:
            log.error("put refused, cannot create mapped file: %s", e)
            return self._refuse(PutStatus.CREATE_MAPPED_FILE_FAILED, str(e))[0]

    def _append(self, msgs: list[MessageToStore]) -> tuple[PutResult, bool]:
        """Validate, encode every record straight into the mapped file, then dispatch.

        Hot path: one ``pack_into`` for the fixed head, slice copies for body and properties,
        CRC once per body, no intermediate record bytes and no properties dict unless an
        arrival listener needs one.
        """
        if not self._running or self._shutting_down:
            return self._refuse(PutStatus.SERVICE_NOT_AVAILABLE, "message store is not running")
        if not self.writable:
            return self._refuse(
                PutStatus.SERVICE_NOT_AVAILABLE,
                f"message store is not writable (disk full or above ratio, {self.disk_ratio:.2f})",
            )
        if not msgs:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL, "no message to put")
        first = msgs[0]
        topic = first.topic
        queue_id = first.queue_id
        info = self._topics.get(topic) or self._topic_info(topic)
        if info is None:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL, "topic length must be 1..127 bytes")
        topic_raw, tail, tail_len = info
        single = len(msgs) == 1
        if single:
            if len(first.body) > self.config.max_message_size:
                return self._refuse(PutStatus.MESSAGE_ILLEGAL, "message body too large")
        else:
            if any(m.topic != topic or m.queue_id != queue_id for m in msgs):
                return self._refuse(PutStatus.MESSAGE_ILLEGAL, "a batch must share topic and queue")
            if sum(len(m.body) for m in msgs) > self.config.max_message_size:
                return self._refuse(PutStatus.MESSAGE_ILLEGAL, "message body too large")
        hosts = self._hosts
        default_sh = self._store_host_bytes
        praws: list[bytes] = []
        total = 0
        for m in msgs:
            praw = m.properties.encode()
            if len(praw) > 32767:
                return self._refuse(PutStatus.PROPERTIES_SIZE_EXCEEDED, "properties too long")
            praws.append(praw)
            born = hosts.get(m.born_host) or self._host_bytes(m.born_host)
            sh = (
                default_sh
                if m.store_host is None
                else (hosts.get(m.store_host) or self._host_bytes(m.store_host))
            )
            total += 72 + len(born) + len(sh) + len(m.body) + tail_len + len(praw)
        files = self.commitlog.queue.files
        mf = files[-1] if files else None
        if mf is not None and total + BLANK_SIZE <= mf.file_size - mf.wrote_position:
            pos = mf.wrote_position  # fast path of CommitLog.reserve: it fits in the last file
        else:
            reserved = self._reserve(total)
            if isinstance(reserved, PutResult):
                return reserved, False
            mf, pos = reserved
        key = (topic, queue_id)
        qoff = first_qoff = self._queue_offsets.get(key, 0)
        now = int(self.reactor.seconds() * 1000)
        last_ts = self.commitlog.last_store_timestamp
        store_ts = now if now > last_ts else last_ts
        base = mf.file_from_offset + pos
        mm = mf.mm
        offset = base
        p = pos
        indexed = self.index is not None
        nkeys = 0
        entries: list[AppendedEntry] = []
        try:
            for m, praw in zip(msgs, praws, strict=True):
                born = hosts.get(m.born_host) or self._host_bytes(m.born_host)
                sh = (
                    default_sh
                    if m.store_host is None
                    else (hosts.get(m.store_host) or self._host_bytes(m.store_host))
                )
                sys_flag = m.sys_flag & _NOT_V6
                if len(born) == 20:
                    sys_flag |= BORNHOST_V6_FLAG
                if len(sh) == 20:
                    sys_flag |= STOREHOST_V6_FLAG
                tt = sys_flag & TRANSACTION_MASK
                in_queue = tt != TRANSACTION_PREPARED_TYPE and tt != TRANSACTION_ROLLBACK_TYPE
                body = m.body
                blen = len(body)
                plen = len(praw)
                head = _HEADS[len(born) * 32 + len(sh)]
                size = head.size + blen + tail_len + plen
                head.pack_into(
                    mm,
                    p,
                    size,
                    MESSAGE_MAGIC_CODE,
                    _crc32(body) & 0x7FFFFFFF,
                    queue_id,
                    m.flag,
                    qoff if in_queue else 0,
                    offset,
                    sys_flag,
                    m.born_timestamp,
                    born,
                    store_ts,
                    sh,
                    m.reconsume_times,
                    m.prepared_transaction_offset,
                    blen,
                )
                p += head.size
                mm[p : p + blen] = body
                p += blen
                tail.pack_into(mm, p, tail_len - 3, topic_raw, plen)
                p += tail_len
                mm[p : p + plen] = praw
                p += plen
                props = m.properties_dict
                if props is not None:
                    tags_code = m.tags_code
                    if tags_code is None:
                        tags_code = tag_hash_code(props.get(TAGS))
                    keys = props.get(KEYS)
                    uniq = props.get(UNIQ_KEY)
                else:
                    text = m.properties
                    tags_code = m.tags_code
                    if tags_code is None:
                        tags_code = tag_hash_code(property_value(text, TAGS))
                    if indexed and text:
                        keys = property_value(text, KEYS)
                        uniq = property_value(text, UNIQ_KEY)
                    else:
                        keys = uniq = None
                if indexed:
                    if uniq:
                        nkeys += 1
                    if keys:
                        nkeys += keys.count(" ") + 1
                # Listeners get the decoded dict when the caller had one, else the text
                # (decoded only by a listener that needs it: most puts wake no pull).
                entries.append(
                    (
                        offset,
                        size,
                        qoff if in_queue else -1,
                        tags_code,
                        keys,
                        uniq,
                        m.properties if props is None else props,
                    )
                )
                offset += size
                if in_queue:
                    qoff += 1
        except (struct.error, TypeError, ValueError, OverflowError) as e:
            mm[pos : pos + total] = bytes(total)  # no half record may survive a crash
            return self._refuse(PutStatus.MESSAGE_ILLEGAL, f"cannot encode message: {e}")
        if p != pos + total:  # defensive: sizes computed twice must agree
            mm[pos : pos + total] = bytes(total)
            raise StoreError(f"record sizes disagree: {p - pos} != {total}")
        try:  # queue and index files must exist before the record counts as written
            self.dispatcher.ensure_room(topic, queue_id, first_qoff, qoff - first_qoff, nkeys)
        except (StoreError, OSError) as e:
            mm[pos : pos + total] = bytes(total)
            if isinstance(e, DiskFullError):
                self.writable = False
            log.error("put refused, cannot create consume queue or index file: %s", e)
            return self._refuse(
                PutStatus.SERVICE_NOT_AVAILABLE,
                f"cannot create consume queue or index file: {e}",
            )
        mf.wrote_position = p
        self.commitlog.last_store_timestamp = store_ts
        self._queue_offsets[key] = qoff
        self.dispatcher.dispatch_appended(topic, queue_id, store_ts, entries)
        self.put_times_total += len(msgs)
        self.put_size_total += total
        host = first.store_host or self.store_host
        prefix = self._id_prefixes.get(host)
        if prefix is None:
            prefix = self._id_prefixes[host] = host_to_bytes(host).hex().upper()
        ids = [f"{prefix}{e[0]:016X}" for e in entries]
        result = PutResult(PUT_OK, base, total, ids, first_qoff, len(msgs), store_ts)
        if single:
            return result, first.wait_store_msg_ok
        return result, any(m.wait_store_msg_ok for m in msgs)

    # --- read path ---------------------------------------------------------------------------

    def get_message(
        self,
        group: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_msg_nums: int,
        message_filter: MessageFilter | None = None,
        max_total_bytes: int | None = None,
    ) -> GetResult:
        """Read up to ``max_msg_nums`` raw records from a queue offset (REFERENCE.md §6.11).

        At most ``max_total_bytes`` of records (at least one record), capped by the configured
        maxTransferBytesOnMessageInMemory.
        """
        cq = self.dispatcher.queues.get((topic, queue_id))
        if cq is None:
            return GetResult(GetStatus.NO_MATCHED_LOGIC_QUEUE, 0, 0, 0)
        min_o, max_o = cq.min_offset, cq.max_offset
        if max_o == 0:
            return GetResult(GetStatus.NO_MESSAGE_IN_QUEUE, 0, min_o, max_o)
        if offset < min_o:
            return GetResult(GetStatus.OFFSET_TOO_SMALL, min_o, min_o, max_o)
        if offset == max_o:
            return GetResult(GetStatus.OFFSET_OVERFLOW_ONE, offset, min_o, max_o)
        if offset > max_o:  # as RocketMQ 4.9: back to 0 while the queue still starts at 0
            nxt = 0 if min_o == 0 else max_o
            return GetResult(GetStatus.OFFSET_OVERFLOW_BADLY, nxt, min_o, max_o)
        cfg = self.config
        max_count = min(max_msg_nums, cfg.max_transfer_count_on_message_in_memory)
        max_bytes = cfg.max_transfer_bytes_on_message_in_memory
        if max_total_bytes is not None and max_total_bytes < max_bytes:
            max_bytes = max_total_bytes
        scan_bytes = max(16000, max_msg_nums * 20)
        phys_min = self.commitlog.min_offset
        status = GetStatus.NO_MATCHED_MESSAGE
        buffers: list[memoryview | bytes] = []
        total = 0
        scanned = 0
        last_phys = -1
        any_unit = False
        # Inlined CommitLog.get_data: the file holding the last record is kept with one view
        # of it, so consecutive records cost a slice each.
        cl_queue = self.commitlog.queue
        cl_start = cl_end = 0
        view: memoryview | None = None
        at = offset * CQ_UNIT_SIZE
        unit_file = cq.queue.find(at)
        pos = stop = 0
        if unit_file is not None:
            pos = at - unit_file.file_from_offset
            stop = min(unit_file.wrote_position, pos + scan_bytes)
            units = unit_file.mm
        while pos < stop:
            phys, size, tags = _unpack_unit(units, pos)
            pos += CQ_UNIT_SIZE
            any_unit = True
            if len(buffers) >= max_count or (buffers and total + size > max_bytes):
                break
            scanned += 1
            if size == _FILLER_SIZE:
                continue
            if phys < phys_min:
                if not buffers:
                    status = GetStatus.MESSAGE_WAS_REMOVING
                continue
            if message_filter is not None and not message_filter.is_matched_by_consume_queue(tags):
                if not buffers:
                    status = GetStatus.NO_MATCHED_MESSAGE
                continue
            if not (cl_start <= phys and phys + size <= cl_end):
                mf = cl_queue.find(phys)
                if mf is not None:
                    cl_start = mf.file_from_offset
                    cl_end = cl_start + mf.wrote_position
                    view = memoryview(mf.mm)
            if size <= 0 or view is None or not (cl_start <= phys and phys + size <= cl_end):
                if not buffers:
                    status = GetStatus.MESSAGE_WAS_REMOVING
                continue
            data = view[phys - cl_start : phys - cl_start + size]
            if message_filter is not None and not message_filter.is_matched_by_commit_log(
                data, None
            ):
                if not buffers:
                    status = GetStatus.NO_MATCHED_MESSAGE
                continue
            buffers.append(data)
            total += size
            last_phys = phys
        view = None
        if not any_unit:
            return GetResult(GetStatus.OFFSET_FOUND_NULL, cq.next_file_offset(offset), min_o, max_o)
        if buffers:
            status = GetStatus.FOUND
        suggest = (
            last_phys >= 0
            and self.commitlog.max_offset - last_phys
            > self._memory * cfg.access_message_in_memory_max_ratio // 100
        )
        return GetResult(
            status, offset + scanned, min_o, max_o, buffers, len(buffers), bool(suggest)
        )

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """Next queue offset to be written (0 for an unknown queue)."""
        cq = self.dispatcher.queues.get((topic, queue_id))
        return cq.max_offset if cq else 0

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """First readable queue offset (0 for an unknown queue)."""
        cq = self.dispatcher.queues.get((topic, queue_id))
        return cq.min_offset if cq else 0

    def _store_ts_at(self, topic: str, queue_id: int, index: int) -> int:
        cq = self.dispatcher.queues.get((topic, queue_id))
        unit = cq.get_unit(index) if cq else None
        if unit is None or unit[1] == _FILLER_SIZE:
            return -1
        rec = self.commitlog.get_data(unit[0], unit[1])
        return -1 if rec is None else read_store_timestamp(rec, 0)

    def get_offset_in_queue_by_time(self, topic: str, queue_id: int, timestamp_ms: int) -> int:
        """First queue offset whose store time is >= ``timestamp_ms`` (max offset if none)."""
        cq = self.dispatcher.queues.get((topic, queue_id))
        if cq is None:
            return 0
        lo, hi = cq.min_offset, cq.max_offset
        while lo < hi:
            mid = (lo + hi) // 2
            ts = self._store_ts_at(topic, queue_id, mid)
            if ts >= timestamp_ms:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def get_earliest_message_time(self, topic: str, queue_id: int) -> int:
        """Store time of the first readable message of a queue (-1 if none)."""
        cq = self.dispatcher.queues.get((topic, queue_id))
        if cq is None or cq.max_offset <= cq.min_offset:
            return -1
        return self._store_ts_at(topic, queue_id, cq.min_offset)

    def get_message_store_timestamp(self, topic: str, queue_id: int, cq_offset: int) -> int:
        """Store time of the message at a queue offset (-1 if unknown)."""
        return self._store_ts_at(topic, queue_id, cq_offset)

    def get_commit_log_offset_in_queue(self, topic: str, queue_id: int, cq_offset: int) -> int:
        """CommitLog offset of the unit at a queue offset (0 if unknown)."""
        cq = self.dispatcher.queues.get((topic, queue_id))
        unit = cq.get_unit(cq_offset) if cq else None
        return unit[0] if unit else 0

    def look_message_by_offset(self, commit_log_offset: int) -> bytes | None:
        """The raw record at a CommitLog offset (None unless a valid record starts there)."""
        rec = self.commitlog.get_record(commit_log_offset)
        if rec is None:
            return None
        try:
            res = check_record(rec, 0, len(rec), False)
        except RecordError:
            return None
        if not isinstance(res, DispatchRequest) or res.commit_log_offset != commit_log_offset:
            return None
        return bytes(rec)

    def select_one_message_by_offset(self, commit_log_offset: int, size: int) -> bytes | None:
        """``size`` raw bytes at a CommitLog offset (None if not available)."""
        data = self.commitlog.get_data(commit_log_offset, size)
        return None if data is None else bytes(data)

    def query_message(
        self, topic: str, key: str, max_num: int, begin_ts: int, end_ts: int
    ) -> list[bytes]:
        """Records of ``topic`` whose KEYS or UNIQ_KEY contain ``key`` in a store-time range."""
        if self.index is None:
            return []
        limit = min(max_num, self.config.max_msgs_num_batch)
        out: list[bytes] = []
        for off in self.index.query(topic, key, limit, begin_ts, end_ts):
            rec = self.commitlog.get_record(off)
            if rec is None:
                continue
            try:
                res = check_record(rec, 0, len(rec), False)
            except RecordError:
                continue
            if not isinstance(res, DispatchRequest) or res.topic != topic:
                continue
            if res.commit_log_offset != off:
                continue
            keys = (res.keys or "").split(" ")
            if res.uniq_key == key or key in keys:
                out.append(bytes(rec))
        return out

    def topic_queue_table(self) -> dict[str, list[int]]:
        """Known queues per topic."""
        out: dict[str, list[int]] = {}
        for topic, qid in sorted(self.dispatcher.queues):
            out.setdefault(topic, []).append(qid)
        return out

    def delete_topics(self, topics: set[str]) -> None:
        """Drop the ConsumeQueues (and queue offsets) of these topics."""
        for key in [k for k in self.dispatcher.queues if k[0] in topics]:
            self.dispatcher.queues.pop(key).destroy()
            self._queue_offsets.pop(key, None)
        for topic in topics:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(self.config.consume_queue_dir, topic))

    def clean_expired_consume_queue(self) -> Deferred[int]:
        """CLEAN_EXPIRED_CONSUMEQUEUE: drop queues wholly below the CommitLog's min offset.

        Like RocketMQ's ``cleanExpiredConsumerQueue``: a queue whose last unit refers below
        the oldest CommitLog offset is destroyed and its queue offset forgotten (the schedule
        topic is kept); the other queues lose their expired files and get their min offset
        corrected. Waits for a running ConsumeQueue flush so no file closes under its fsync.
        Fires with the number of queues destroyed.
        """
        pending = self._cq_flush_in_flight
        if pending is None:
            return succeed(self._clean_expired_queues_now())
        ready: Deferred[None] = Deferred()

        def relay(result: object) -> object:
            ready.callback(None)
            return result

        pending.addBoth(relay)
        return ready.addCallback(lambda _: self._clean_expired_queues_now())

    def _clean_expired_queues_now(self) -> int:
        phys_min = self.commitlog.min_offset
        destroyed = 0
        for key, cq in list(self.dispatcher.queues.items()):
            if key[0] == SCHEDULE_TOPIC or cq.max_physic_offset == 0:
                continue  # delay queues stay; no unit yet means "just created"
            if cq.max_physic_offset <= phys_min:
                log.info("consume queue %s-%d expired: destroyed", key[0], key[1])
                self.dispatcher.queues.pop(key).destroy()
                self._queue_offsets.pop(key, None)
                destroyed += 1
            else:
                cq.delete_expired(phys_min)
        if destroyed:
            self._remove_empty_topic_dirs()
        return destroyed

    def _remove_empty_topic_dirs(self) -> None:
        remaining = {topic for topic, _ in self.dispatcher.queues}
        root = self.config.consume_queue_dir
        with contextlib.suppress(OSError):
            for topic in os.listdir(root):
                if topic not in remaining:
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(root, topic))

    def get_max_phy_offset(self) -> int:
        """CommitLog offset just past the last record."""
        return self.commitlog.max_offset

    def get_min_phy_offset(self) -> int:
        """Oldest CommitLog offset still kept."""
        return self.commitlog.min_offset

    def runtime_info(self) -> dict[str, str]:
        """Figures for GET_BROKER_RUNTIME_INFO."""
        return {
            "commitLogDiskRatio": f"{self.disk_ratio:.4f}",
            "commitLogMaxOffset": str(self.commitlog.max_offset),
            "commitLogMinOffset": str(self.commitlog.min_offset),
            "putMessageTimesTotal": str(self.put_times_total),
            "putMessageSizeTotal": str(self.put_size_total),
            "dispatchMaxBuffer": "0",
            "pageCacheLockTimeMills": "0",
            "earliestMessageTimeStamp": str(self._earliest_commitlog_time()),
            "startAcceptSendRequestTimeStamp": "0",
            "remainHowManyDataToFlush": str(self.flusher.dirty_bytes()),
            "storeWritable": str(self.writable).lower(),
        }

    def _earliest_commitlog_time(self) -> int:
        if not self.commitlog.queue.files:
            return -1
        return self.commitlog.first_store_timestamp(0)

    # --- background work ---------------------------------------------------------------------

    def _physic_flushed(self, store_ts: int) -> None:
        self.checkpoint.physic_msg_timestamp = store_ts

    def _async_flush(self) -> None:
        cfg = self.config
        now = self.reactor.seconds()
        thorough = now - self._last_thorough >= cfg.flush_commit_log_thorough_interval / 1000.0
        if thorough or self.flusher.dirty_bytes() >= cfg.flush_commit_log_least_pages * 4096:
            if thorough:
                self._last_thorough = now
            self.flusher.kick()

    def _flush_logics(self) -> None:
        if self._cq_flush_in_flight is None:
            self._flush_logics_now()

    def _flush_logics_now(self) -> Deferred[None]:
        files: list[MappedFile] = []
        for cq in self.dispatcher.queues.values():
            files.extend(cq.dirty)
            cq.dirty.clear()
        if self.index is not None:
            files.extend(self.index.dirty_files())
        self.checkpoint.logics_msg_timestamp = self.dispatcher.last_store_timestamp
        self.checkpoint.index_msg_timestamp = self.dispatcher.last_store_timestamp
        page = self.checkpoint.snapshot()

        def work() -> None:
            for mf in files:
                mf.fsync()
            self.checkpoint.write(page)

        self._cq_flush_files = frozenset(files)
        d = self._runner(work)
        self._cq_flush_in_flight = d

        def done(r: object) -> None:
            self._cq_flush_in_flight = None
            self._cq_flush_files = frozenset()
            if isinstance(r, BaseException) or hasattr(r, "getErrorMessage"):
                log.error("consume queue flush failed: %s", r)

        d.addBoth(done)
        return d

    def _check_disk(self) -> None:
        try:
            path = self.config.commit_log_dir
            if not os.path.isdir(path):
                path = self.config.root_dir
            self.disk_ratio = self._disk_usage(path)
        except OSError as e:
            log.error("cannot stat the store disk: %s", e)
            return
        was = self.writable
        self.writable = self.disk_ratio < self.config.disk_space_warning_level_ratio
        if was and not self.writable:
            log.error("store disk %.0f%% full: puts refused", self.disk_ratio * 100)
        elif self.writable and not was:
            log.info("store disk back to %.0f%%: puts accepted", self.disk_ratio * 100)

    def _clean(self) -> None:
        """Retention: delete expired (or, under disk pressure, oldest) CommitLog files."""
        self._check_disk()
        self.delete_expired_files()

    def _busy_files(self) -> frozenset[MappedFile]:
        """Files a running flush is fsyncing: never closed under it (later passes retry)."""
        return self.flusher.in_flight_files | self._cq_flush_files

    def delete_expired_files(self, force_hour: bool = False) -> int:
        """Delete expired CommitLog files now, then the ConsumeQueue and index files below them."""
        cfg = self.config
        now = self.reactor.seconds()
        hour = time.localtime(now).tm_hour
        ratio = self.disk_ratio
        due = force_hour or hour in cfg.delete_hours or ratio > cfg.disk_max_used_space_ratio / 100
        forcibly = ratio > cfg.disk_space_clean_forcibly_ratio
        deleted = 0
        files = self.commitlog.queue.files
        busy = self._busy_files()
        if due or forcibly:
            reserved = cfg.file_reserved_time * 3600
            count = 0
            while count < len(files) - 1 and count < 10:
                mf = files[count]
                if mf in busy or (not forcibly and mf.last_modified() + reserved > now):
                    break
                count += 1
            if count:
                gone = self.commitlog.queue.delete_first(count)
                deleted = len(gone)
                log.info("deleted %d expired commit log files", deleted)
        phys_min = self.commitlog.min_offset
        patience = cfg.destroy_mapped_file_interval_forcibly / 1000.0
        for cq in self.dispatcher.queues.values():
            cq.delete_expired(phys_min, busy)
            cq.queue.retry_destroy(now, patience)
        if self.index is not None:
            self.index.delete_below(phys_min, busy)
            self.index.retry_destroy(now, patience)
        self.commitlog.queue.retry_destroy(now, patience)
        return deleted
