"""RocketMQ message model and codecs: properties, stored records, batches and message ids.

Pure (no Twisted). The stored-record layout is the one the CommitLog holds and a pull response
carries (REFERENCE.md §5.1); everything here is parsed by sysFlag bits, never by fixed offsets
beyond SYSFLAG, because IPv6 hosts change the layout.
"""

from __future__ import annotations

import os
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import mul

import attrs

from rmq.common.errors import MessageIllegal

# --- property keys (§5.3) -----------------------------------------------------

NAME_VALUE_SEPARATOR = "\x01"
PROPERTY_SEPARATOR = "\x02"

KEYS = "KEYS"
TAGS = "TAGS"
WAIT = "WAIT"
DELAY = "DELAY"
RETRY_TOPIC = "RETRY_TOPIC"
REAL_TOPIC = "REAL_TOPIC"
REAL_QID = "REAL_QID"
TRAN_MSG = "TRAN_MSG"
PGROUP = "PGROUP"
MIN_OFFSET = "MIN_OFFSET"
MAX_OFFSET = "MAX_OFFSET"
BUYER_ID = "BUYER_ID"
ORIGIN_MESSAGE_ID = "ORIGIN_MESSAGE_ID"
TRANSFER_FLAG = "TRANSFER_FLAG"
CORRECTION_FLAG = "CORRECTION_FLAG"
MQ2_FLAG = "MQ2_FLAG"
RECONSUME_TIME = "RECONSUME_TIME"
MSG_REGION = "MSG_REGION"
TRACE_ON = "TRACE_ON"
UNIQ_KEY = "UNIQ_KEY"
MAX_RECONSUME_TIMES = "MAX_RECONSUME_TIMES"
CONSUME_START_TIME = "CONSUME_START_TIME"
TRAN_PREPARED_QUEUE_OFFSET = "TRAN_PREPARED_QUEUE_OFFSET"
TRANSACTION_CHECK_TIMES = "TRANSACTION_CHECK_TIMES"
CHECK_IMMUNITY_TIME_IN_SECONDS = "CHECK_IMMUNITY_TIME_IN_SECONDS"
INSTANCE_ID = "INSTANCE_ID"
CORRELATION_ID = "CORRELATION_ID"
REPLY_TO_CLIENT = "REPLY_TO_CLIENT"
TTL = "TTL"
ARRIVE_TIME = "ARRIVE_TIME"
PUSH_REPLY_TIME = "PUSH_REPLY_TIME"
CLUSTER = "CLUSTER"
MSG_TYPE = "MSG_TYPE"
INNER_MULTI_DISPATCH = "INNER_MULTI_DISPATCH"
INNER_MULTI_QUEUE_OFFSET = "INNER_MULTI_QUEUE_OFFSET"
TRANSACTION_ID = "__transactionId__"

# --- sysFlag bits (§5.2) and magic codes ---------------------------------------

COMPRESSED_FLAG = 0x1
MULTI_TAGS_FLAG = 0x2
TRANSACTION_NOT_TYPE = 0x0
TRANSACTION_PREPARED_TYPE = 0x4
TRANSACTION_COMMIT_TYPE = 0x8
TRANSACTION_ROLLBACK_TYPE = 0xC
TRANSACTION_MASK = 0xC
BORNHOST_V6_FLAG = 0x10
STOREHOST_V6_FLAG = 0x20
NEED_UNWRAP_FLAG = 0x40
INNER_BATCH_FLAG = 0x80
COMPRESSION_TYPE_MASK = 0x700
COMPRESSION_LZ4 = 0x100
COMPRESSION_ZSTD = 0x200
COMPRESSION_ZLIB = 0x300

SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"
"""Where delayed messages wait for their level (the store keeps its queues on cleanup)."""

MESSAGE_MAGIC_CODE = -626843481  # 0xDAA320A7 as a signed int
BLANK_MAGIC_CODE = -875286124  # 0xCBD43194 as a signed int

# Fixed part of a stored record with IPv4 hosts, before body/topic/properties (see §5.1).
_HEAD = struct.Struct(">iiiiiqqiq")  # size, magic, crc, qid, flag, qoff, phys, sysflag, born_ts
HEAD_SIZE = _HEAD.size  # 48
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_I16 = struct.Struct(">h")
_TAIL = struct.Struct(">iq")  # reconsume times, prepared tx offset
_BATCH_HEAD = struct.Struct(">iiii")  # size, magic, crc, flag


def transaction_type(sys_flag: int) -> int:
    """Return the transaction bits (NOT_TYPE, PREPARED, COMMIT or ROLLBACK) of a sysFlag."""
    return sys_flag & TRANSACTION_MASK


