"""Pure on-disk layouts of the store: CommitLog records, ConsumeQueue units, IndexFile, checkpoint.

No I/O here: functions read from or write into any buffer (bytes, bytearray, mmap, memoryview).
"""

from __future__ import annotations

import mmap
import struct
import zlib

import attrs

from rmq.common.message import (
    BLANK_MAGIC_CODE,
    BORNHOST_V6_FLAG,
    KEYS,
    MESSAGE_MAGIC_CODE,
    STOREHOST_V6_FLAG,
    TAGS,
    TRANSACTION_MASK,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    UNIQ_KEY,
    decode_properties,
    tag_hash_code,
)

Buffer = bytes | bytearray | memoryview | mmap.mmap

# --- CommitLog ------------------------------------------------------------------------------

BLANK = struct.Struct(">ii")  # remaining size, BLANK_MAGIC_CODE
BLANK_SIZE = BLANK.size
SIZE_MAGIC = struct.Struct(">ii")
MIN_RECORD_SIZE = 91
I32 = struct.Struct(">i")
I64 = struct.Struct(">q")
I16 = struct.Struct(">h")
# Offsets of fixed fields (same for IPv4 and IPv6 up to SYSFLAG, §5.1).
POS_CRC = 8
POS_QUEUE_ID = 12
POS_QUEUE_OFFSET = 20
POS_PHYS_OFFSET = 28
POS_SYSFLAG = 36
POS_BORN_HOST = 48


def write_blank(buf: Buffer, pos: int, remaining: int) -> None:
    """Write the end-of-file marker: int remaining, int BLANK magic."""
    BLANK.pack_into(buf, pos, remaining, BLANK_MAGIC_CODE)


def store_timestamp_pos(sys_flag: int) -> int:
    """Offset of STORETIMESTAMP within a record, after a 8- or 20-byte born host."""
    return POS_BORN_HOST + (20 if sys_flag & BORNHOST_V6_FLAG else 8)


def read_store_timestamp(buf: Buffer, pos: int) -> int:
    """The STORETIMESTAMP of the record at ``pos``."""
    (sys_flag,) = I32.unpack_from(buf, pos + POS_SYSFLAG)
    (ts,) = I64.unpack_from(buf, pos + store_timestamp_pos(sys_flag))
    return int(ts)


def dispatched(sys_flag: int) -> bool:
    """Prepared and rollback transaction records never enter consume queues (§12 item 11)."""
    tt = sys_flag & TRANSACTION_MASK
    return tt != TRANSACTION_PREPARED_TYPE and tt != TRANSACTION_ROLLBACK_TYPE


@attrs.frozen(slots=True)
class DispatchRequest:
    """What the dispatcher needs from one record to feed the ConsumeQueue and the index."""

    topic: str
    queue_id: int
    commit_log_offset: int
    size: int
    tags_code: int
    store_timestamp: int
    queue_offset: int
    sys_flag: int
    keys: str | None
    uniq_key: str | None
    properties: dict[str, str]


class RecordError(ValueError):
    """A record failed its size, magic code, layout or CRC check (recovery stops here)."""


BLANK_RECORD = -1  # returned by check_record for an end-of-file marker


