"""HeartbeatData and SubscriptionData bodies as both client families send them.

Java and ali-ons write enums as names and ``subVersion`` as a number; the C++ client writes enum
ordinals, ``subVersion`` as a string, no ``codeSet`` and a trailing newline. Both parse to the
same objects here; subscriptions are ``rmq.filter.tags.SubscriptionData`` (which recomputes tag
hash codes when the client left them out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from rmq.common import fastjson
from rmq.common.errors import BodyError
from rmq.filter.tags import SubscriptionData

__all__ = [
    "CONSUME_FROM_WHERE",
    "CONSUME_TYPES",
    "MESSAGE_MODELS",
    "ConsumerData",
    "HeartbeatData",
    "parse_heartbeat",
]

CONSUME_TYPES = ("CONSUME_ACTIVELY", "CONSUME_PASSIVELY")
MESSAGE_MODELS = ("BROADCASTING", "CLUSTERING")
CONSUME_FROM_WHERE = (
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
)


def _enum(value: Any, names: Sequence[str], field: str) -> str:
    if isinstance(value, bool):
        raise BodyError(f"heartbeat field {field!r} has bad value {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        i = int(value)
        if 0 <= i < len(names):
            return names[i]
    elif isinstance(value, str) and value in names:
        return value
    raise BodyError(f"heartbeat field {field!r} has bad value {value!r}")


def _int(value: Any, field: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BodyError(f"heartbeat field {field!r} must be a number, got {value!r}") from None


@attrs.define
class ConsumerData:
    """A consumer group as one client reports it in a heartbeat."""

    group_name: str
    consume_type: str
    message_model: str
    consume_from_where: str
    subscriptions: list[SubscriptionData]
    unit_mode: bool = False


@attrs.define
class HeartbeatData:
    """HEART_BEAT body: the client id and the groups it runs."""

    client_id: str
    producer_groups: list[str]
    consumers: list[ConsumerData]


def parse_heartbeat(body: bytes | None) -> HeartbeatData:
    """Decode a HEART_BEAT body (either enum encoding); BodyError when it is malformed."""
    obj = fastjson.load_object(body, "HEART_BEAT")
    client_id = obj.get("clientID")
    if not isinstance(client_id, str) or not client_id:
        raise BodyError("HEART_BEAT body without 'clientID'")
    producers = [
        str(p.get("groupName")) for p in obj.get("producerDataSet") or [] if p.get("groupName")
    ]
    consumers: list[ConsumerData] = []
    for c in obj.get("consumerDataSet") or []:
        group = c.get("groupName")
        if not isinstance(group, str) or not group:
            raise BodyError("heartbeat consumer data without 'groupName'")
        consumers.append(
            ConsumerData(
                group,
                _enum(c.get("consumeType", 1), CONSUME_TYPES, "consumeType"),
                _enum(c.get("messageModel", 1), MESSAGE_MODELS, "messageModel"),
                _enum(c.get("consumeFromWhere", 0), CONSUME_FROM_WHERE, "consumeFromWhere"),
                [SubscriptionData.from_json(s) for s in c.get("subscriptionDataSet") or []],
                bool(c.get("unitMode", False)),
            )
        )
    return HeartbeatData(client_id, producers, consumers)