def crc32_masked(data: bytes | memoryview) -> int:
    """CRC-32 (zlib polynomial) masked with 0x7FFFFFFF, as RocketMQ stores BODYCRC."""
    return zlib.crc32(data) & 0x7FFFFFFF


_POW_LIMIT = 256
_POWS: list[tuple[int, ...] | None] = [None] * (_POW_LIMIT + 1)  # per length: 31^(n-1) .. 31^0
POW31: list[int] = [pow(31, i, 1 << 32) for i in range(_POW_LIMIT + 1)]  # 31^n mod 2^32


def _pows(n: int) -> tuple[int, ...]:
    got = _POWS[n]
    if got is None:
        got = _POWS[n] = tuple(POW31[i] for i in range(n - 1, -1, -1))
    return got


def java_hash32(text: str) -> int:
    """Java ``String.hashCode`` as an unsigned 32-bit value (UTF-16 code units).

    ASCII strings up to 256 chars take one C-level dot product with cached powers of 31.
    """
    if text.isascii():
        raw = text.encode()
        n = len(raw)
        if n <= _POW_LIMIT:
            h: int = sum(map(mul, raw, _POWS[n] or _pows(n)))
            return h & 0xFFFFFFFF
        units: bytes | list[int] = raw
    else:
        utf16 = text.encode("utf-16-be")
        units = [(utf16[i] << 8) | utf16[i + 1] for i in range(0, len(utf16), 2)]
    h = 0
    for u in units:
        h = (31 * h + u) & 0xFFFFFFFF
    return h


def tag_hash_code(tag: str | None) -> int:
    """Java ``String.hashCode`` (UTF-16 code units, signed 32-bit); 0 for an empty or absent tag."""
    if not tag:
        return 0
    h = java_hash32(tag)
    return h - 0x100000000 if h & 0x80000000 else h


# --- properties (§5.3) ----------------------------------------------------------


def encode_properties(props: Mapping[str, str]) -> str:
    """Encode ``name\\x01value\\x02...`` without a trailing separator, skipping empty values."""
    return PROPERTY_SEPARATOR.join(
        f"{k}{NAME_VALUE_SEPARATOR}{v}" for k, v in props.items() if k and v
    )


def decode_properties(text: str) -> dict[str, str]:
    """Decode a properties string; a trailing separator and empty/junk entries are dropped."""
    out: dict[str, str] = {}
    if not text:
        return out
    for seg in text.split(PROPERTY_SEPARATOR):
        i = seg.find(NAME_VALUE_SEPARATOR)
        if 0 < i < len(seg) - 1:
            out[seg[:i]] = seg[i + 1 :]
    return out


def property_value(text: str, name: str) -> str | None:
    """``decode_properties(text).get(name)`` without building the dict (hot put path).

    The last entry with a non-empty value wins, as in :func:`decode_properties`.
    """
    if not text or not name:
        return None
    head = name + NAME_VALUE_SEPARATOR
    key = PROPERTY_SEPARATOR + head
    i = text.rfind(key)
    while i >= 0:
        start = i + len(key)
        end = text.find(PROPERTY_SEPARATOR, start)
        value = text[start:end] if end >= 0 else text[start:]
        if value:
            return value
        i = text.rfind(key, 0, i)
    if text.startswith(head):
        end = text.find(PROPERTY_SEPARATOR)
        value = text[len(head) : end] if end >= 0 else text[len(head) :]
        if value:
            return value
    return None


def join_properties(own: str, extra: str) -> str:
    """Append ``extra`` to ``own`` with one separator between them (batch members, §5.4)."""
    if not extra:
        return own
    if not own:
        return extra
    if own.endswith(PROPERTY_SEPARATOR):
        return own + extra
    return own + PROPERTY_SEPARATOR + extra


# --- hosts and offset message ids (§5.5) ------------------------------------------

Host = tuple[str, int]


def is_ipv6(host: str) -> bool:
    """True for an IPv6 literal (the store then sets the V6 sysFlag bits)."""
    return ":" in host


def host_to_bytes(host: Host) -> bytes:
    """Address bytes (4 or 16) followed by the port as an int32."""
    ip, port = host
    family = socket.AF_INET6 if is_ipv6(ip) else socket.AF_INET
    return socket.inet_pton(family, ip) + _I32.pack(port)


def _host_from(buf: bytes | memoryview, pos: int, v6: bool) -> tuple[Host, int]:
    n = 16 if v6 else 4
    family = socket.AF_INET6 if v6 else socket.AF_INET
    ip = socket.inet_ntop(family, bytes(buf[pos : pos + n]))
    (port,) = _I32.unpack_from(buf, pos + n)
    return (ip, port), pos + n + 4


