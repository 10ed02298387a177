"""Headers of PULL_MESSAGE (REFERENCE §3.3).

Attribute names are the exact Java field names (the wire names) unless a field says
otherwise; the broker, the client and the tools all use these classes."""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader

__all__ = [
    "PullMessageRequestHeader",
    "PullMessageResponseHeader",
]


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
    subVersion: int = 0
    subscription: str | None = None
    expressionType: str | None = None
    bname: str | None = None


@attrs.define
class PullMessageResponseHeader(CommandHeader):
    nextBeginOffset: int
    minOffset: int = 0
    maxOffset: int = 0
    suggestWhichBrokerId: int = 0
