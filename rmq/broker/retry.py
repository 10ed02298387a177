"""Consume retries and dead letters: what a failed message becomes when a consumer sends it back.

RocketMQ's rule (§7.8): the stored message is copied to ``%RETRY%<group>`` with a rising delay
level (``3 + reconsumeTimes`` when the consumer asked for 0), or to ``%DLQ%<group>`` once it was
reconsumed ``maxReconsumeTimes`` times (or the consumer asked for level -1). The copy keeps body,
flag, properties, sysFlag and born time/host; it records the first topic in ``RETRY_TOPIC`` and
the first message id in ``ORIGIN_MESSAGE_ID``, and counts ``reconsumeTimes + 1``.
"""

from __future__ import annotations

import random

import attrs

from rmq.broker.requeue import InnerMessage, from_stored, tags_code_of
from rmq.broker.topics import dlq_topic, retry_topic
from rmq.common.message import (
    DELAY,
    ORIGIN_MESSAGE_ID,
    RETRY_TOPIC,
    WAIT,
    Host,
    MessageExt,
)

__all__ = ["DLQ_NUMS_PER_GROUP", "SendBack", "plan_send_back"]

DLQ_NUMS_PER_GROUP = 1
FIRST_RETRY_LEVEL = 3
"""Level of the first retry when the consumer leaves the choice to the broker (10 s)."""


@attrs.frozen
class SendBack:
    """Where a sent-back message goes: the copy to put and whether it is a dead letter."""

    message: InnerMessage
    dead_letter: bool
    delay_level: int


def plan_send_back(
    msg: MessageExt,
    group: str,
    delay_level: int,
    max_reconsume_times: int,
    retry_queue_nums: int,
    store_host: Host,
    rand: random.Random | None = None,
) -> SendBack:
    """Build the retry (or DLQ) copy of ``msg`` for consumer ``group``."""
    inner = from_stored(msg, store_host)
    props = inner.properties
    if RETRY_TOPIC not in props:
        props[RETRY_TOPIC] = msg.topic
    props[WAIT] = "false"
    pick = rand or random
    dead = msg.reconsume_times >= max_reconsume_times or delay_level < 0
    if dead:
        inner.topic = dlq_topic(group)
        inner.queue_id = pick.randrange(DLQ_NUMS_PER_GROUP)
        props.pop(DELAY, None)
        level = 0
    else:
        inner.topic = retry_topic(group)
        inner.queue_id = pick.randrange(max(retry_queue_nums, 1))
        level = delay_level if delay_level > 0 else FIRST_RETRY_LEVEL + msg.reconsume_times
        props[DELAY] = str(level)
    if not props.get(ORIGIN_MESSAGE_ID):
        props[ORIGIN_MESSAGE_ID] = msg.offset_msg_id
    inner.reconsume_times = msg.reconsume_times + 1
    inner.tags_code = tags_code_of(props)
    return SendBack(inner, dead, level)