def create_offset_msg_id(host_ip: str, port: int, commitlog_offset: int) -> str:
    """Offset message id: hex(ip || port int32 || offset int64), upper case (32 or 56 chars)."""
    return (host_to_bytes((host_ip, port)) + _I64.pack(commitlog_offset)).hex().upper()


def decode_offset_msg_id(msg_id: str) -> tuple[str, int, int]:
    """Inverse of :func:`create_offset_msg_id`: (host ip, port, commit-log offset)."""
    try:
        raw = bytes.fromhex(msg_id)
    except ValueError as e:
        raise MessageIllegal(f"bad offset message id {msg_id!r}") from e
    if len(raw) == 16:
        (ip, port), pos = _host_from(raw, 0, False)
    elif len(raw) == 28:
        (ip, port), pos = _host_from(raw, 0, True)
    else:
        raise MessageIllegal(f"bad offset message id length {msg_id!r}")
    (offset,) = _I64.unpack_from(raw, pos)
    return ip, port, offset


class UniqueIdGenerator:
    """Makes UNIQ_KEY values shaped like Java's MessageClientIDSetter (§5.5).

    ``clock`` returns seconds since the epoch (pass ``reactor.seconds``). Layout:
    ip(4|16) pid(2) per-process hash(4) | ms since start of month(4) counter(2), upper hex.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        ip: str = "127.0.0.1",
        pid: int | None = None,
        loader_hash: int | None = None,
    ) -> None:
        self._clock = clock
        pid = os.getpid() if pid is None else pid
        loader_hash = id(self) if loader_hash is None else loader_hash
        family = socket.AF_INET6 if is_ipv6(ip) else socket.AF_INET
        fixed = socket.inet_pton(family, ip) + struct.pack(
            ">HI", pid & 0xFFFF, loader_hash & 0xFFFFFFFF
        )
        self._prefix = fixed.hex().upper()
        self._counter = 0
        self._month_start_ms = 0
        self._next_month_ms = 0

    def _roll_month(self, now_ms: int) -> None:
        lt = time.localtime(now_ms / 1000.0)
        start = time.mktime((lt.tm_year, lt.tm_mon, 1, 0, 0, 0, 0, 0, -1))
        year, month = (lt.tm_year + 1, 1) if lt.tm_mon == 12 else (lt.tm_year, lt.tm_mon + 1)
        nxt = time.mktime((year, month, 1, 0, 0, 0, 0, 0, -1))
        self._month_start_ms = int(start * 1000)
        self._next_month_ms = int(nxt * 1000)

    def next_id(self) -> str:
        """Return a fresh unique id."""
        now_ms = int(self._clock() * 1000)
        if now_ms >= self._next_month_ms or now_ms < self._month_start_ms:
            self._roll_month(now_ms)
        self._counter = (self._counter + 1) & 0xFFFF
        diff = (now_ms - self._month_start_ms) & 0xFFFFFFFF
        return f"{self._prefix}{diff:08X}{self._counter:04X}"


# --- stored / transferred record (§5.1) ----------------------------------------------


@attrs.frozen(slots=True)
class MessageExt:
    """One stored message record, as held in the CommitLog and sent in pull bodies."""

    topic: str
    body: bytes
    queue_id: int = 0
    flag: int = 0
    properties: str = ""
    queue_offset: int = 0
    commit_log_offset: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: Host = ("127.0.0.1", 0)
    store_timestamp: int = 0
    store_host: Host = ("127.0.0.1", 0)
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    body_crc: int = 0
    store_size: int = 0

    @property
    def properties_dict(self) -> dict[str, str]:
        """The properties decoded into a dict."""
        return decode_properties(self.properties)

    @property
    def tags(self) -> str | None:
        """The TAGS property, if any."""
        return self.properties_dict.get(TAGS)

    @property
    def offset_msg_id(self) -> str:
        """Offset message id from the store host and commit-log offset."""
        return create_offset_msg_id(self.store_host[0], self.store_host[1], self.commit_log_offset)

    @property
    def msg_id(self) -> str:
        """What clients show as msgId: UNIQ_KEY when present, else the offset id."""
        return self.properties_dict.get(UNIQ_KEY) or self.offset_msg_id


def record_size(body_len: int, topic_len: int, props_len: int, sys_flag: int = 0) -> int:
    """Total stored size of a record with the given variable-part byte lengths."""
    extra = (12 if sys_flag & BORNHOST_V6_FLAG else 0) + (12 if sys_flag & STOREHOST_V6_FLAG else 0)
    return 91 + extra + body_len + topic_len + props_len


def encode_record(
    *,
    topic: bytes,
    body: bytes | memoryview,
    properties: bytes,
    queue_id: int,
    flag: int,
    queue_offset: int,
    physical_offset: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: bytes,
    store_timestamp: int,
    store_host: bytes,
    reconsume_times: int,
    prepared_transaction_offset: int,
    body_crc: int,
) -> bytes:
    """Encode one stored record from already-encoded parts (hosts as from :func:`host_to_bytes`).

    Raises MessageIllegal when the topic or properties exceed their signed length prefixes.
    """
    if len(topic) > 127:
        raise MessageIllegal(f"topic too long ({len(topic)} > 127 bytes)")
    if len(properties) > 32767:
        raise MessageIllegal(f"properties too long ({len(properties)} > 32767 bytes)")
    total = 75 + len(born_host) + len(store_host) + len(body) + len(topic) + len(properties)
    return b"".join(
        (
            _HEAD.pack(
                total,
                MESSAGE_MAGIC_CODE,
                body_crc,
                queue_id,
                flag,
                queue_offset,
                physical_offset,
                sys_flag,
                born_timestamp,
            ),
            born_host,
            _I64.pack(store_timestamp),
            store_host,
            _TAIL.pack(reconsume_times, prepared_transaction_offset),
            _I32.pack(len(body)),
            body,
            bytes((len(topic),)),
            topic,
            _I16.pack(len(properties)),
            properties,
        )
    )


def encode_message_ext(msg: MessageExt, *, compute_crc: bool = True) -> bytes:
    """Encode a MessageExt as a stored record; V6 flags follow the hosts' address families."""
    sys_flag = msg.sys_flag & ~(BORNHOST_V6_FLAG | STOREHOST_V6_FLAG)
    if is_ipv6(msg.born_host[0]):
        sys_flag |= BORNHOST_V6_FLAG
    if is_ipv6(msg.store_host[0]):
        sys_flag |= STOREHOST_V6_FLAG
    return encode_record(
        topic=msg.topic.encode(),
        body=msg.body,
        properties=msg.properties.encode(),
        queue_id=msg.queue_id,
        flag=msg.flag,
        queue_offset=msg.queue_offset,
        physical_offset=msg.commit_log_offset,
        sys_flag=sys_flag,
        born_timestamp=msg.born_timestamp,
        born_host=host_to_bytes(msg.born_host),
        store_timestamp=msg.store_timestamp,
        store_host=host_to_bytes(msg.store_host),
        reconsume_times=msg.reconsume_times,
        prepared_transaction_offset=msg.prepared_transaction_offset,
        body_crc=crc32_masked(msg.body) if compute_crc else msg.body_crc,
    )


