"""Admin requests of the broker: topics, groups, stats, config, offsets (REFERENCE §3.7).

Mirrors RocketMQ 4.9's AdminBrokerProcessor for the codes operators' tools (mqadmin,
dashboard) use. Answers keep Java's codes and remarks; bodies are fastjson-shaped, including
the MessageQueue-keyed maps of TopicStatsTable and ConsumeStats. Unknown request codes fall
into the default handler and get REQUEST_CODE_NOT_SUPPORTED.
"""

from __future__ import annotations

import math
import os
import shutil
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.broker.config import broker_properties_path, read_persisted_properties
from rmq.broker.persist import JsonFilePersister
from rmq.broker.registration import ANNOUNCE_WAIT
from rmq.broker.subgroups import SubscriptionGroupConfig
from rmq.broker.topics import SCHEDULE_TOPIC, TRANS_OP_HALF_TOPIC, TopicConfig, validate_topic
from rmq.common import fastjson
from rmq.common.config import format_properties, parse_properties
from rmq.common.errors import BodyError, ConfigError, NoPermission, TopicNotExist
from rmq.common.route import DataVersion
from rmq.headers import (
    ConsumerGroupRequestHeader,
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    EarliestMsgStoretimeResponseHeader,
    GetBrokerConfigResponseHeader,
    GetConsumeStatsRequestHeader,
    OffsetResponseHeader,
    ProducerGroupRequestHeader,
    QueueOffsetRequestHeader,
    SearchOffsetRequestHeader,
    TopicRequestHeader,
)
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["AdminProcessor", "format_properties", "parse_properties", "register"]

_log = Logger()

SLAVE_REMARK = (
    "Can't modify topic or subscription group from slave broker, "
    "please execute it from master broker."
)
CONFIG_BLACK_LIST = frozenset({"configBlackList", "brokerConfigPath"})
"""Keys UPDATE_BROKER_CONFIG refuses (RocketMQ's default configBlackList)."""

RUNTIME_INFO_DEFAULTS: dict[str, str] = {
    key: "0"
    for key in (
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgPutTotalTodayNow",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "msgGetTotalTodayNow",
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "queryThreadPoolQueueSize",
        "EndTransactionQueueSize",
        "dispatchBehindBytes",
        "pageCacheLockTimeMills",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "queryThreadPoolQueueHeadWaitTimeMills",
        "earliestMessageTimeStamp",
        "startAcceptSendRequestTimeStamp",
        "remainTransientStoreBufferNumbs",
        "remainHowManyDataToCommit",
        "remainHowManyDataToFlush",
        "commitLogMinOffset",
        "commitLogMaxOffset",
    )
} | {
    "sendThreadPoolQueueCapacity": "10000",
    "pullThreadPoolQueueCapacity": "100000",
    "queryThreadPoolQueueCapacity": "20000",
    "EndTransactionThreadPoolQueueCapacity": "100000",
}
"""Keys mqadmin brokerStatus and the dashboard read; real figures overlay these."""


def human_bytes(n: int) -> str:
    """Java ``MixAll.humanReadableByteCount(n, false)``: ``512 B``, ``1.5 KiB``, ``2.0 GiB``."""
    if n < 1024:
        return f"{n} B"
    exp = min(int(math.log(n, 1024)), 6)
    return f"{n / 1024**exp:.1f} {'KMGTPE'[exp - 1]}iB"


def message_queue_key(topic: str, broker_name: str, queue_id: int) -> fastjson.ObjectKey:
    """A MessageQueue as an object map key (fastjson writes it as a nested object)."""
    return fastjson.ObjectKey.of({"brokerName": broker_name, "queueId": queue_id, "topic": topic})


def _ok(
    request: RemotingCommand, body: bytes | None = None, ext: dict[str, str] | None = None
) -> RemotingCommand:
    return request.make_response(ResponseCode.SUCCESS, None, ext, body)


def _error(
    request: RemotingCommand, remark: str, code: int = ResponseCode.SYSTEM_ERROR
) -> RemotingCommand:
    return request.make_response(code, remark)


