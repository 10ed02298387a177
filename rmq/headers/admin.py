"""Headers of the broker admin and query codes (REFERENCE §3.4, §3.7).

Attribute names are the exact Java field names (the wire names) unless a field says
otherwise; the broker, the client and the tools all use these classes."""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader

__all__ = [
    "ConsumerGroupRequestHeader",
    "CreateTopicRequestHeader",
    "DeleteSubscriptionGroupRequestHeader",
    "GetBrokerConfigResponseHeader",
    "GetConsumeStatsRequestHeader",
    "ProducerGroupRequestHeader",
    "QueryMessageRequestHeader",
    "QueryMessageResponseHeader",
    "TopicRequestHeader",
    "ViewMessageRequestHeader",
]


@attrs.define
class ConsumerGroupRequestHeader(CommandHeader):
    """GET_CONSUMER_CONNECTION_LIST."""

    consumerGroup: str


@attrs.define
class CreateTopicRequestHeader(CommandHeader):
    topic: str
    readQueueNums: int
    writeQueueNums: int
    perm: int
    defaultTopic: str | None = None
    topicFilterType: str | None = None
    topicSysFlag: int | None = None
    order: bool = False


@attrs.define
class DeleteSubscriptionGroupRequestHeader(CommandHeader):
    groupName: str
    removeOffset: bool = False


@attrs.define
class GetBrokerConfigResponseHeader(CommandHeader):
    version: str


@attrs.define
class GetConsumeStatsRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str | None = None


@attrs.define
class ProducerGroupRequestHeader(CommandHeader):
    """GET_PRODUCER_CONNECTION_LIST."""

    producerGroup: str


@attrs.define
class QueryMessageRequestHeader(CommandHeader):
    topic: str
    key: str
    maxNum: int
    beginTimestamp: int
    endTimestamp: int


@attrs.define
class QueryMessageResponseHeader(CommandHeader):
    indexLastUpdateTimestamp: int
    indexLastUpdatePhyoffset: int


@attrs.define
class TopicRequestHeader(CommandHeader):
    """DELETE_TOPIC_IN_BROKER, GET_TOPIC_STATS_INFO, QUERY_TOPIC_CONSUME_BY_WHO."""

    topic: str


@attrs.define
class ViewMessageRequestHeader(CommandHeader):
    offset: int