def decode_message_ext(buf: bytes | memoryview, offset: int = 0) -> tuple[MessageExt, int]:
    """Decode one stored record at ``offset``; return it and the offset just past it.

    Raises MessageIllegal on a bad magic code, a truncated buffer or inconsistent lengths.
    """
    end = len(buf)
    if end - offset < HEAD_SIZE:
        raise MessageIllegal("truncated message record")
    size, magic, crc, qid, flag, qoff, phys, sys_flag, born_ts = _HEAD.unpack_from(buf, offset)
    if magic != MESSAGE_MAGIC_CODE:
        raise MessageIllegal(f"bad magic code {magic & 0xFFFFFFFF:#x} at {offset}")
    stop = offset + size
    if size < 91 or stop > end:
        raise MessageIllegal(f"bad record size {size} at {offset}")
    try:
        born_host, pos = _host_from(buf, offset + HEAD_SIZE, bool(sys_flag & BORNHOST_V6_FLAG))
        (store_ts,) = _I64.unpack_from(buf, pos)
        store_host, pos = _host_from(buf, pos + 8, bool(sys_flag & STOREHOST_V6_FLAG))
        reconsume, prepared = _TAIL.unpack_from(buf, pos)
        pos += 12
        (body_len,) = _I32.unpack_from(buf, pos)
        pos += 4
        body = bytes(buf[pos : pos + body_len])
        pos += body_len
        topic_len = buf[pos]
        topic = bytes(buf[pos + 1 : pos + 1 + topic_len]).decode()
        pos += 1 + topic_len
        (props_len,) = _I16.unpack_from(buf, pos)
        pos += 2
        props = bytes(buf[pos : pos + props_len]).decode()
        pos += props_len
    except (struct.error, IndexError, UnicodeDecodeError, OSError, ValueError) as e:
        raise MessageIllegal(f"malformed record at {offset}: {e}") from e
    if body_len < 0 or props_len < 0 or pos != stop:
        raise MessageIllegal(f"record lengths disagree with its size at {offset}")
    msg = MessageExt(
        topic=topic,
        body=body,
        queue_id=qid,
        flag=flag,
        properties=props,
        queue_offset=qoff,
        commit_log_offset=phys,
        sys_flag=sys_flag,
        born_timestamp=born_ts,
        born_host=born_host,
        store_timestamp=store_ts,
        store_host=store_host,
        reconsume_times=reconsume,
        prepared_transaction_offset=prepared,
        body_crc=crc,
        store_size=size,
    )
    return msg, stop


