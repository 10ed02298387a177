"""Half-message transformations: park, commit, delete (op), re-check and discard copies.

A half message is the producer's message parked in ``RMQ_SYS_TRANS_HALF_TOPIC`` queue 0 with its
real topic/queue in ``REAL_TOPIC``/``REAL_QID`` and the transaction bits reset so it gets a
consume-queue entry. Deleting it means appending an op message (tag ``d``, body = the half queue
offset in decimal) to ``RMQ_SYS_TRANS_OP_HALF_TOPIC`` on the same queue id.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from rmq.broker.requeue import InnerMessage, from_stored, tags_code_of
from rmq.broker.topics import TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC
from rmq.common.message import (
    PGROUP,
    REAL_QID,
    REAL_TOPIC,
    TAGS,
    TRAN_MSG,
    TRANSACTION_CHECK_TIMES,
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_MASK,
    TRANSACTION_NOT_TYPE,
    UNIQ_KEY,
    WAIT,
    Host,
    MessageExt,
    decode_properties,
    encode_message_ext,
    encode_properties,
)

__all__ = [
    "OP_TAG_DELETE",
    "SYS_TRANS_GROUP",
    "check_copy",
    "check_times",
    "commit_message",
    "discard_copy",
    "is_half_send",
    "op_message",
    "park",
    "restored_body",
]

SYS_TRANS_GROUP = "CID_RMQ_SYS_TRANS"
"""Internal group whose offsets record check progress in consumerOffset.json."""
OP_TAG_DELETE = "d"

M = TypeVar("M")


def is_half_send(properties: str | dict[str, str]) -> bool:
    """True when a send carries ``TRAN_MSG=true``."""
    props = properties if isinstance(properties, dict) else decode_properties(properties)
    return props.get(TRAN_MSG, "").lower() == "true"


def park(msg: M) -> M:
    """The half copy of a transactional send (``msg`` has topic, queue_id, properties, sys_flag)."""
    props = decode_properties(msg.properties)  # type: ignore[attr-defined]
    props[REAL_TOPIC] = msg.topic  # type: ignore[attr-defined]
    props[REAL_QID] = str(msg.queue_id)  # type: ignore[attr-defined]
    changes: dict[str, Any] = {
        "topic": TRANS_HALF_TOPIC,
        "queue_id": 0,
        "properties": encode_properties(props),
        "sys_flag": (msg.sys_flag & ~TRANSACTION_MASK) | TRANSACTION_NOT_TYPE,  # type: ignore[attr-defined]
    }
    if hasattr(msg, "tags_code"):
        changes["tags_code"] = tags_code_of(props)
    if attrs.has(type(msg)):
        return attrs.evolve(msg, **changes)  # type: ignore[misc]
    for key, value in changes.items():
        setattr(msg, key, value)
    return msg


def commit_message(half: MessageExt) -> InnerMessage:
    """The real message a commit appends: real topic/queue, COMMIT bits, prepared offset."""
    inner = from_stored(half)
    props = inner.properties
    inner.topic = props.pop(REAL_TOPIC, half.topic)
    inner.queue_id = _int(props.pop(REAL_QID, "0"))
    props.pop(TRAN_MSG, None)
    props[WAIT] = "false"
    inner.sys_flag = (half.sys_flag & ~TRANSACTION_MASK) | TRANSACTION_COMMIT_TYPE
    inner.prepared_transaction_offset = half.commit_log_offset
    inner.tags_code = tags_code_of(props)
    return inner


def op_message(half_queue_id: int, half_queue_offset: int, store_host: Host) -> InnerMessage:
    """The op record that marks half message ``half_queue_offset`` as done."""
    props = {TAGS: OP_TAG_DELETE, WAIT: "false"}
    return InnerMessage(
        topic=TRANS_OP_HALF_TOPIC,
        queue_id=half_queue_id,
        body=str(half_queue_offset).encode(),
        properties=props,
        store_host=store_host,
        tags_code=tags_code_of(props),
    )


def check_times(half: MessageExt) -> int:
    """How many check-backs this half message has had."""
    return _int(decode_properties(half.properties).get(TRANSACTION_CHECK_TIMES, "0"))


def check_copy(half: MessageExt) -> InnerMessage:
    """A fresh copy of a pending half message with its check counter incremented."""
    inner = from_stored(half)
    inner.properties[TRANSACTION_CHECK_TIMES] = str(check_times(half) + 1)
    inner.properties[WAIT] = "false"
    return inner


def discard_copy(half: MessageExt) -> InnerMessage:
    """The copy moved to TRANS_CHECK_MAX_TIME_TOPIC when the check limit is reached."""
    inner = from_stored(half)
    inner.topic = TRANS_CHECK_MAX_TIME_TOPIC
    inner.queue_id = 0
    inner.properties[WAIT] = "false"
    return inner


def restored_body(half: MessageExt) -> bytes:
    """CHECK_TRANSACTION_STATE body: the stored record with the real topic and queue."""
    props = decode_properties(half.properties)
    real = attrs.evolve(
        half,
        topic=props.get(REAL_TOPIC, half.topic),
        queue_id=_int(props.get(REAL_QID, str(half.queue_id))),
    )
    return encode_message_ext(real)


def producer_group(half: MessageExt) -> str:
    """The PGROUP property (empty when missing)."""
    return decode_properties(half.properties).get(PGROUP, "")


def uniq_key(half: MessageExt) -> str | None:
    return decode_properties(half.properties).get(UNIQ_KEY)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
