"""Queue lists derived from a topic route (pure): where a producer may write, a consumer read."""

from __future__ import annotations

from rmq.client.model import MessageQueue
from rmq.common.route import PERM_READ, PERM_WRITE, TopicRouteData

MASTER_ID = 0


def publish_queues(topic: str, route: TopicRouteData) -> list[MessageQueue]:
    """Writable queues: ``orderTopicConf`` when set, else each writable broker with a master."""
    out: list[MessageQueue] = []
    if route.orderTopicConf:
        for part in route.orderTopicConf.split(";"):
            name, _, nums = part.partition(":")
            if name and nums.strip().isdigit():
                out.extend(MessageQueue(topic, name, i) for i in range(int(nums)))
        return out
    masters = {b.brokerName for b in route.brokerDatas if MASTER_ID in b.brokerAddrs}
    for qd in sorted(route.queueDatas, key=lambda q: q.brokerName):
        if qd.perm & PERM_WRITE and qd.brokerName in masters:
            out.extend(MessageQueue(topic, qd.brokerName, i) for i in range(qd.writeQueueNums))
    return out


def subscribe_queues(topic: str, route: TopicRouteData) -> list[MessageQueue]:
    """Readable queues: ``readQueueNums`` of every readable QueueData."""
    out: list[MessageQueue] = []
    for qd in route.queueDatas:
        if qd.perm & PERM_READ:
            out.extend(MessageQueue(topic, qd.brokerName, i) for i in range(qd.readQueueNums))
    return sorted(out)
