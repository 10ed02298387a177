"""Subscriptions: tag expressions parsed as RocketMQ's FilterAPI does, and SubscriptionData.

A TAG subscription string is ``*`` (or empty: everything) or tags joined with ``||``; each
tag is trimmed and its Java ``String.hashCode`` goes into the code set the broker matches
ConsumeQueue tag codes against (REFERENCE §7.13). SQL92 subscriptions keep the SQL text in
``sub_string`` and have empty tag and code sets.

``SubscriptionData`` reads both heartbeat forms (CLIENTS.md §2.5, §3.3): the Java/ali-ons form
with ``tagsSet``/``codeSet``/``expressionType`` and a numeric ``subVersion``, and the C++ form
with only ``topic``/``subString`` and a string ``subVersion`` (tags are then rebuilt from the
string, since the C++ client sends no code set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from rmq.common.errors import BodyError, SubscriptionParseFailed
from rmq.common.message import tag_hash_code

__all__ = [
    "SQL92",
    "SUB_ALL",
    "TAG",
    "SubscriptionData",
    "build_subscription",
    "is_tag_type",
    "parse_tags",
    "tag_matches",
]

TAG: Final = "TAG"
SQL92: Final = "SQL92"
SUB_ALL: Final = "*"


def is_tag_type(expression_type: str | None) -> bool:
    """ExpressionType.isTagType: absent, empty and ``TAG`` all mean a tag expression."""
    return not expression_type or expression_type == TAG


def parse_tags(sub_string: str | None) -> tuple[str, tuple[str, ...], tuple[int, ...]]:
    """(normalised sub string, tags, hash codes) of a tag expression.

    ``None``, empty and ``*`` become ``*`` with no tags. Otherwise the string is split on
    ``||`` and each piece trimmed; empty pieces are dropped and duplicates kept once.
    """
    if not sub_string or sub_string == SUB_ALL:
        return SUB_ALL, (), ()
    tags: dict[str, None] = {}
    for piece in sub_string.split("||"):
        tag = piece.strip()
        if tag:
            tags[tag] = None
    ordered = tuple(tags)
    return sub_string, ordered, tuple(tag_hash_code(t) for t in ordered)


@attrs.frozen(slots=True)
class SubscriptionData:
    """One topic subscription of a consumer group, as carried in heartbeats and pulls."""

    topic: str
    sub_string: str = SUB_ALL
    tags_set: tuple[str, ...] = ()
    codes: tuple[int, ...] = ()
    sub_version: int = 0
    expression_type: str = TAG
    class_filter_mode: bool = False
    code_set: frozenset[int] = attrs.field(init=False, eq=False, repr=False)
    tag_lookup: frozenset[str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "code_set", frozenset(self.codes))
        object.__setattr__(self, "tag_lookup", frozenset(self.tags_set))

    @property
    def is_tag(self) -> bool:
        """True for a TAG expression (including ``*``)."""
        return is_tag_type(self.expression_type)

    @property
    def is_all(self) -> bool:
        """True when every message matches by tag (``*``)."""
        return self.is_tag and self.sub_string == SUB_ALL

    def to_json(self, *, cpp: bool = False) -> dict[str, Any]:
        """The heartbeat/JSON body dict: Java form, or with ``cpp`` the C++ client's form."""
        if cpp:
            return {
                "subString": self.sub_string,
                "subVersion": str(self.sub_version),
                "topic": self.topic,
            }
        return {
            "classFilterMode": self.class_filter_mode,
            "codeSet": list(self.codes),
            "expressionType": self.expression_type,
            "subString": self.sub_string,
            "subVersion": self.sub_version,
            "tagsSet": list(self.tags_set),
            "topic": self.topic,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SubscriptionData:
        """Read either heartbeat form; raises BodyError naming a missing or mistyped field."""
        if not isinstance(obj, Mapping):
            raise BodyError("subscriptionData must be a JSON object")
        topic = obj.get("topic")
        if not isinstance(topic, str) or not topic:
            raise BodyError("subscriptionData.topic is missing")
        sub_string = obj.get("subString")
        if sub_string is not None and not isinstance(sub_string, str):
            raise BodyError("subscriptionData.subString must be a string")
        expression_type = obj.get("expressionType") or TAG
        if not isinstance(expression_type, str):
            raise BodyError("subscriptionData.expressionType must be a string")
        sub_version = _as_int(obj.get("subVersion", 0), "subVersion")
        class_filter = obj.get("classFilterMode") in (True, "true")
        if not is_tag_type(expression_type):
            return cls(
                topic,
                sub_string or "",
                sub_version=sub_version,
                expression_type=expression_type,
                class_filter_mode=class_filter,
            )
        raw_tags, raw_codes = obj.get("tagsSet"), obj.get("codeSet")
        if raw_tags is None:
            sub_string, tags, codes = parse_tags(sub_string)
        else:
            if not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags):
                raise BodyError("subscriptionData.tagsSet must be a list of strings")
            tags = tuple(raw_tags)
            if raw_codes is None:
                codes = tuple(tag_hash_code(t) for t in tags)
            elif isinstance(raw_codes, list):
                codes = tuple(_as_int(c, "codeSet") for c in raw_codes)
            else:
                raise BodyError("subscriptionData.codeSet must be a list of integers")
            sub_string = sub_string or SUB_ALL
        return cls(
            topic,
            sub_string,
            tags,
            codes,
            sub_version=sub_version,
            expression_type=TAG,
            class_filter_mode=class_filter,
        )


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise BodyError(f"subscriptionData.{field} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip() or "0")
        except ValueError:
            pass
    raise BodyError(f"subscriptionData.{field} must be an integer, got {value!r}")


def build_subscription(
    topic: str,
    sub_string: str | None,
    expression_type: str | None = None,
    sub_version: int = 0,
) -> SubscriptionData:
    """FilterAPI.build: a TAG subscription parsed from its string, or an SQL92 one as given.

    Raises SubscriptionParseFailed (code 23) for an SQL92 subscription without an expression.
    The SQL text itself is not compiled here (see ``rmq.filter.sql92.compile_sql92``).
    """
    if is_tag_type(expression_type):
        text, tags, codes = parse_tags(sub_string)
        return SubscriptionData(topic, text, tags, codes, sub_version)
    if not sub_string:
        raise SubscriptionParseFailed(f"Expression can't be null! {expression_type}")
    return SubscriptionData(
        topic, sub_string, sub_version=sub_version, expression_type=str(expression_type)
    )


def tag_matches(subscription: SubscriptionData | None, tag: str | None) -> bool:
    """The tag-string check clients (and a careful broker) make after hash filtering.

    No subscription, a class-filter or SQL92 one, or an empty tag set (``*``) keeps every
    message; otherwise the message's TAGS must be one of the subscribed tags.
    """
    if subscription is None or subscription.class_filter_mode or not subscription.is_tag:
        return True
    if not subscription.tags_set:
        return True
    return tag is not None and tag in subscription.tag_lookup
