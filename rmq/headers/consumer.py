"""Headers of offsets, client management and broker-to-client calls (REFERENCE §3.4, §3.5, §3.8).

Attribute names are the exact Java field names (the wire names) unless a field says
otherwise; the broker, the client and the tools all use these classes."""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader

__all__ = [
    "ConsumeMessageDirectlyRequestHeader",
    "EarliestMsgStoretimeResponseHeader",
    "GetConsumerListByGroupRequestHeader",
    "GetConsumerRunningInfoRequestHeader",
    "GetConsumerStatusRequestHeader",
    "NotifyConsumerIdsChangedRequestHeader",
    "OffsetResponseHeader",
    "QueryConsumerOffsetRequestHeader",
    "QueueOffsetRequestHeader",
    "ResetOffsetRequestHeader",
    "SearchOffsetRequestHeader",
    "UnregisterClientRequestHeader",
    "UpdateConsumerOffsetRequestHeader",
]


@attrs.define
class QueryConsumerOffsetRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str
    queueId: int
    bname: str | None = None


@attrs.define
class UpdateConsumerOffsetRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str
    queueId: int
    commitOffset: int
    bname: str | None = None


@attrs.define
class QueueOffsetRequestHeader(CommandHeader):
    """GET_MAX_OFFSET (30) and GET_MIN_OFFSET (31)."""

    topic: str
    queueId: int
    bname: str | None = None


@attrs.define
class SearchOffsetRequestHeader(CommandHeader):
    topic: str
    queueId: int
    timestamp: int
    bname: str | None = None


@attrs.define
class OffsetResponseHeader(CommandHeader):
    """GET_MAX_OFFSET, GET_MIN_OFFSET and SEARCH_OFFSET_BY_TIMESTAMP answers."""

    offset: int


@attrs.define
class EarliestMsgStoretimeResponseHeader(CommandHeader):
    timestamp: int


@attrs.define(slots=True)
class UnregisterClientRequestHeader(CommandHeader):
    clientID: str
    producerGroup: str | None = None
    consumerGroup: str | None = None


@attrs.define(slots=True)
class GetConsumerListByGroupRequestHeader(CommandHeader):
    consumerGroup: str


@attrs.define
class NotifyConsumerIdsChangedRequestHeader(CommandHeader):
    consumerGroup: str


@attrs.define(slots=True)
class ResetOffsetRequestHeader(CommandHeader):
    """Header of 222 (admin -> broker) and 220 (broker -> consumer)."""

    topic: str
    group: str
    timestamp: int
    isForce: bool = False


@attrs.define
class GetConsumerRunningInfoRequestHeader(CommandHeader):
    consumerGroup: str
    clientId: str
    jstackEnable: bool = False


@attrs.define
class ConsumeMessageDirectlyRequestHeader(CommandHeader):
    consumerGroup: str
    clientId: str | None = None
    msgId: str | None = None
    brokerName: str | None = None


@attrs.define
class GetConsumerStatusRequestHeader(CommandHeader):
    """Header of 223 (admin -> broker) and 221 (broker -> consumer, without ``clientAddr``).

    ``clientAddr`` names one client id to ask (Java compares it with the channel's client id).
    """

    topic: str
    group: str
    clientAddr: str | None = None
