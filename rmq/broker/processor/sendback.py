"""CONSUMER_SEND_MSG_BACK (36): a consumer failed a message; retry it later or dead-letter it.

Accepts both the C++ client's short header (``group``, ``offset``, ``delayLevel``) and the full
Java one (``originMsgId``, ``originTopic``, ``unitMode``, ``maxReconsumeTimes``). The retry copy
goes through the delay levels (``broker.schedule``) so it comes back after its level's delay.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from rmq.broker.requeue import PutOutcome, put
from rmq.broker.retry import DLQ_NUMS_PER_GROUP, plan_send_back
from rmq.broker.topics import PERM_READ, PERM_WRITE, retry_topic
from rmq.common.errors import NoPermission, RMQError, SubscriptionGroupNotExist
from rmq.common.message import decode_message_ext
from rmq.headers import ConsumerSendMsgBackRequestHeader
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["ConsumerSendMsgBackRequestHeader", "SendBackProcessor", "register"]

_FAQ = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."


class SendBackProcessor:
    """Turns a send-back into a retry-topic (or DLQ) message."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        self.rand = random.Random()

    def handle(self, ctx: RemotingConnection, request: RemotingCommand) -> Any:
        h = ConsumerSendMsgBackRequestHeader.from_ext(request.ext_fields)
        broker = self.broker
        group = h.group
        sub = broker.subgroups.find_or_create(group)
        if sub is None:
            raise SubscriptionGroupNotExist(f"subscription group not exist, {group}{_FAQ}")
        if not broker.config.broker_permission & PERM_WRITE:
            raise NoPermission(
                f"the broker[{broker.config.broker_ip1}] sending message is forbidden"
            )
        if sub.retry_queue_nums <= 0:
            return request.make_response(ResponseCode.SUCCESS)
        rw = PERM_READ | PERM_WRITE
        tc = broker.topics.create_in_send_back(retry_topic(group), sub.retry_queue_nums, rw, 0)
        if tc is None:
            raise RMQError(f"topic[{retry_topic(group)}] not exist")
        if not tc.perm & PERM_WRITE:
            raise NoPermission(f"the topic[{tc.topic_name}] sending message is forbidden")
        raw = broker.store.look_message_by_offset(h.offset)
        if raw is None:
            raise RMQError(f"look message by offset failed, {h.offset}")
        msg, _ = decode_message_ext(raw)
        max_times = h.maxReconsumeTimes
        if max_times is None:
            max_times = sub.retry_max_times
        plan = plan_send_back(
            msg, group, h.delayLevel, max_times, tc.write_queue_nums, broker.store_host, self.rand
        )
        inner = plan.message
        if plan.dead_letter:
            dlq = broker.topics.create_in_send_back(inner.topic, DLQ_NUMS_PER_GROUP, rw, 0)
            if dlq is None:
                raise RMQError(f"topic[{inner.topic}] not exist")
        elif broker.schedule is not None:
            inner = broker.schedule.redirect(inner)
        d: Deferred[PutOutcome] = put(broker.store, inner)
        return d.addCallback(self._answer, request)

    @staticmethod
    def _answer(outcome: PutOutcome, request: RemotingCommand) -> RemotingCommand:
        if outcome.ok:
            return request.make_response(ResponseCode.SUCCESS)
        return request.make_response(ResponseCode.SYSTEM_ERROR, outcome.status)


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve CONSUMER_SEND_MSG_BACK (36)."""
    dispatcher.register(RequestCode.CONSUMER_SEND_MSG_BACK, SendBackProcessor(broker).handle)
