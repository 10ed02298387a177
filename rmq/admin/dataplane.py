"""Send and pull for the tools, straight over MQClientAPI (no heartbeats, no rebalance).

mqadmin's sendMessage/consumeMessage and the benchmarks need one message out or a range of
queue offsets in; a full client instance would add timers they do not want.
"""

from __future__ import annotations

import attrs
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from rmq.admin.api import AdminAPI
from rmq.client import api as capi
from rmq.client.model import MessageQueue, PullResult, SendResult
from rmq.common import message as m
from rmq.common.errors import MQClientError, RemoteError
from rmq.common.route import PERM_READ, PERM_WRITE, TopicRouteData
from rmq.headers import PullMessageRequestHeader, SendMessageRequestHeaderV2
from rmq.remoting.codes import ResponseCode

__all__ = [
    "DEFAULT_TOPIC",
    "TOOLS_GROUP",
    "Target",
    "pull",
    "queues",
    "send",
    "send_route",
]

DEFAULT_TOPIC = "TBW102"
DEFAULT_TOPIC_QUEUE_NUMS = 4
"""Queues asked for a topic auto-created by a send (the Java producer's default)."""
TOOLS_GROUP = "TOOLS_CONSUMER"
TOOLS_PRODUCER = "TOOLS_PRODUCER"


@attrs.frozen
class Target:
    """A queue and the master address that serves it."""

    mq: MessageQueue
    addr: str


def queues(route: TopicRouteData, topic: str, write: bool) -> list[Target]:
    """Writable (or readable) queues of a topic on brokers with a master, sorted."""
    masters = {b.brokerName: b.brokerAddrs.get(0) for b in route.brokerDatas}
    out: list[Target] = []
    bit = PERM_WRITE if write else PERM_READ
    for qd in route.queueDatas:
        addr = masters.get(qd.brokerName)
        if addr is None or not qd.perm & bit:
            continue
        n = qd.writeQueueNums if write else qd.readQueueNums
        out.extend(Target(MessageQueue(topic, qd.brokerName, i), addr) for i in range(n))
    return sorted(out, key=lambda t: t.mq)


def send_route(api: AdminAPI, topic: str) -> Deferred[TopicRouteData]:
    """The topic's route, or the default topic's when the topic is not yet known (code 17).

    Sending through the default topic's brokers makes them auto-create the topic, as the
    Java producer does; like it, the default route's queue counts are capped at
    DEFAULT_TOPIC_QUEUE_NUMS, the count the broker creates the topic with.
    """

    def cap(route: TopicRouteData) -> TopicRouteData:
        for qd in route.queueDatas:
            qd.readQueueNums = min(qd.readQueueNums, DEFAULT_TOPIC_QUEUE_NUMS)
            qd.writeQueueNums = min(qd.writeQueueNums, DEFAULT_TOPIC_QUEUE_NUMS)
        return route

    def fallback(failure: Failure) -> Deferred[TopicRouteData]:
        exc = failure.value
        if isinstance(exc, RemoteError) and exc.code == ResponseCode.TOPIC_NOT_EXIST:
            return api.topic_route(DEFAULT_TOPIC).addCallback(cap)
        failure.raiseException()

    return api.topic_route(topic).addErrback(fallback)


def send(
    api: AdminAPI,
    target: Target,
    body: bytes,
    props: dict[str, str],
    born_ms: int,
    group: str = TOOLS_PRODUCER,
) -> Deferred[SendResult]:
    """SEND_MESSAGE_V2 of one message (``props`` must already hold UNIQ_KEY)."""
    header = SendMessageRequestHeaderV2(
        group,
        target.mq.topic,
        DEFAULT_TOPIC,
        DEFAULT_TOPIC_QUEUE_NUMS,
        target.mq.queue_id,
        0,
        born_ms,
        0,
        m.encode_properties(props),
    )
    msg_id = props.get(m.UNIQ_KEY, "")
    return api.client.send_message(target.addr, target.mq, header, body, msg_id, api.timeout)


def pull(
    api: AdminAPI,
    target: Target,
    group: str,
    offset: int,
    max_nums: int,
    sub_version: int,
    expression: str = "*",
) -> Deferred[PullResult]:
    """One non-suspending PULL_MESSAGE with an inline tag subscription; commits nothing."""
    if max_nums <= 0:
        raise MQClientError("max_nums must be positive")
    header = PullMessageRequestHeader(
        group,
        target.mq.topic,
        target.mq.queue_id,
        offset,
        max_nums,
        capi.PULL_SUBSCRIPTION,
        0,
        0,
        sub_version,
        expression,
        "TAG",
    )
    return api.client.pull_message(target.addr, header, api.timeout)