def check_record(buf: Buffer, pos: int, limit: int, check_crc: bool) -> DispatchRequest | int:
    """Validate the record at ``pos`` (data valid up to ``limit``).

    Returns the DispatchRequest of a message, BLANK_RECORD for an end-of-file marker, or 0 when
    the position holds zeros (the end of written data). Raises RecordError otherwise.
    """
    if limit - pos < 8:
        if limit - pos == 0 or not any(bytes(buf[pos:limit])):
            return 0
        raise RecordError(f"torn header at {pos}")
    size, magic = SIZE_MAGIC.unpack_from(buf, pos)
    if magic == BLANK_MAGIC_CODE:
        return BLANK_RECORD
    if size == 0 and magic == 0:
        return 0
    if magic != MESSAGE_MAGIC_CODE:
        raise RecordError(f"bad magic code at {pos}")
    end = pos + size
    if size < MIN_RECORD_SIZE or end > limit:
        raise RecordError(f"bad record size {size} at {pos}")
    try:
        (crc,) = I32.unpack_from(buf, pos + POS_CRC)
        (queue_id,) = I32.unpack_from(buf, pos + POS_QUEUE_ID)
        (queue_offset,) = I64.unpack_from(buf, pos + POS_QUEUE_OFFSET)
        (phys,) = I64.unpack_from(buf, pos + POS_PHYS_OFFSET)
        (sys_flag,) = I32.unpack_from(buf, pos + POS_SYSFLAG)
        p = store_timestamp_pos(sys_flag)
        (store_ts,) = I64.unpack_from(buf, pos + p)
        p += 8 + (20 if sys_flag & STOREHOST_V6_FLAG else 8) + 12
        (body_len,) = I32.unpack_from(buf, pos + p)
        body_at = pos + p + 4
        p += 4 + body_len
        if body_len < 0 or pos + p >= end:
            raise RecordError(f"bad body length at {pos}")
        topic_len = buf[pos + p]
        topic = bytes(buf[pos + p + 1 : pos + p + 1 + topic_len]).decode()
        p += 1 + topic_len
        (props_len,) = I16.unpack_from(buf, pos + p)
        p += 2
        if props_len < 0 or p + props_len != size:
            raise RecordError(f"record lengths disagree with size at {pos}")
        props_text = bytes(buf[pos + p : end]).decode()
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise RecordError(f"malformed record at {pos}: {e}") from e
    if check_crc and zlib.crc32(buf[body_at : body_at + body_len]) & 0x7FFFFFFF != crc:
        raise RecordError(f"body CRC mismatch at {pos}")
    props = decode_properties(props_text)
    return DispatchRequest(
        topic=topic,
        queue_id=queue_id,
        commit_log_offset=phys,
        size=size,
        tags_code=tag_hash_code(props.get(TAGS)),
        store_timestamp=store_ts,
        queue_offset=queue_offset,
        sys_flag=sys_flag,
        keys=props.get(KEYS),
        uniq_key=props.get(UNIQ_KEY),
        properties=props,
    )


# --- ConsumeQueue ----------------------------------------------------------------------------

CQ_UNIT = struct.Struct(">qiq")  # commitLogOffset, size, tagsCode
CQ_UNIT_SIZE = CQ_UNIT.size  # 20
CQ_FILLER = (0, 0x7FFFFFFF, 0)


def cq_unit_valid(offset: int, size: int) -> bool:
    """A unit counts as written when its offset is >= 0 and its size > 0 (fillers included)."""
    return offset >= 0 and size > 0


# --- IndexFile ------------------------------------------------------------------------------

INDEX_HEADER = struct.Struct(">qqqqii")  # beginTs, endTs, beginPhy, endPhy, slotCount, indexCount
INDEX_HEADER_SIZE = INDEX_HEADER.size  # 40
INDEX_SLOT = struct.Struct(">i")
INDEX_SLOT_SIZE = 4
INDEX_ENTRY = struct.Struct(">iqii")  # keyHash, phyOffset, timeDiff, prevIndex
INDEX_ENTRY_SIZE = INDEX_ENTRY.size  # 20


def index_file_size(slots: int, entries: int) -> int:
    """Byte size of an IndexFile with the given slot and entry counts."""
    return INDEX_HEADER_SIZE + slots * INDEX_SLOT_SIZE + entries * INDEX_ENTRY_SIZE


def index_key_hash(key: str) -> int:
    """abs(Java hashCode) of the key, 0 when still negative (INT_MIN), §6.4."""
    h = abs(tag_hash_code(key))
    return 0 if h > 0x7FFFFFFF else h


# --- checkpoint -----------------------------------------------------------------------------

CHECKPOINT = struct.Struct(">qqq")  # physicMsgTimestamp, logicsMsgTimestamp, indexMsgTimestamp
CHECKPOINT_FILE_SIZE = 4096
