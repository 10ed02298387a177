"""Client-side data model: queues, outgoing messages, results and the enums Java clients send."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from rmq.common import message as m
from rmq.common.message import MessageExt

RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"
DEFAULT_TOPIC = "TBW102"
CLIENT_INNER_PRODUCER_GROUP = "CLIENT_INNER_PRODUCER"
SUB_ALL = "*"


def retry_topic(group: str) -> str:
    """The retry topic of a consumer group (``%RETRY%<group>``)."""
    return RETRY_GROUP_TOPIC_PREFIX + group


@attrs.frozen(order=True, slots=True)
class MessageQueue:
    """One queue of a topic on one broker name; orders as RocketMQ sorts queues."""

    topic: str
    broker_name: str
    queue_id: int

    def to_obj(self) -> dict[str, Any]:
        """The JSON object Java writes for a MessageQueue."""
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> MessageQueue:
        return cls(str(obj["topic"]), str(obj["brokerName"]), int(obj["queueId"]))

    def __str__(self) -> str:
        # Java's MessageQueue.toString(): the consistent-hash key.
        return (
            f"MessageQueue [topic={self.topic}, brokerName={self.broker_name}, "
            f"queueId={self.queue_id}]"
        )


@attrs.define
class Message:
    """A message to send. System properties (tags, keys, delay) have their own fields."""

    topic: str
    body: bytes
    tags: str | None = None
    keys: str | Iterable[str] | None = None
    properties: dict[str, str] = attrs.field(factory=dict)
    flag: int = 0
    delay_level: int = 0
    wait_store_msg_ok: bool = True

    def keys_string(self) -> str | None:
        """KEYS joined by a single space, as Java stores several keys."""
        if self.keys is None:
            return None
        if isinstance(self.keys, str):
            return self.keys
        return " ".join(self.keys)

    def build_properties(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """User properties plus the system ones this message's fields imply."""
        props = dict(self.properties)
        if self.tags:
            props[m.TAGS] = self.tags
        keys = self.keys_string()
        if keys:
            props[m.KEYS] = keys
        if self.delay_level > 0:
            props[m.DELAY] = str(self.delay_level)
        props[m.WAIT] = "true" if self.wait_store_msg_ok else "false"
        if extra:
            props.update(extra)
        return props


class SendStatus(enum.Enum):
    SEND_OK = "SEND_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"


@attrs.frozen
class SendResult:
    """What a stored send returns: client id (UNIQ_KEY), offset id, queue and offset."""

    status: SendStatus
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int
    region_id: str = "DefaultRegion"
    trace_on: bool = True
    transaction_id: str | None = None


class PullStatus(enum.Enum):
    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


@attrs.frozen
class PullResult:
    """A pull answer: status, offsets to continue from and the (client-filtered) messages."""

    status: PullStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageExt] = attrs.field(factory=list)
    suggest_which_broker_id: int = 0


class ConsumeStatus(enum.Enum):
    """What a concurrent listener answers (Java ConsumeConcurrentlyStatus)."""

    CONSUME_SUCCESS = "CONSUME_SUCCESS"
    RECONSUME_LATER = "RECONSUME_LATER"


class ConsumeOrderlyStatus(enum.Enum):
    """What an orderly listener answers (Java ConsumeOrderlyStatus, minus deprecated values)."""

    SUCCESS = "SUCCESS"
    SUSPEND_CURRENT_QUEUE_A_MOMENT = "SUSPEND_CURRENT_QUEUE_A_MOMENT"


class MessageModel(enum.Enum):
    CLUSTERING = "CLUSTERING"
    BROADCASTING = "BROADCASTING"


class ConsumeType(enum.Enum):
    CONSUME_ACTIVELY = "CONSUME_ACTIVELY"
    CONSUME_PASSIVELY = "CONSUME_PASSIVELY"


class ConsumeFromWhere(enum.Enum):
    CONSUME_FROM_LAST_OFFSET = "CONSUME_FROM_LAST_OFFSET"
    CONSUME_FROM_FIRST_OFFSET = "CONSUME_FROM_FIRST_OFFSET"
    CONSUME_FROM_TIMESTAMP = "CONSUME_FROM_TIMESTAMP"


class ExpressionType(enum.StrEnum):
    """Subscription expression types; the values are the wire strings."""

    TAG = "TAG"
    SQL92 = "SQL92"


class LocalTransactionState(enum.Enum):
    """A local transaction's outcome; the value is END_TRANSACTION's ``commitOrRollback``."""

    COMMIT_MESSAGE = m.TRANSACTION_COMMIT_TYPE
    ROLLBACK_MESSAGE = m.TRANSACTION_ROLLBACK_TYPE
    UNKNOW = m.TRANSACTION_NOT_TYPE
