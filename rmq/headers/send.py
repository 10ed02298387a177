"""Headers of SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE and CONSUMER_SEND_MSG_BACK (§3.2).

Attribute names are the exact Java field names (the wire names) unless a field says
otherwise; the broker, the client and the tools all use these classes."""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader

__all__ = [
    "ConsumerSendMsgBackRequestHeader",
    "SendMessageRequestHeader",
    "SendMessageRequestHeaderV2",
    "SendMessageResponseHeader",
]


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


@attrs.define
class SendMessageResponseHeader(CommandHeader):
    msgId: str
    queueId: int
    queueOffset: int
    transactionId: str | None = None
    MSG_REGION: str | None = None
    TRACE_ON: str | None = None


@attrs.define(slots=True)
class ConsumerSendMsgBackRequestHeader(CommandHeader):
    """CONSUMER_SEND_MSG_BACK header (REFERENCE §3.2); ``offset`` is a commit-log offset."""

    offset: int
    group: str
    delayLevel: int = 0
    originMsgId: str | None = None
    originTopic: str | None = None
    unitMode: bool = False
    maxReconsumeTimes: int | None = None
    bname: str | None = None