class AdminProcessor:
    """Handlers for the admin codes; reads the broker's managers and store."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        self.config_version = DataVersion(int(broker.clock.seconds() * 1000), 0)
        """Version of the broker's runtime config (GET_BROKER_CONFIG ``version`` header)."""
        path = broker_properties_path(broker.config, broker.store_config)
        try:
            self.persisted_config = read_persisted_properties(path)
        except ConfigError as exc:
            _log.warn("ignoring persisted broker config: {e}", e=exc.remark)
            self.persisted_config = {}
        """Every key UPDATE_BROKER_CONFIG changed, as written to ``brokerConfigPath``."""
        self._config_persister = JsonFilePersister(
            path,
            lambda: format_properties(self.persisted_config).encode("utf-8"),
            broker.run_in_thread,
        )

    def register(self, dispatcher: Dispatcher) -> None:
        """Register every admin handler and the default (unknown code) handler."""
        rc = RequestCode
        for code, handler in (
            (rc.UPDATE_AND_CREATE_TOPIC, self.update_and_create_topic),
            (rc.DELETE_TOPIC_IN_BROKER, self.delete_topic),
            (rc.GET_ALL_TOPIC_CONFIG, self.get_all_topic_config),
            (rc.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, self.update_and_create_subscription_group),
            (rc.DELETE_SUBSCRIPTIONGROUP, self.delete_subscription_group),
            (rc.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, self.get_all_subscription_group),
            (rc.GET_BROKER_RUNTIME_INFO, self.get_broker_runtime_info),
            (rc.GET_TOPIC_STATS_INFO, self.get_topic_stats_info),
            (rc.GET_CONSUME_STATS, self.get_consume_stats),
            (rc.GET_CONSUMER_CONNECTION_LIST, self.get_consumer_connection_list),
            (rc.GET_PRODUCER_CONNECTION_LIST, self.get_producer_connection_list),
            (rc.GET_BROKER_CONFIG, self.get_broker_config),
            (rc.UPDATE_BROKER_CONFIG, self.update_broker_config),
            (rc.GET_MAX_OFFSET, self.get_max_offset),
            (rc.GET_MIN_OFFSET, self.get_min_offset),
            (rc.SEARCH_OFFSET_BY_TIMESTAMP, self.search_offset_by_timestamp),
            (rc.GET_EARLIEST_MSG_STORETIME, self.get_earliest_msg_storetime),
            (rc.GET_ALL_CONSUMER_OFFSET, self.get_all_consumer_offset),
            (rc.GET_ALL_DELAY_OFFSET, self.get_all_delay_offset),
            (rc.GET_SYSTEM_TOPIC_LIST_FROM_BROKER, self.get_system_topic_list),
            (rc.QUERY_TOPIC_CONSUME_BY_WHO, self.query_topic_consume_by_who),
            (rc.CLEAN_EXPIRED_CONSUMEQUEUE, self.clean_expired_consume_queue),
            (rc.CLEAN_UNUSED_TOPIC, self.clean_unused_topic),
        ):
            dispatcher.register(code, handler)
        dispatcher.register_default(self.unknown)

    # --- helpers -------------------------------------------------------------------

    @property
    def _broker_name(self) -> str:
        return str(self.broker.config.broker_name)

    def _is_slave(self) -> bool:
        return str(getattr(self.broker.store_config, "broker_role", "")) == "SLAVE"

    def _store_call(self, name: str, *args: Any, default: int = 0) -> int:
        """Call an optional store method; ``default`` when the store lacks it."""
        method = getattr(self.broker.store, name, None)
        if method is None:
            return default
        return int(method(*args))

    # --- default -------------------------------------------------------------------

    def unknown(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """Any code without a processor: REQUEST_CODE_NOT_SUPPORTED, as the Java broker."""
        return _error(
            request,
            f" request type {request.code} not supported",
            ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        )

    # --- topics --------------------------------------------------------------------

    def update_and_create_topic(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Deferred[RemotingCommand | None]:
        """UPDATE_AND_CREATE_TOPIC (17): validate the name, refuse system topics, store it,
        and answer once the name servers have it (at most ANNOUNCE_WAIT later)."""
        if self._is_slave():
            return _error(request, SLAVE_REMARK)
        h = CreateTopicRequestHeader.from_ext(request.ext_fields)
        remark = validate_topic(h.topic)
        if remark is not None:
            return _error(request, remark)
        if self.broker.topics.is_system_topic(h.topic):
            return _error(request, f"The topic[{h.topic}] is conflict with system topic.")
        tc = TopicConfig(
            h.topic,
            read_queue_nums=h.readQueueNums,
            write_queue_nums=h.writeQueueNums,
            perm=h.perm,
            topic_filter_type=h.topicFilterType or "SINGLE_TAG",
            topic_sys_flag=h.topicSysFlag or 0,
            order=h.order,
        )
        self.broker.topics.update(tc)
        registration = self.broker.registration
        if registration is None:
            return _ok(request)
        # Answered once the name servers have the topic (at most ANNOUNCE_WAIT): RocketMQ
        # answers first, and a route lookup right after its answer can miss the topic.
        return registration.announced(ANNOUNCE_WAIT).addCallback(lambda _: _ok(request))

    def delete_topic(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """DELETE_TOPIC_IN_BROKER (215): system topics are protected."""
        if self._is_slave():
            return _error(request, SLAVE_REMARK)
        topic = TopicRequestHeader.from_ext(request.ext_fields).topic
        if not topic.strip():
            return _error(request, "The specified topic is blank.")
        if self.broker.topics.is_system_topic(topic):
            return _error(request, f"The topic[{topic}] is conflict with system topic.")
        self.broker.topics.delete(topic)
        self.broker.store.delete_topics({topic})
        return _ok(request)

    def _clean_unused_topics(self) -> None:
        """Drop store queues of unconfigured topics (the schedule and op topics are kept)."""
        table = getattr(self.broker.store, "topic_queue_table", None)
        if table is None:
            return
        configured = set(self.broker.topics.all()) | {SCHEDULE_TOPIC, TRANS_OP_HALF_TOPIC}
        unused = set(table()) - configured
        if unused:
            self.broker.store.delete_topics(unused)

    def get_all_topic_config(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_ALL_TOPIC_CONFIG (21): TopicConfigSerializeWrapper."""
        return _ok(request, fastjson.dumpb(self.broker.topics.wrapper_json_dict()))

    def get_system_topic_list(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305): TopicList of the system topics."""
        topics = sorted(self.broker.topics.system_topics)
        return _ok(request, fastjson.dumpb({"topicList": topics}))

    def get_topic_stats_info(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_TOPIC_STATS_INFO (202): min/max offset and last store time per write queue."""
        topic = TopicRequestHeader.from_ext(request.ext_fields).topic
        tc = self.broker.topics.get(topic)
        if tc is None:
            raise TopicNotExist(f"topic[{topic}] not exist")
        store = self.broker.store
        table: dict[fastjson.ObjectKey, dict[str, int]] = {}
        for qid in range(tc.write_queue_nums):
            low = max(0, int(store.get_min_offset_in_queue(topic, qid)))
            high = max(0, int(store.get_max_offset_in_queue(topic, qid)))
            ts = 0
            if high > 0:
                ts = self._store_call("get_message_store_timestamp", topic, qid, high - 1)
            table[message_queue_key(topic, self._broker_name, qid)] = {
                "lastUpdateTimestamp": ts,
                "maxOffset": high,
                "minOffset": low,
            }
        return _ok(request, fastjson.dumpb({"offsetTable": table}))

    def query_topic_consume_by_who(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """QUERY_TOPIC_CONSUME_BY_WHO (300): groups subscribed to or with offsets on a topic."""
        topic = TopicRequestHeader.from_ext(request.ext_fields).topic
        groups = {
            name
            for name, info in self.broker.consumers.groups.items()
            if topic in info.subscriptions
        }
        groups |= self.broker.offsets.groups_of_topic(topic)
        return _ok(request, fastjson.dumpb({"groupList": sorted(groups)}))

    # --- subscription groups ---------------------------------------------------------

    def update_and_create_subscription_group(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body is a SubscriptionGroupConfig."""
        if self._is_slave():
            return _error(request, SLAVE_REMARK)
        obj = fastjson.load_object(request.body, "subscription group")
        try:
            cfg = SubscriptionGroupConfig.from_json_dict(obj)
        except (TypeError, ValueError) as exc:
            raise BodyError(f"bad subscription group config: {exc}") from exc
        if not cfg.group_name:
            raise BodyError("subscription group config has no groupName")
        self.broker.subgroups.update(cfg)
        return _ok(request)

    def delete_subscription_group(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """DELETE_SUBSCRIPTIONGROUP (207): optionally forget the group's offsets too."""
        if self._is_slave():
            return _error(request, SLAVE_REMARK)
        h = DeleteSubscriptionGroupRequestHeader.from_ext(request.ext_fields)
        self.broker.subgroups.delete(h.groupName)
        if h.removeOffset:
            self.broker.offsets.remove_group(h.groupName)
        return _ok(request)

    def get_all_subscription_group(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): SubscriptionGroupWrapper."""
        return _ok(request, fastjson.dumpb(self.broker.subgroups.wrapper_json_dict()))

    # --- consumers and producers -----------------------------------------------------

    def get_consume_stats(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_CONSUME_STATS (208): broker vs consumer offset per read queue."""
        h = GetConsumeStatsRequestHeader.from_ext(request.ext_fields)
        group = h.consumerGroup
        offsets = self.broker.offsets
        topic_given = h.topic is not None and bool(h.topic.strip())
        topics = {h.topic} if h.topic and topic_given else set(offsets.topics_of_group(group))
        info = self.broker.consumers.get(group)
        store = self.broker.store
        table: dict[fastjson.ObjectKey, dict[str, int]] = {}
        for topic in sorted(topics):
            tc = self.broker.topics.get(topic)
            if tc is None:
                continue
            if info is not None and info.subscriptions and topic not in info.subscriptions:
                continue
            for qid in range(tc.read_queue_nums):
                broker_offset = max(0, int(store.get_max_offset_in_queue(topic, qid)))
                consumer_offset = max(0, int(offsets.query(group, topic, qid)))
                last = 0
                if consumer_offset > 0:
                    ts = self._store_call(
                        "get_message_store_timestamp", topic, qid, consumer_offset - 1
                    )
                    last = max(ts, 0)
                table[message_queue_key(topic, self._broker_name, qid)] = {
                    "brokerOffset": broker_offset,
                    "consumerOffset": consumer_offset,
                    "lastTimestamp": last,
                }
        return _ok(request, fastjson.dumpb({"consumeTps": 0.0, "offsetTable": table}))

    @staticmethod
    def _connection(channel: Any) -> dict[str, Any]:
        return {
            "clientAddr": channel.address,
            "clientId": channel.client_id,
            "language": channel.language,
            "version": channel.version,
        }

    def get_consumer_connection_list(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_CONSUMER_CONNECTION_LIST (203): channels and subscriptions of a group."""
        group = ConsumerGroupRequestHeader.from_ext(request.ext_fields).consumerGroup
        info = self.broker.consumers.get(group)
        if info is None:
            return _error(
                request, f"the consumer group[{group}] not online", ResponseCode.CONSUMER_NOT_ONLINE
            )
        body = {
            "connectionSet": [self._connection(c) for c in info.channels.values()],
            "consumeFromWhere": info.consume_from_where,
            "consumeType": info.consume_type,
            "messageModel": info.message_model,
            "subscriptionTable": {t: s.to_json() for t, s in info.subscriptions.items()},
        }
        return _ok(request, fastjson.dumpb(body))

    def get_producer_connection_list(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_PRODUCER_CONNECTION_LIST (204): channels of a producer group."""
        group = ProducerGroupRequestHeader.from_ext(request.ext_fields).producerGroup
        channels = self.broker.producers.get(group)
        if not channels:
            return _error(request, f"the producer group[{group}] not exist")
        body = {"connectionSet": [self._connection(c) for c in channels]}
        return _ok(request, fastjson.dumpb(body))

    # --- broker config and runtime ---------------------------------------------------

    def _all_properties(self) -> dict[str, str]:
        props: dict[str, str] = {}
        store_config = self.broker.store_config
        camel = getattr(type(store_config), "camel_names", None)
        if camel is not None:
            for key, name in camel().items():
                value = getattr(store_config, name)
                props[key] = (
                    ("true" if value else "false") if isinstance(value, bool) else str(value)
                )
        props.update(self.broker.config.to_properties())
        return props

    def get_broker_config(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_BROKER_CONFIG (26): properties text of every setting, config version header."""
        body = format_properties(self._all_properties()).encode("utf-8")
        header = GetBrokerConfigResponseHeader(self.config_version.to_json().decode())
        return request.make_response(ResponseCode.SUCCESS, None, header.to_ext(), body)

    def update_broker_config(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Deferred[RemotingCommand | None]:
        """UPDATE_BROKER_CONFIG (25): apply broker.conf keys at runtime (all or nothing).

        Broker keys update ``broker.config``; store keys give a new (frozen) StoreConfig
        that replaces ``broker.store_config`` and the store's own, so settings the store
        reads live (e.g. maxMessageSize) take effect. Unknown keys or bad values are refused
        with a remark naming them. Accepted keys are persisted to ``brokerConfigPath`` (never
        to the YAML file) before the answer; a failed write is logged, as RocketMQ does.
        """
        if not request.body:
            return _ok(request)
        try:
            props = parse_properties(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            return _error(request, "string2Properties error")
        if CONFIG_BLACK_LIST & props.keys():
            raise NoPermission("Can not update config in black list.")
        store_config = self.broker.store_config
        camel = getattr(type(store_config), "camel_names", None)
        store_names: dict[str, str] = camel() if camel is not None else {}
        broker_part = {k: v for k, v in props.items() if k not in store_names}
        store_part = {k: v for k, v in props.items() if k in store_names}
        try:
            if store_part:
                current = {k: getattr(store_config, n) for k, n in store_names.items()}
                checked = type(store_config).from_mapping(current | store_part)
            self.broker.config.update(broker_part, "UPDATE_BROKER_CONFIG")
        except ConfigError as exc:
            return _error(request, exc.remark)
        if store_part:
            self.broker.store_config = checked
            if getattr(self.broker.store, "config", None) is store_config:
                self.broker.store.config = checked
        self.config_version = self.config_version.next_version(
            int(self.broker.clock.seconds() * 1000)
        )
        self.persisted_config.update(props)
        answer: Deferred[Any] = self._config_persister.persist()
        answer.addErrback(self._persist_failed)
        answer.addCallback(lambda _: _ok(request))
        return answer

    def _persist_failed(self, failure: Failure) -> None:
        _log.failure("persisting broker config failed", failure)

    def get_broker_runtime_info(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_BROKER_RUNTIME_INFO (28): KVTable of figures, every value a decimal string."""
        table = dict(RUNTIME_INFO_DEFAULTS)
        table["commitLogDirCapacity"] = self._commit_log_capacity()
        table.update({str(k): str(v) for k, v in self.broker.runtime_info().items()})
        if "putMessageTimesTotal" in table:
            table["msgPutTotalTodayNow"] = table["putMessageTimesTotal"]
        return _ok(request, fastjson.dumpb({"table": table}))

    def _commit_log_capacity(self) -> str:
        """Java's ``Total : 100.0 GiB, Free : 50.0 GiB.`` for the commit-log disk."""
        path = str(getattr(self.broker.store_config, "commit_log_dir", "") or ".")
        while path and not os.path.exists(path):
            path = os.path.dirname(path)
        try:
            usage = shutil.disk_usage(path or ".")
        except OSError:
            return "Total : 0 B, Free : 0 B."
        return f"Total : {human_bytes(usage.total)}, Free : {human_bytes(usage.free)}."

    # --- offsets ---------------------------------------------------------------------

    def get_max_offset(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """GET_MAX_OFFSET (30): the queue's max (next) logical offset."""
        h = QueueOffsetRequestHeader.from_ext(request.ext_fields)
        offset = int(self.broker.store.get_max_offset_in_queue(h.topic, h.queueId))
        return _ok(request, ext=OffsetResponseHeader(offset).to_ext())

    def get_min_offset(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """GET_MIN_OFFSET (31): the queue's smallest logical offset still stored."""
        h = QueueOffsetRequestHeader.from_ext(request.ext_fields)
        offset = int(self.broker.store.get_min_offset_in_queue(h.topic, h.queueId))
        return _ok(request, ext=OffsetResponseHeader(offset).to_ext())

    def search_offset_by_timestamp(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """SEARCH_OFFSET_BY_TIMESTAMP (29): the offset of the message stored nearest the time."""
        h = SearchOffsetRequestHeader.from_ext(request.ext_fields)
        store = self.broker.store
        offset = int(store.get_offset_in_queue_by_time(h.topic, h.queueId, h.timestamp))
        return _ok(request, ext=OffsetResponseHeader(offset).to_ext())

    def get_earliest_msg_storetime(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_EARLIEST_MSG_STORETIME (32): store time of the queue's first message."""
        h = QueueOffsetRequestHeader.from_ext(request.ext_fields)
        ts = int(self.broker.store.get_earliest_message_time(h.topic, h.queueId))
        return _ok(request, ext=EarliestMsgStoretimeResponseHeader(ts).to_ext())

    def get_all_consumer_offset(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_ALL_CONSUMER_OFFSET (43): the consumerOffset.json content."""
        return _ok(request, bytes(self.broker.offsets.encode()))

    def get_all_delay_offset(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_ALL_DELAY_OFFSET (45): the delayOffset.json content, when delays run here."""
        schedule = self.broker.schedule
        encode = getattr(schedule, "encode", None)
        if encode is None:
            return _error(request, "No delay offset in this broker")
        return _ok(request, bytes(encode()))

    # --- triggers --------------------------------------------------------------------

    def clean_expired_consume_queue(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Deferred[RemotingCommand | None]:
        """CLEAN_EXPIRED_CONSUMEQUEUE (306): the store drops queues and files below its min offset.

        Answered once the store has cleaned up; a store without the operation just says OK.
        """
        clean = getattr(self.broker.store, "clean_expired_consume_queue", None)
        if clean is None:
            return _ok(request)
        done: Deferred[Any] = maybeDeferred(clean)
        done.addCallback(lambda _: _ok(request))
        return done

    def clean_unused_topic(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """CLEAN_UNUSED_TOPIC (316): drop store queues of topics no longer configured."""
        self._clean_unused_topics()
        return _ok(request)


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Register the admin handlers and the default handler on ``dispatcher``."""
    AdminProcessor(broker).register(dispatcher)
