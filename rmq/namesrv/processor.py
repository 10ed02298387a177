"""Name-server request processors: one handler per request code (REFERENCE §3.1, §7.1).

Handlers decode their typed header, act on the route tables or the KV store, and return the
response. Errors travel as ``RMQError`` subclasses, which the dispatcher answers with their code.
Encoded route answers are cached per (topic, key style) until any table changes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rmq.common.errors import BodyError, QueryNotFound, RMQError, TopicNotExist
from rmq.common.route import DataVersion, RegisterBrokerBody, TopicList
from rmq.headers import (
    AddWritePermOfBrokerResponseHeader,
    BrokerNameHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)
from rmq.namesrv.config import NamesrvConfig
from rmq.namesrv.kvconfig import KVConfigManager
from rmq.namesrv.routeinfo import RouteInfoTables
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher, Handler
from rmq.remoting.protocol import RemotingConnection

__all__ = [
    "NAMESPACE_ORDER_TOPIC_CONFIG",
    "STANDARD_JSON_VERSION",
    "NamesrvProcessor",
]

NAMESPACE_ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"
STANDARD_JSON_VERSION = 401  # V4_9_4: clients from here on get quoted map keys
_FAQ = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."

_log = Logger()


def body_crc32(body: bytes) -> int:
    """CRC32 of a body masked to 31 bits, as RocketMQ computes it."""
    return zlib.crc32(body) & 0x7FFFFFFF


class NamesrvProcessor:
    """All name-server handlers over one set of tables, one KV store and one config."""

    def __init__(
        self,
        routes: RouteInfoTables,
        kv: KVConfigManager,
        config: NamesrvConfig,
        clock: IReactorTime,
        on_config_updated: Callable[[], None] | None = None,
    ) -> None:
        self.routes = routes
        self.kv = kv
        self.config = config
        self.clock = clock
        self.on_config_updated = on_config_updated
        self._route_cache: dict[tuple[str, bool], bytes] = {}
        self._cache_stamp: tuple[int, int, bool] = (-1, -1, False)

    def handlers(self) -> dict[int, Handler]:
        """Request code -> handler, for every code the 4.9.x name server serves."""
        rc = RequestCode
        return {
            rc.PUT_KV_CONFIG: self.put_kv_config,
            rc.GET_KV_CONFIG: self.get_kv_config,
            rc.DELETE_KV_CONFIG: self.delete_kv_config,
            rc.GET_KVLIST_BY_NAMESPACE: self.get_kvlist_by_namespace,
            rc.QUERY_DATA_VERSION: self.query_data_version,
            rc.REGISTER_BROKER: self.register_broker,
            rc.UNREGISTER_BROKER: self.unregister_broker,
            rc.GET_ROUTEINFO_BY_TOPIC: self.get_routeinfo_by_topic,
            rc.GET_BROKER_CLUSTER_INFO: self.get_broker_cluster_info,
            rc.WIPE_WRITE_PERM_OF_BROKER: self.wipe_write_perm_of_broker,
            rc.ADD_WRITE_PERM_OF_BROKER: self.add_write_perm_of_broker,
            rc.GET_ALL_TOPIC_LIST_FROM_NAMESERVER: self.get_all_topic_list,
            rc.DELETE_TOPIC_IN_NAMESRV: self.delete_topic_in_namesrv,
            rc.GET_TOPICS_BY_CLUSTER: self.get_topics_by_cluster,
            rc.GET_SYSTEM_TOPIC_LIST_FROM_NS: self.get_system_topic_list,
            rc.GET_UNIT_TOPIC_LIST: self.get_unit_topic_list,
            rc.GET_HAS_UNIT_SUB_TOPIC_LIST: self.get_has_unit_sub_topic_list,
            rc.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: self.get_has_unit_sub_ununit_topic_list,
            rc.UPDATE_NAMESRV_CONFIG: self.update_namesrv_config,
            rc.GET_NAMESRV_CONFIG: self.get_namesrv_config,
        }

    def register(self, dispatcher: Dispatcher) -> None:
        """Install every handler and the connection-loss listener on ``dispatcher``."""
        for code, handler in self.handlers().items():
            dispatcher.register(code, handler)
        dispatcher.add_disconnect_listener(self.connection_lost)

    def connection_lost(self, conn: RemotingConnection) -> None:
        """Drop at once every broker that registered over a closed connection."""
        for addr in self.routes.remove_channel(conn):
            _log.info("broker {addr} dropped: its connection closed", addr=addr)

    # --- KV config ---------------------------------------------------------

    def put_kv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        h = PutKVConfigRequestHeader.from_ext(req.ext_fields)
        self.kv.put(h.namespace, h.key, h.value)
        return req.make_response()

    def get_kv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        h = GetKVConfigRequestHeader.from_ext(req.ext_fields)
        value = self.kv.get(h.namespace, h.key)
        if value is None:
            raise QueryNotFound(f"No config item, Namespace: {h.namespace} Key: {h.key}")
        return req.make_response(ext_fields=GetKVConfigResponseHeader(value).to_ext())

    def delete_kv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        h = GetKVConfigRequestHeader.from_ext(req.ext_fields)
        self.kv.delete(h.namespace, h.key)
        return req.make_response()

    def get_kvlist_by_namespace(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        h = GetKVListByNamespaceRequestHeader.from_ext(req.ext_fields)
        table = self.kv.namespace(h.namespace)
        if table is None:
            raise QueryNotFound(f"No config item, Namespace: {h.namespace}")
        return req.make_response(body=table.to_json())

    # --- brokers -----------------------------------------------------------

    def register_broker(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        h = RegisterBrokerRequestHeader.from_ext(req.ext_fields)
        body = req.body
        if body and h.bodyCrc32 != 0 and body_crc32(body) != h.bodyCrc32:
            raise RMQError("crc32 not match")
        if not body:
            parsed = RegisterBrokerBody()
        elif h.compressed:
            parsed = RegisterBrokerBody.decode_compressed(body)
        else:
            # Before V3_0_11 the body is the bare wrapper; from_json reads both shapes.
            parsed = RegisterBrokerBody.from_json(body)
        result = self.routes.register_broker(
            h.clusterName,
            h.brokerAddr,
            h.brokerName,
            h.brokerId,
            h.haServerAddr,
            parsed.topicConfigTable,
            parsed.dataVersion,
            parsed.filterServerList,
            conn,
            self.clock.seconds(),
        )
        ext = RegisterBrokerResponseHeader(result.ha_server_addr, result.master_addr).to_ext()
        order = self.kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG)
        return req.make_response(ext_fields=ext, body=None if order is None else order.to_json())

    def unregister_broker(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        h = UnRegisterBrokerRequestHeader.from_ext(req.ext_fields)
        self.routes.unregister_broker(h.clusterName, h.brokerAddr, h.brokerName, h.brokerId)
        return req.make_response()

    def query_data_version(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        h = QueryDataVersionRequestHeader.from_ext(req.ext_fields)
        dv = DataVersion.from_json(req.body) if req.body else DataVersion()
        changed = self.routes.query_data_version(h.brokerAddr, dv, self.clock.seconds())
        stored = self.routes.stored_data_version(h.brokerAddr)
        return req.make_response(
            ext_fields=QueryDataVersionResponseHeader(changed).to_ext(),
            body=None if stored is None else stored.to_json(),
        )

    def wipe_write_perm_of_broker(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return self._change_write_perm(
            req, self.routes.wipe_write_perm, WipeWritePermOfBrokerResponseHeader, "wiped"
        )

    def add_write_perm_of_broker(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return self._change_write_perm(
            req, self.routes.add_write_perm, AddWritePermOfBrokerResponseHeader, "added"
        )

    @staticmethod
    def _change_write_perm(
        req: RemotingCommand,
        change: Callable[[str], int],
        header: type[WipeWritePermOfBrokerResponseHeader | AddWritePermOfBrokerResponseHeader],
        verb: str,
    ) -> RemotingCommand:
        """WIPE/ADD_WRITE_PERM_OF_BROKER: change every topic of a broker name, answer the count."""
        h = BrokerNameHeader.from_ext(req.ext_fields)
        count = change(h.brokerName)
        _log.info(
            "{verb} write perm of broker {name}: {count} topics",
            verb=verb,
            name=h.brokerName,
            count=count,
        )
        return req.make_response(ext_fields=header(count).to_ext())

    # --- routes and topics --------------------------------------------------

    def get_routeinfo_by_topic(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        ext = req.ext_fields
        topic = ext.get("topic")
        if topic is None:
            topic = GetRouteInfoRequestHeader.from_ext(ext).topic  # raises: names the field
        flag = ext.get("acceptStandardJsonOnly")
        standard = req.version >= STANDARD_JSON_VERSION or (
            flag is not None and flag.lower() == "true"
        )
        body = self._route_body(topic, standard)
        if body is None:
            raise TopicNotExist(f"No topic route info in name server for the topic: {topic}{_FAQ}")
        return req.make_response(body=body)

    def _route_body(self, topic: str, standard: bool) -> bytes | None:
        order_enabled = self.config.orderMessageEnable
        stamp = (self.routes.version, self.kv.version, order_enabled)
        if stamp != self._cache_stamp:
            self._route_cache.clear()
            self._cache_stamp = stamp
        key = (topic, standard)
        body = self._route_cache.get(key)
        if body is not None:
            return body
        route = self.routes.route(topic)
        if route is None:
            return None
        if order_enabled:
            route.orderTopicConf = self.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, topic)
        body = route.to_json(standard)
        self._route_cache[key] = body
        return body

    def get_broker_cluster_info(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return req.make_response(body=self.routes.cluster_info().to_json(standard=False))

    def get_all_topic_list(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        return _topics(req, self.routes.all_topics())

    def delete_topic_in_namesrv(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        h = DeleteTopicFromNamesrvRequestHeader.from_ext(req.ext_fields)
        self.routes.delete_topic(h.topic, h.clusterName)
        return req.make_response()

    def get_topics_by_cluster(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        h = GetTopicsByClusterRequestHeader.from_ext(req.ext_fields)
        return _topics(req, self.routes.topics_by_cluster(h.cluster))

    def get_system_topic_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return _topics(req, self.routes.system_topics())

    def get_unit_topic_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return _topics(req, self.routes.unit_topics(unit=True, unit_sub=False))

    def get_has_unit_sub_topic_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return _topics(req, self.routes.unit_topics(unit=None, unit_sub=True))

    def get_has_unit_sub_ununit_topic_list(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return _topics(req, self.routes.unit_topics(unit=False, unit_sub=True))

    # --- name-server config ---------------------------------------------------

    def update_namesrv_config(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        if req.body:
            try:
                text = req.body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BodyError(f"config body is not UTF-8: {exc}") from exc
            self.config.update_from_properties(text)
            _log.info("name-server config updated by {peer}", peer=conn.peer)
            if self.on_config_updated is not None:
                self.on_config_updated()
        return req.make_response()

    def get_namesrv_config(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        return req.make_response(body=self.config.to_properties().encode("utf-8"))


def _topics(req: RemotingCommand, topics: TopicList) -> RemotingCommand:
    return req.make_response(body=topics.to_json())
