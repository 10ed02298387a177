"""The broker's topic table (``topics.json``): built-in topics, auto-creation, change listeners.

Follows RocketMQ 4.9's TopicConfigManager: built-in system topics are added at start, the file
then overrides them; a send to an unknown topic creates it from a template topic (``TBW102``)
that carries the INHERIT permission; every change bumps the DataVersion, is persisted and is
announced to listeners (the controller re-registers with the name servers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rmq.broker.persist import (
    Runner,
    VersionedConfigTable,
    synchronous_runner,
)
from rmq.common.message import SCHEDULE_TOPIC
from rmq.common.route import TopicConfig

if TYPE_CHECKING:
    from rmq.broker.config import BrokerConfig

__all__ = [
    "AUTO_CREATE_TOPIC_KEY",
    "NOT_ALLOWED_SEND_TOPICS",
    "SCHEDULE_TOPIC",
    "SYSTEM_TOPICS",
    "TopicConfig",
    "TopicConfigManager",
    "dlq_topic",
    "is_system_topic",
    "retry_topic",
    "validate_topic",
]

PERM_PRIORITY = 0x8
PERM_READ = 0x4
PERM_WRITE = 0x2
PERM_INHERIT = 0x1

AUTO_CREATE_TOPIC_KEY = "TBW102"
BENCHMARK_TOPIC = "BenchmarkTest"
SELF_TEST_TOPIC = "SELF_TEST_TOPIC"
OFFSET_MOVED_EVENT = "OFFSET_MOVED_EVENT"
TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC"
TRANS_OP_HALF_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
TRANS_CHECK_MAX_TIME_TOPIC = "TRANS_CHECK_MAX_TIME_TOPIC"
TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"
SYSTEM_TOPIC_PREFIX = "rmq_sys_"
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"
REPLY_TOPIC_POSTFIX = "REPLY_TOPIC"
SCHEDULE_QUEUE_NUMS = 18
TOPIC_MAX_LENGTH = 127

SYSTEM_TOPICS = frozenset(
    {
        AUTO_CREATE_TOPIC_KEY,
        SCHEDULE_TOPIC,
        BENCHMARK_TOPIC,
        TRANS_HALF_TOPIC,
        TRACE_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
    }
)
"""Topics RocketMQ treats as system topics on every broker (TopicValidator)."""

NOT_ALLOWED_SEND_TOPICS = frozenset(
    {
        SCHEDULE_TOPIC,
        TRANS_HALF_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
    }
)
"""Topics clients may not send to directly."""

_LEGAL = re.compile(r"^[%|a-zA-Z0-9_-]+$")

_log = Logger()


def validate_topic(topic: str) -> str | None:
    """None when ``topic`` is a legal name, else the remark RocketMQ answers with."""
    if not topic or not topic.strip():
        return "The specified topic is blank."
    if not _LEGAL.match(topic):
        return "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    if len(topic) > TOPIC_MAX_LENGTH:
        return "The specified topic is longer than topic max length."
    return None


def is_system_topic(topic: str) -> bool:
    """True for the fixed system topics and any ``rmq_sys_`` topic."""
    return topic in SYSTEM_TOPICS or topic.startswith(SYSTEM_TOPIC_PREFIX)


def retry_topic(group: str) -> str:
    """The retry topic of a consumer group."""
    return RETRY_GROUP_TOPIC_PREFIX + group


def dlq_topic(group: str) -> str:
    """The dead-letter topic of a consumer group."""
    return DLQ_GROUP_TOPIC_PREFIX + group


TopicListener = Callable[[TopicConfig | None], None]


class TopicConfigManager(VersionedConfigTable[TopicConfig]):
    """All topic configs of this broker, persisted to ``path`` (topics.json)."""

    table_key = "topicConfigTable"
    what = "topic config"

    def __init__(
        self,
        path: str,
        config: BrokerConfig,
        clock: IReactorTime,
        runner: Runner = synchronous_runner,
    ) -> None:
        super().__init__(path, clock, runner)
        self.config = config
        self._listeners: list[TopicListener] = []
        self.system_topics: set[str] = set(SYSTEM_TOPICS)
        self._add_builtin_topics()

    def _builtin(self, name: str, queues: int | None = None, perm: int | None = None) -> None:
        tc = TopicConfig(name)
        if queues is not None:
            tc.read_queue_nums = tc.write_queue_nums = queues
        if perm is not None:
            tc.perm = perm
        self.system_topics.add(name)
        self._table[name] = tc

    def _add_builtin_topics(self) -> None:
        cfg = self.config
        self._builtin(SELF_TEST_TOPIC, 1)
        if cfg.auto_create_topic_enable:
            self._builtin(
                AUTO_CREATE_TOPIC_KEY,
                cfg.default_topic_queue_nums,
                PERM_INHERIT | PERM_READ | PERM_WRITE,
            )
        self._builtin(BENCHMARK_TOPIC, 1024)
        rw = PERM_READ | PERM_WRITE
        self._builtin(
            cfg.broker_cluster_name,
            None,
            PERM_INHERIT | (rw if cfg.cluster_topic_enable else 0),
        )
        self._builtin(cfg.broker_name, 1, PERM_INHERIT | (rw if cfg.broker_topic_enable else 0))
        self._builtin(OFFSET_MOVED_EVENT, 1)
        self._builtin(SCHEDULE_TOPIC, SCHEDULE_QUEUE_NUMS)
        if cfg.trace_topic_enable:
            self._builtin(cfg.msg_trace_topic_name, 1)
        self._builtin(f"{cfg.broker_cluster_name}_{REPLY_TOPIC_POSTFIX}", 1)

    # --- persistence -------------------------------------------------------------

    def item_from_obj(self, obj: Mapping[Any, Any], name: str) -> tuple[str, TopicConfig]:
        tc = TopicConfig.from_obj(obj, name)
        return tc.topic_name, tc

    def item_to_obj(self, item: TopicConfig) -> dict[str, Any]:
        return item.to_obj()

    def _changed(self, tc: TopicConfig | None) -> None:
        self._bump()
        for listener in list(self._listeners):
            try:
                listener(tc)
            except Exception:
                _log.failure("topic listener failed")

    # --- queries -------------------------------------------------------------------

    def get(self, topic: str) -> TopicConfig | None:
        return self._table.get(topic)

    def all(self) -> dict[str, TopicConfig]:
        """A snapshot of the table (topic name -> config)."""
        return dict(self._table)

    def is_system_topic(self, topic: str) -> bool:
        """Fixed system topics plus this broker's own built-ins (cluster, broker, reply)."""
        return topic in self.system_topics or topic.startswith(SYSTEM_TOPIC_PREFIX)

    def add_listener(self, cb: TopicListener) -> None:
        """``cb(config)`` after a create or update, ``cb(None)`` after a delete."""
        self._listeners.append(cb)

    # --- changes -------------------------------------------------------------------

    def create_for_send(
        self,
        topic: str,
        default_topic: str,
        client_default_queue_nums: int,
        topic_sys_flag: int = 0,
    ) -> TopicConfig | None:
        """The topic's config, creating it from ``default_topic`` when that template allows.

        The template must exist and carry INHERIT (``TBW102`` only when autoCreateTopicEnable);
        the new topic gets min(client queue count, template write queues) queues and the
        template's permission without INHERIT. None when the topic cannot be created.
        """
        existing = self._table.get(topic)
        if existing is not None:
            return existing
        template = self._table.get(default_topic)
        if template is None:
            _log.warn(
                "reject creating topic {t}: default topic {d} does not exist",
                t=topic,
                d=default_topic,
            )
            return None
        inherits = bool(template.perm & PERM_INHERIT)
        if default_topic == AUTO_CREATE_TOPIC_KEY and not self.config.auto_create_topic_enable:
            inherits = False
        if not inherits:
            _log.warn(
                "reject creating topic {t}: {d} has no inherit permission", t=topic, d=default_topic
            )
            return None
        queues = max(0, min(client_default_queue_nums, template.write_queue_nums))
        tc = TopicConfig(
            topic,
            read_queue_nums=queues,
            write_queue_nums=queues,
            perm=template.perm & ~PERM_INHERIT,
            topic_filter_type=template.topic_filter_type,
            topic_sys_flag=topic_sys_flag,
        )
        self._table[topic] = tc
        _log.info("created topic {t} from {d}: {tc}", t=topic, d=default_topic, tc=tc)
        self._changed(tc)
        return tc

    def create_in_send_back(
        self, topic: str, queue_nums: int, perm: int, sys_flag: int
    ) -> TopicConfig:
        """The topic's config, creating it as given (retry and DLQ topics, consumer send-back)."""
        existing = self._table.get(topic)
        if existing is not None:
            return existing
        tc = TopicConfig(
            topic,
            read_queue_nums=queue_nums,
            write_queue_nums=queue_nums,
            perm=perm,
            topic_sys_flag=sys_flag,
        )
        self._table[topic] = tc
        _log.info("created topic {t} in send back: {tc}", t=topic, tc=tc)
        self._changed(tc)
        return tc

    def update(self, tc: TopicConfig) -> None:
        """Create or replace a topic's config (UPDATE_AND_CREATE_TOPIC)."""
        self._table[tc.topic_name] = tc
        self._changed(tc)

    def delete(self, topic: str) -> bool:
        """Remove a topic; True when it existed."""
        if self._table.pop(topic, None) is None:
            return False
        self._changed(None)
        return True

    def update_order_topics(self, order_topics: set[str]) -> None:
        """Mark exactly ``order_topics`` ordered (the name server's ORDER_TOPIC_CONFIG)."""
        changed = False
        for name, tc in self._table.items():
            want = name in order_topics
            if tc.order != want:
                tc.order = want
                changed = True
        if changed:
            self._bump()
            self.persist().addErrback(lambda f: _log.failure("persisting failed", f))
