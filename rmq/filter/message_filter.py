"""The store's message filter for one pull: tag codes first, then SQL92 over properties.

``ExpressionMessageFilter`` is what the pull processor hands to the store's read path
(REFERENCE §6.11, §7.13): the store asks ``is_matched_by_consume_queue`` with each
ConsumeQueue unit's tag hash, and ``is_matched_by_commit_log`` with the record (or its
already decoded properties) for units that passed. TAG subscriptions are decided by hash
alone, as the Java broker does; SQL92 subscriptions pass the hash stage and are evaluated
over the message properties. A broker that also wants to rule out hash collisions can call
``tag_matches`` (re-exported here) with the record's TAGS.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping
from typing import Protocol

from rmq.common.message import (
    BORNHOST_V6_FLAG,
    HEAD_SIZE,
    STOREHOST_V6_FLAG,
    TAGS,
    MessageExt,
    decode_properties,
)
from rmq.filter.sql92 import CompiledExpression, compile_sql92
from rmq.filter.tags import SUB_ALL, is_tag_type, tag_matches

__all__ = ["ExpressionMessageFilter", "SubscriptionLike", "record_properties", "tag_matches"]


class SubscriptionLike(Protocol):
    """What the filter reads of a subscription (``rmq.filter.tags.SubscriptionData`` or the
    broker's heartbeat one)."""

    @property
    def sub_string(self) -> str: ...
    @property
    def code_set(self) -> frozenset[int]: ...
    @property
    def tags_set(self) -> Collection[str]: ...
    @property
    def expression_type(self) -> str: ...
    @property
    def class_filter_mode(self) -> bool: ...


_SYS_FLAG = struct.Struct(">i")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_SYS_FLAG_AT = 36  # totalSize, magic, bodyCRC, queueId, flag, queueOffset, physicalOffset


def record_properties(record: bytes | memoryview, offset: int = 0) -> dict[str, str]:
    """Decode only the properties of the stored record at ``offset`` (body left untouched)."""
    (sys_flag,) = _SYS_FLAG.unpack_from(record, offset + _SYS_FLAG_AT)
    pos = offset + HEAD_SIZE
    pos += 20 if sys_flag & BORNHOST_V6_FLAG else 8  # born host
    pos += 8  # store timestamp
    pos += 20 if sys_flag & STOREHOST_V6_FLAG else 8  # store host
    pos += 12  # reconsumeTimes, preparedTransactionOffset
    (body_len,) = _I32.unpack_from(record, pos)
    pos += 4 + body_len
    pos += 1 + record[pos]  # topic
    (props_len,) = _I16.unpack_from(record, pos)
    pos += 2
    return decode_properties(bytes(record[pos : pos + props_len]).decode("utf-8"))


class ExpressionMessageFilter:
    """Filters one subscription's messages; SQL92 text is compiled (and cached) up front.

    Construction raises SubscriptionParseFailed (code 23) for an SQL92 expression that does
    not compile, so a pull with a bad expression is refused before touching the store.
    """

    __slots__ = ("_all", "_codes", "_expression", "_tags", "subscription")

    def __init__(
        self,
        subscription: SubscriptionLike | None,
        expression: CompiledExpression | None = None,
        *,
        check_tags: bool = False,
    ) -> None:
        """``check_tags`` adds the TAGS string check to the commit-log stage (hash collisions)."""
        self.subscription = subscription
        self._expression: CompiledExpression | None = None
        self._all = True
        self._codes: frozenset[int] = frozenset()
        self._tags: frozenset[str] | None = None
        if subscription is None or subscription.class_filter_mode:
            return
        if is_tag_type(subscription.expression_type):
            self._all = subscription.sub_string == SUB_ALL
            self._codes = subscription.code_set
            if check_tags and not self._all and subscription.tags_set:
                self._tags = frozenset(subscription.tags_set)
        else:
            self._expression = expression or compile_sql92(subscription.sub_string)

    @property
    def expression(self) -> CompiledExpression | None:
        """The compiled SQL92 selector, or None for tag (and absent) subscriptions."""
        return self._expression

    def is_matched_by_consume_queue(self, tags_code: int | None, cq_ext: object = None) -> bool:
        """Tag stage: a TAG subscription keeps ``*``, unknown codes and codes it subscribes to."""
        if self._all or tags_code is None:
            return True
        return tags_code in self._codes

    def is_matched_by_commit_log(
        self,
        record: bytes | memoryview | MessageExt | None,
        properties: Mapping[str, str] | None = None,
    ) -> bool:
        """SQL92 stage: evaluate over ``properties``, or over those decoded from ``record``.

        TAG subscriptions match here unless built with ``check_tags`` (then TAGS must be one
        of the subscribed tags).
        """
        expression = self._expression
        if expression is None and self._tags is None:
            return True
        if properties is None:
            if record is None:
                if expression is None:
                    return True  # nothing to compare the tags with
                properties = {}
            elif isinstance(record, MessageExt):
                properties = record.properties_dict
            else:
                properties = record_properties(record)
        if expression is None:
            return properties.get(TAGS) in self._tags  # type: ignore[operator]
        return expression.matches(properties)
