"""Custom headers of the broker admin and query requests (REFERENCE §3.4, §3.7).

Attribute names are the Java field names, so they are the wire names.
"""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader


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
class TopicRequestHeader(CommandHeader):
    """DELETE_TOPIC_IN_BROKER, GET_TOPIC_STATS_INFO, QUERY_TOPIC_CONSUME_BY_WHO."""

    topic: str


@attrs.define
class DeleteSubscriptionGroupRequestHeader(CommandHeader):
    groupName: str
    removeOffset: bool = False


@attrs.define
class ConsumerGroupRequestHeader(CommandHeader):
    """GET_CONSUMER_CONNECTION_LIST."""

    consumerGroup: str


@attrs.define
class ProducerGroupRequestHeader(CommandHeader):
    """GET_PRODUCER_CONNECTION_LIST."""

    producerGroup: str


@attrs.define
class GetConsumeStatsRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str | None = None


@attrs.define
class QueueRequestHeader(CommandHeader):
    """GET_MAX_OFFSET, GET_MIN_OFFSET, GET_EARLIEST_MSG_STORETIME."""

    topic: str
    queueId: int


@attrs.define
class SearchOffsetRequestHeader(CommandHeader):
    topic: str
    queueId: int
    timestamp: int


@attrs.define
class OffsetResponseHeader(CommandHeader):
    """GET_MAX_OFFSET, GET_MIN_OFFSET and SEARCH_OFFSET_BY_TIMESTAMP answers."""

    offset: int


@attrs.define
class EarliestMsgStoretimeResponseHeader(CommandHeader):
    timestamp: int


@attrs.define
class GetBrokerConfigResponseHeader(CommandHeader):
    version: str


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
class ViewMessageRequestHeader(CommandHeader):
    offset: int