def iter_messages(buf: bytes | memoryview) -> Iterator[MessageExt]:
    """Yield each record of a pull body (several concatenated stored records)."""
    pos, end = 0, len(buf)
    while pos < end:
        msg, pos = decode_message_ext(buf, pos)
        yield msg


def decode_messages(buf: bytes | memoryview) -> list[MessageExt]:
    """Decode a whole pull body into its messages."""
    return list(iter_messages(buf))


# --- body compression (§5.6) -------------------------------------------------------------


def decompress_body(body: bytes, sys_flag: int) -> bytes:
    """Return the plain body: inflate when COMPRESSED is set (type bits 0 and 3 are zlib).

    LZ4/ZSTD need optional libraries (``lz4``, ``zstandard``); a clear MessageIllegal is raised
    when they are missing.
    """
    if not sys_flag & COMPRESSED_FLAG:
        return body
    ctype = sys_flag & COMPRESSION_TYPE_MASK
    if ctype in (0, COMPRESSION_ZLIB):
        try:
            return zlib.decompress(body)
        except zlib.error as e:
            raise MessageIllegal(f"cannot inflate zlib body: {e}") from e
    if ctype == COMPRESSION_LZ4:
        try:
            import lz4.frame  # type: ignore[import-not-found]
        except ImportError as e:
            raise MessageIllegal("LZ4-compressed body but the 'lz4' package is absent") from e
        return bytes(lz4.frame.decompress(body))
    if ctype == COMPRESSION_ZSTD:
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError as e:
            raise MessageIllegal("ZSTD-compressed body but 'zstandard' is absent") from e
        return bytes(zstandard.ZstdDecompressor().decompress(body))
    raise MessageIllegal(f"unknown compression type {ctype >> 8}")


def compress_body(body: bytes, level: int = 5) -> bytes:
    """zlib-compress a body as Java's Deflater does (the producer side, type 0/ZLIB)."""
    return zlib.compress(body, level)


# --- batch body (§5.4) ----------------------------------------------------------------------

BatchItem = tuple[int, bytes, str]  # (flag, body, properties string)


def decode_batch(body: bytes | memoryview) -> list[BatchItem]:
    """Split a SEND_BATCH_MESSAGE body into (flag, body, properties) per message."""
    out: list[BatchItem] = []
    pos, end = 0, len(body)
    while pos < end:
        if end - pos < 22:
            raise MessageIllegal("truncated batch record")
        size, _magic, _crc, flag = _BATCH_HEAD.unpack_from(body, pos)
        stop = pos + size
        if size < 22 or stop > end:
            raise MessageIllegal(f"bad batch record size {size} at {pos}")
        (blen,) = _I32.unpack_from(body, pos + 16)
        p = pos + 20
        if blen < 0 or p + blen + 2 > stop:
            raise MessageIllegal(f"bad batch body length at {pos}")
        mbody = bytes(body[p : p + blen])
        p += blen
        (plen,) = _I16.unpack_from(body, p)
        p += 2
        if plen < 0 or p + plen != stop:
            raise MessageIllegal(f"bad batch properties length at {pos}")
        try:
            props = bytes(body[p:stop]).decode()
        except UnicodeDecodeError as e:
            raise MessageIllegal(f"batch properties not UTF-8 at {pos}") from e
        out.append((flag, mbody, props))
        pos = stop
    return out


def encode_batch(items: Iterable[BatchItem]) -> bytes:
    """Encode messages into a batch body as clients do (magic and CRC written as 0)."""
    parts: list[bytes] = []
    for flag, mbody, props in items:
        praw = props.encode()
        if len(praw) > 32767:
            raise MessageIllegal("batch member properties too long")
        size = 22 + len(mbody) + len(praw)
        parts.append(_BATCH_HEAD.pack(size, 0, 0, flag))
        parts.append(_I32.pack(len(mbody)))
        parts.append(mbody)
        parts.append(_I16.pack(len(praw)))
        parts.append(praw)
    return b"".join(parts)
