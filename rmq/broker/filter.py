"""Tag filter handed to the store's getMessage: ConsumeQueue hash first, then the tag string.

The ConsumeQueue holds only the tag's Java hash code, so two tags can collide; when the store
offers the record (or its properties) the TAGS property is compared as a string too.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from rmq.broker.heartbeat import SubscriptionData
from rmq.common.message import NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR, TAGS

__all__ = ["TagFilter", "record_tags"]

_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_BORN_V6 = 0x10
_STORE_V6 = 0x20


def record_tags(record: bytes | memoryview) -> str | None:
    """The TAGS property of one stored record (None when absent or the record is short)."""
    try:
        (sys_flag,) = _I32.unpack_from(record, 36)
        pos = 48 + (20 if sys_flag & _BORN_V6 else 8) + 8
        pos += (20 if sys_flag & _STORE_V6 else 8) + 12
        (body_len,) = _I32.unpack_from(record, pos)
        pos += 4 + body_len
        topic_len = record[pos]
        pos += 1 + topic_len
        (props_len,) = _I16.unpack_from(record, pos)
        props = bytes(record[pos + 2 : pos + 2 + props_len]).decode("utf-8", "replace")
    except (struct.error, IndexError):
        return None
    key = TAGS + NAME_VALUE_SEPARATOR
    if props.startswith(key):
        start = len(key)
    else:
        i = props.find(PROPERTY_SEPARATOR + key)
        if i < 0:
            return None
        start = i + 1 + len(key)
    end = props.find(PROPERTY_SEPARATOR, start)
    return props[start:] if end < 0 else props[start:end]


class TagFilter:
    """Matches messages against one TAG subscription (``*`` matches everything)."""

    __slots__ = ("codes", "match_all", "tags")

    def __init__(self, sub: SubscriptionData | None) -> None:
        self.match_all = sub is None or sub.matches_all or sub.expression_type != "TAG"
        self.codes = frozenset() if sub is None else sub.code_set
        self.tags = frozenset() if sub is None else frozenset(sub.tags_set)

    def is_matched_by_consume_queue(self, tags_code: int | None, *_: Any) -> bool:
        """Hash check against the ConsumeQueue unit's tags code."""
        if self.match_all:
            return True
        return tags_code is not None and tags_code in self.codes

    def is_matched_by_commit_log(
        self,
        record: bytes | memoryview | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> bool:
        """String check of the TAGS property (rules out hash collisions)."""
        if self.match_all:
            return True
        if properties is not None:
            tag = properties.get(TAGS)
        elif record is not None:
            tag = record_tags(record)
        else:
            return True
        return tag is not None and tag in self.tags
