"""Broker-made messages: copies of stored messages put back into the store under a new topic.

Delay delivery, consume retries, dead letters and transactions all take a stored message, change
its topic, queue and a few properties, and append it again. :class:`InnerMessage` is that copy
(RocketMQ's MessageExtBrokerInner) and :func:`put` the one place that hands it to the store.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet.defer import Deferred, maybeDeferred

from rmq.common.message import (
    TAGS,
    Host,
    MessageExt,
    decode_properties,
    encode_properties,
    tag_hash_code,
)

__all__ = ["InnerMessage", "PutOutcome", "from_stored", "put", "tags_code_of"]


def tags_code_of(properties: dict[str, str]) -> int:
    """The consume-queue tags code of ordinary messages: Java hashCode of TAGS."""
    return tag_hash_code(properties.get(TAGS))


@attrs.define
class InnerMessage:
    """A message the broker itself appends (a mutable copy with decoded properties)."""

    topic: str
    queue_id: int
    body: bytes
    flag: int = 0
    properties: dict[str, str] = attrs.field(factory=dict)
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: Host = ("127.0.0.1", 0)
    store_host: Host = ("127.0.0.1", 0)
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    tags_code: int | None = None
    """Consume-queue tags code; None means the hash of TAGS."""

    @property
    def properties_string(self) -> str:
        return encode_properties(self.properties)


def from_stored(msg: MessageExt, store_host: Host | None = None) -> InnerMessage:
    """A copy of a stored message (same topic, queue, body and properties)."""
    return InnerMessage(
        topic=msg.topic,
        queue_id=msg.queue_id,
        body=msg.body,
        flag=msg.flag,
        properties=decode_properties(msg.properties),
        sys_flag=msg.sys_flag,
        born_timestamp=msg.born_timestamp,
        born_host=msg.born_host,
        store_host=store_host or msg.store_host,
        reconsume_times=msg.reconsume_times,
        prepared_transaction_offset=msg.prepared_transaction_offset,
    )


@attrs.frozen
class PutOutcome:
    """What a put achieved: ``ok`` plus where the record landed."""

    ok: bool
    status: str
    commit_log_offset: int = -1
    queue_offset: int = -1
    msg_id: str = ""


def put(store: Any, inner: InnerMessage, wait_store_msg_ok: bool = False) -> Deferred[PutOutcome]:
    """Append ``inner`` through the store facade; fires a PutOutcome (errors become ok=False)."""
    from rmq.store.message_store import MessageToStore

    tags_code = inner.tags_code
    if tags_code is None:
        tags_code = tags_code_of(inner.properties)
    msg = MessageToStore(
        topic=inner.topic,
        queue_id=inner.queue_id,
        body=inner.body,
        flag=inner.flag,
        properties=inner.properties_string,
        sys_flag=inner.sys_flag,
        born_timestamp=inner.born_timestamp,
        born_host=inner.born_host,
        store_host=inner.store_host,
        reconsume_times=inner.reconsume_times,
        prepared_transaction_offset=inner.prepared_transaction_offset,
        tags_code=tags_code,
        wait_store_msg_ok=wait_store_msg_ok,
    )
    d = maybeDeferred(store.put_message, msg)
    return d.addCallbacks(_outcome, _failed)


def _outcome(result: Any) -> PutOutcome:
    status = getattr(result, "status", "UNKNOWN_ERROR")
    ids = getattr(result, "msg_ids", None) or [""]
    return PutOutcome(
        ok=bool(getattr(result, "ok", False)),
        status=str(getattr(status, "name", status)),
        commit_log_offset=int(getattr(result, "wrote_offset", -1)),
        queue_offset=int(getattr(result, "queue_offset", -1)),
        msg_id=ids[0],
    )


def _failed(failure: Any) -> PutOutcome:
    return PutOutcome(ok=False, status=failure.getErrorMessage())
