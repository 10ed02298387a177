"""GET_CONSUMER_LIST_BY_GROUP (38), QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rmq.common import fastjson
from rmq.headers import (
    GetConsumerListByGroupRequestHeader,
    QueryConsumerOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["ConsumerProcessor", "register"]

NOT_FOUND_REMARK = "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first"


class ConsumerProcessor:
    """Consumer-group membership and committed offsets."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def consumer_list(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """Client ids of the group's live channels, or code 1 when there are none."""
        h = GetConsumerListByGroupRequestHeader.from_ext(request.ext_fields)
        info = self.broker.consumers.get(h.consumerGroup)
        ids = info.client_ids() if info is not None else []
        if not ids:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {h.consumerGroup}"
            )
        return request.make_response(body=fastjson.dumpb({"consumerIdList": ids}))

    def query_offset(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """The committed offset; 0 for a young queue starting at 0; else QUERY_NOT_FOUND."""
        h = QueryConsumerOffsetRequestHeader.from_ext(request.ext_fields)
        offset = self.broker.offsets.query(h.consumerGroup, h.topic, h.queueId)
        if offset < 0:
            store = self.broker.store
            min_offset = store.get_min_offset_in_queue(h.topic, h.queueId)
            in_disk = getattr(store, "check_in_disk_by_consume_offset", None)
            if min_offset <= 0 and (in_disk is None or not in_disk(h.topic, h.queueId, 0)):
                offset = 0
            else:
                return request.make_response(ResponseCode.QUERY_NOT_FOUND, NOT_FOUND_REMARK)
        return request.make_response(ext_fields={"offset": str(offset)})

    def update_offset(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """Commit an offset; negative ones (ali-ons' -1) are ignored."""
        h = UpdateConsumerOffsetRequestHeader.from_ext(request.ext_fields)
        self.broker.offsets.commit(h.consumerGroup, h.topic, h.queueId, h.commitOffset)
        return request.make_response()


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve codes 14, 15 and 38."""
    proc = ConsumerProcessor(broker)
    dispatcher.register(RequestCode.GET_CONSUMER_LIST_BY_GROUP, proc.consumer_list)
    dispatcher.register(RequestCode.QUERY_CONSUMER_OFFSET, proc.query_offset)
    dispatcher.register(RequestCode.UPDATE_CONSUMER_OFFSET, proc.update_offset)
