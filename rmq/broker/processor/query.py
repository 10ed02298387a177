"""QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33): find stored messages by key or offset.

As RocketMQ 4.9's QueryMessageProcessor: a key query returns the matching stored records
concatenated (the client decodes and filters them); with the ``_UNIQUE_KEY_QUERY`` flag the
limit becomes the store's ``defaultQueryMaxNum``. View-by-id returns the one record at a
CommitLog offset, decoded by the client from an offset message id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rmq.headers import (
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    ViewMessageRequestHeader,
)
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["QueryProcessor", "register"]

UNIQUE_KEY_QUERY = "_UNIQUE_KEY_QUERY"
NOT_FOUND_REMARK = "can not find message, maybe time range not correct"


class QueryProcessor:
    """Handlers for the two lookup codes; reads ``broker.store``."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(RequestCode.QUERY_MESSAGE, self.query_message)
        dispatcher.register(RequestCode.VIEW_MESSAGE_BY_ID, self.view_message_by_id)

    def _index_state(self) -> tuple[int, int]:
        """(last index update time ms, last indexed CommitLog offset), 0 when unknown."""
        store: Any = self.broker.store
        checkpoint = getattr(store, "checkpoint", None)
        ts = int(getattr(checkpoint, "index_msg_timestamp", 0) or 0)
        index = getattr(store, "index", None)
        phy = int(index.end_phy_offset()) if index is not None else 0
        return ts, max(phy, 0)

    def query_message(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """QUERY_MESSAGE: records of ``topic`` with ``key`` stored in the time range."""
        h = QueryMessageRequestHeader.from_ext(request.ext_fields)
        max_num = h.maxNum
        if request.ext_fields.get(UNIQUE_KEY_QUERY) == "true":
            max_num = int(getattr(self.broker.store_config, "default_query_max_num", 32))
        records = self.broker.store.query_message(
            h.topic, h.key, max_num, h.beginTimestamp, h.endTimestamp
        )
        ts, phy = self._index_state()
        ext = QueryMessageResponseHeader(ts, phy).to_ext()
        if not records:
            return request.make_response(ResponseCode.QUERY_NOT_FOUND, NOT_FOUND_REMARK, ext)
        return request.make_response(ResponseCode.SUCCESS, None, ext, b"".join(records))

    def view_message_by_id(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """VIEW_MESSAGE_BY_ID: the one record at a CommitLog offset."""
        offset = ViewMessageRequestHeader.from_ext(request.ext_fields).offset
        record = self.broker.store.look_message_by_offset(offset) if offset >= 0 else None
        if record is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {offset}"
            )
        return request.make_response(ResponseCode.SUCCESS, None, None, bytes(record))


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Register QUERY_MESSAGE and VIEW_MESSAGE_BY_ID on ``dispatcher``."""
    QueryProcessor(broker).register(dispatcher)
