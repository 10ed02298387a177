"""Headers of END_TRANSACTION and CHECK_TRANSACTION_STATE (REFERENCE §3.6).

Attribute names are the exact Java field names (the wire names) unless a field says
otherwise; the broker, the client and the tools all use these classes."""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader

__all__ = [
    "CheckTransactionStateRequestHeader",
    "EndTransactionRequestHeader",
]


@attrs.define(slots=True)
class EndTransactionRequestHeader(CommandHeader):
    """END_TRANSACTION header (REFERENCE §3.6)."""

    producerGroup: str
    tranStateTableOffset: int
    commitLogOffset: int
    commitOrRollback: int
    msgId: str | None = None
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
