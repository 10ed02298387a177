"""Custom headers of the broker codes the core processors serve (REFERENCE §3.2-§3.5)."""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader

__all__ = [
    "GetConsumerListByGroupRequestHeader",
    "PullMessageRequestHeader",
    "PullMessageResponseHeader",
    "QueryConsumerOffsetRequestHeader",
    "SendMessageRequestHeader",
    "SendMessageRequestHeaderV2",
    "SendMessageResponseHeader",
    "UnregisterClientRequestHeader",
    "UpdateConsumerOffsetRequestHeader",
]


@attrs.define(slots=True)
class SendMessageRequestHeader(CommandHeader):
    """SEND_MESSAGE (10): long field names (C++ and non-Java clients)."""

    producerGroup: str
    topic: str
    defaultTopic: str
    defaultTopicQueueNums: int
    queueId: int
    sysFlag: int
    bornTimestamp: int
    flag: int
    properties: str | None = None
    reconsumeTimes: int | None = None
    unitMode: bool = False
    batch: bool = False
    maxReconsumeTimes: int | None = None


@attrs.define(slots=True)
class SendMessageRequestHeaderV2(CommandHeader):
    """SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320): one-letter wire names."""

    producerGroup: str = attrs.field(metadata={"wire": "a"})
    topic: str = attrs.field(metadata={"wire": "b"})
    defaultTopic: str = attrs.field(metadata={"wire": "c"})
    defaultTopicQueueNums: int = attrs.field(metadata={"wire": "d"})
    queueId: int = attrs.field(metadata={"wire": "e"})
    sysFlag: int = attrs.field(metadata={"wire": "f"})
    bornTimestamp: int = attrs.field(metadata={"wire": "g"})
    flag: int = attrs.field(metadata={"wire": "h"})
    properties: str | None = attrs.field(default=None, metadata={"wire": "i"})
    reconsumeTimes: int | None = attrs.field(default=None, metadata={"wire": "j"})
    unitMode: bool = attrs.field(default=False, metadata={"wire": "k"})
    maxReconsumeTimes: int | None = attrs.field(default=None, metadata={"wire": "l"})
    batch: bool = attrs.field(default=False, metadata={"wire": "m"})
    brokerName: str | None = attrs.field(default=None, metadata={"wire": "n"})


@attrs.define(slots=True)
class SendMessageResponseHeader(CommandHeader):
    msgId: str
    queueId: int
    queueOffset: int
    transactionId: str | None = None


@attrs.define(slots=True)
class PullMessageRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str
    queueId: int
    queueOffset: int
    maxMsgNums: int
    sysFlag: int
    commitOffset: int
    suspendTimeoutMillis: int
    subVersion: int = 0
    subscription: str | None = None
    expressionType: str | None = None


@attrs.define(slots=True)
class PullMessageResponseHeader(CommandHeader):
    suggestWhichBrokerId: int
    nextBeginOffset: int
    minOffset: int
    maxOffset: int


@attrs.define(slots=True)
class QueryConsumerOffsetRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str
    queueId: int


@attrs.define(slots=True)
class UpdateConsumerOffsetRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str
    queueId: int
    commitOffset: int


@attrs.define(slots=True)
class UnregisterClientRequestHeader(CommandHeader):
    clientID: str
    producerGroup: str | None = None
    consumerGroup: str | None = None


@attrs.define(slots=True)
class GetConsumerListByGroupRequestHeader(CommandHeader):
    consumerGroup: str
