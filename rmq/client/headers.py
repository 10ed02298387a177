"""Typed custom headers of the requests a client sends and the broker requests it answers.

Wire names are the exact Java field names (REFERENCE §3); SEND_MESSAGE_V2 uses one letter each.
"""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader


def _w(name: str) -> dict[str, str]:
    return {"wire": name}


@attrs.define
class GetRouteInfoRequestHeader(CommandHeader):
    topic: str
    acceptStandardJsonOnly: bool | None = None


@attrs.define
class SendMessageRequestHeader(CommandHeader):
    """SEND_MESSAGE (10) long-name header."""

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
    bname: str | None = None


@attrs.define
class SendMessageRequestHeaderV2(CommandHeader):
    """SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320): the same fields, letters a..n."""

    producerGroup: str = attrs.field(metadata=_w("a"))
    topic: str = attrs.field(metadata=_w("b"))
    defaultTopic: str = attrs.field(metadata=_w("c"))
    defaultTopicQueueNums: int = attrs.field(metadata=_w("d"))
    queueId: int = attrs.field(metadata=_w("e"))
    sysFlag: int = attrs.field(metadata=_w("f"))
    bornTimestamp: int = attrs.field(metadata=_w("g"))
    flag: int = attrs.field(metadata=_w("h"))
    properties: str | None = attrs.field(default=None, metadata=_w("i"))
    reconsumeTimes: int | None = attrs.field(default=None, metadata=_w("j"))
    unitMode: bool = attrs.field(default=False, metadata=_w("k"))
    maxReconsumeTimes: int | None = attrs.field(default=None, metadata=_w("l"))
    batch: bool = attrs.field(default=False, metadata=_w("m"))
    brokerName: str | None = attrs.field(default=None, metadata=_w("n"))


@attrs.define
class SendMessageResponseHeader(CommandHeader):
    msgId: str
    queueId: int
    queueOffset: int
    transactionId: str | None = None
    MSG_REGION: str | None = None
    TRACE_ON: str | None = None


@attrs.define
class PullMessageRequestHeader(CommandHeader):
    consumerGroup: str
    topic: str
    queueId: int
    queueOffset: int
    maxMsgNums: int
    sysFlag: int
    commitOffset: int
    suspendTimeoutMillis: int
    subVersion: int
    subscription: str | None = None
    expressionType: str | None = None
    bname: str | None = None


@attrs.define
class PullMessageResponseHeader(CommandHeader):
    nextBeginOffset: int
    minOffset: int = 0
    maxOffset: int = 0
    suggestWhichBrokerId: int = 0


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
    offset: int


@attrs.define
class UnregisterClientRequestHeader(CommandHeader):
    clientID: str
    producerGroup: str | None = None
    consumerGroup: str | None = None


@attrs.define
class GetConsumerListByGroupRequestHeader(CommandHeader):
    consumerGroup: str


@attrs.define
class ConsumerSendMsgBackRequestHeader(CommandHeader):
    offset: int
    group: str
    delayLevel: int
    originMsgId: str | None = None
    originTopic: str | None = None
    unitMode: bool = False
    maxReconsumeTimes: int | None = None
    bname: str | None = None


@attrs.define
class EndTransactionRequestHeader(CommandHeader):
    producerGroup: str
    tranStateTableOffset: int
    commitLogOffset: int
    commitOrRollback: int
    msgId: str
    fromTransactionCheck: bool = False
    transactionId: str | None = None
    bname: str | None = None


@attrs.define
class CheckTransactionStateRequestHeader(CommandHeader):
    tranStateTableOffset: int
    commitLogOffset: int
    msgId: str | None = None
    transactionId: str | None = None
    offsetMsgId: str | None = None


@attrs.define
class QueryMessageRequestHeader(CommandHeader):
    topic: str
    key: str
    maxNum: int
    beginTimestamp: int
    endTimestamp: int


@attrs.define
class ViewMessageRequestHeader(CommandHeader):
    offset: int


@attrs.define
class NotifyConsumerIdsChangedRequestHeader(CommandHeader):
    consumerGroup: str


@attrs.define
class ResetOffsetRequestHeader(CommandHeader):
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
