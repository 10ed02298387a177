"""HEART_BEAT (34) and UNREGISTER_CLIENT (35): client channel registration.

A consumer heartbeat also makes sure the group's ``%RETRY%<group>`` topic exists (so the name
server routes it, REFERENCE §0.4 item 7). Closed connections leave every group at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rmq.broker.clients import ClientChannelInfo
from rmq.broker.heartbeat import parse_heartbeat
from rmq.broker.topics import PERM_READ, PERM_WRITE, retry_topic
from rmq.headers import UnregisterClientRequestHeader
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["ClientManageProcessor", "register"]


class ClientManageProcessor:
    """Registers and unregisters producer and consumer channels."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def heartbeat(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """Record every group the client reports; answer with the broker version."""
        broker = self.broker
        data = parse_heartbeat(request.body)
        now = broker.clock.seconds()
        for consumer in data.consumers:
            cfg = broker.subgroups.find_or_create(consumer.group_name)
            if cfg is not None:
                queues = cfg.retry_queue_nums
                broker.topics.create_in_send_back(
                    retry_topic(consumer.group_name), queues, PERM_READ | PERM_WRITE, 0
                )
            info = ClientChannelInfo(ctx, data.client_id, request.language, request.version, now)
            broker.consumers.register(consumer, info)
        for group in data.producer_groups:
            info = ClientChannelInfo(ctx, data.client_id, request.language, request.version, now)
            broker.producers.register(group, info)
        return request.make_response()

    def unregister(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """Remove the channel from the named producer and/or consumer group."""
        h = UnregisterClientRequestHeader.from_ext(request.ext_fields)
        if h.producerGroup:
            self.broker.producers.unregister(h.producerGroup, ctx)
        if h.consumerGroup:
            self.broker.consumers.unregister(h.consumerGroup, ctx)
        return request.make_response()


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve codes 34 and 35; drop channels of closed connections."""
    proc = ClientManageProcessor(broker)
    dispatcher.register(RequestCode.HEART_BEAT, proc.heartbeat)
    dispatcher.register(RequestCode.UNREGISTER_CLIENT, proc.unregister)
    dispatcher.add_disconnect_listener(broker.producers.connection_lost)
    dispatcher.add_disconnect_listener(broker.consumers.connection_lost)
