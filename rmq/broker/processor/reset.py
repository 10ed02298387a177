"""INVOKE_BROKER_TO_RESET_OFFSET (222): backtrack a consumer group to a timestamp (§7.7).

For each write queue of the topic the target is the offset at ``timestamp`` (-1: the max
offset); it replaces the committed offset when ``isForce`` or when it is smaller. The new table
goes to every live consumer of the group as RESET_CONSUMER_CLIENT_OFFSET (220, oneway) - as
ResetOffsetBody (object-keyed map) or, when the admin request came from a CPP client, as
ResetOffsetBodyForC (a list) - and is written to the stored offsets. The reply body is the
ResetOffsetBody.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from rmq.common import fastjson
from rmq.common.errors import RMQError
from rmq.headers import ResetOffsetRequestHeader
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = [
    "ResetOffsetRequestHeader",
    "encode_reset_body",
    "encode_reset_body_for_c",
    "register",
    "reset_offsets",
]

_log = Logger()


def _mq(broker_name: str, topic: str, queue_id: int) -> fastjson.ObjectKey:
    return fastjson.ObjectKey.of({"brokerName": broker_name, "queueId": queue_id, "topic": topic})


def encode_reset_body(table: dict[int, int], topic: str, broker_name: str) -> bytes:
    """ResetOffsetBody: ``{"offsetTable":{{MessageQueue}:offset,...}}``."""
    body = {_mq(broker_name, topic, q): o for q, o in table.items()}
    return fastjson.dumpb({"offsetTable": body})


def encode_reset_body_for_c(table: dict[int, int], topic: str, broker_name: str) -> bytes:
    """ResetOffsetBodyForC: ``{"offsetTable":[{brokerName, offset, queueId, topic},...]}``."""
    rows = [
        {"brokerName": broker_name, "offset": o, "queueId": q, "topic": topic}
        for q, o in sorted(table.items())
    ]
    return fastjson.dumpb({"offsetTable": rows})


def reset_offsets(
    broker: BrokerController, topic: str, group: str, timestamp: int, force: bool
) -> dict[int, int]:
    """Queue id -> new offset; RMQError when the topic or the group's offsets are unknown."""
    tc = broker.topics.get(topic)
    if tc is None:
        raise RMQError(
            f"[reset-offset] reset offset failed, no topic in this broker. topic={topic}"
        )
    store = broker.store
    table: dict[int, int] = {}
    for qid in range(tc.write_queue_nums):
        current = broker.offsets.query(group, topic, qid)
        if current < 0:
            raise RMQError(f"THe consumer group <{group}> not exist")
        if timestamp == -1:
            target = store.get_max_offset_in_queue(topic, qid)
        else:
            target = store.get_offset_in_queue_by_time(topic, qid, timestamp)
        target = max(target, 0)
        table[qid] = target if force or target < current else current
    return table


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve INVOKE_BROKER_TO_RESET_OFFSET (222)."""

    def handle(ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        h = ResetOffsetRequestHeader.from_ext(request.ext_fields)
        table = reset_offsets(broker, h.topic, h.group, h.timestamp, h.isForce)
        name = broker.config.broker_name
        body = encode_reset_body(table, h.topic, name)
        info: Any = broker.consumers.get(h.group)
        channels = list(info.channels.values()) if info is not None else []
        if not channels:
            return request.make_response(
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"Consumer not online, so can not reset offset, Group: {h.group} "
                f"Topic: {h.topic} Timestamp: {h.timestamp}",
            )
        push_body = (
            encode_reset_body_for_c(table, h.topic, name) if request.language == "CPP" else body
        )
        for channel in channels:
            cmd = RemotingCommand.request(
                RequestCode.RESET_CONSUMER_CLIENT_OFFSET, h.to_ext(), push_body, oneway=True
            )
            try:
                d = channel.connection.invoke_oneway(cmd)
            except Exception:
                _log.failure("reset offset push to {c} failed", c=channel.client_id)
                continue
            d.addErrback(lambda f: _log.warn("reset push failed: {e}", e=f.getErrorMessage()))
        for qid, offset in table.items():
            broker.offsets.commit(h.group, h.topic, qid, offset)
        return request.make_response(ResponseCode.SUCCESS, body=body)

    dispatcher.register(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, handle)
