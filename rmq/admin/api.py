"""AdminAPI: the operator's requests to name servers and brokers, each a typed Deferred.

Data-plane calls (routes, offsets, pull, send, view and query) go through ``MQClientAPI``;
this class adds the admin codes (REFERENCE §3.1, §3.7) and the compositions mqadmin makes
(every master of a cluster or of a topic). A non-success answer fails the Deferred with
``RemoteError(code, remark)``; an unreachable server with a ``RemotingError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.python.failure import Failure

from rmq.client.api import MQClientAPI, check_response, json_body
from rmq.client.model import MessageQueue
from rmq.common import fastjson
from rmq.common.config import format_properties, parse_properties
from rmq.common.errors import BodyError, MQClientError, RemotingConnectError
from rmq.common.message import MessageExt, decode_offset_msg_id
from rmq.common.route import ClusterInfo, KVTable, TopicList, TopicRouteData
from rmq.headers import (
    AddWritePermOfBrokerResponseHeader,
    BrokerNameHeader,
    ConsumerGroupRequestHeader,
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetConsumeStatsRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    ProducerGroupRequestHeader,
    PutKVConfigRequestHeader,
    ResetOffsetRequestHeader,
    TopicRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.headers import CommandHeader
from rmq.remoting.interfaces import IRemotingClient

__all__ = [
    "AdminAPI",
    "Connection",
    "ConsumerConnection",
    "OffsetWrapper",
    "TopicOffset",
    "format_properties",
    "parse_properties",
]

T = TypeVar("T")
MASTER_ID = 0


def _json_of(resp: RemotingCommand) -> Any:
    """A SUCCESS answer's JSON body."""
    return json_body(check_response(resp))


def _properties_of(resp: RemotingCommand) -> dict[str, str]:
    """A SUCCESS answer's properties-text body."""
    return parse_properties((check_response(resp).body or b"").decode("utf-8"))


@attrs.frozen
class TopicOffset:
    """One queue of GET_TOPIC_STATS_INFO."""

    min_offset: int
    max_offset: int
    last_update_timestamp: int


@attrs.frozen
class OffsetWrapper:
    """One queue of GET_CONSUME_STATS: broker (max) and consumer (committed) offsets."""

    broker_offset: int
    consumer_offset: int
    last_timestamp: int


@attrs.frozen
class Connection:
    """One client channel of a producer or consumer group."""

    client_id: str
    client_addr: str
    language: str
    version: int


@attrs.frozen
class ConsumerConnection:
    """GET_CONSUMER_CONNECTION_LIST: channels plus how the group consumes."""

    connections: list[Connection]
    subscriptions: dict[str, dict[str, Any]]
    consume_type: str
    message_model: str
    consume_from_where: str


def _mq(key: Any) -> MessageQueue:
    obj = key.as_dict() if isinstance(key, fastjson.ObjectKey) else key
    if not isinstance(obj, Mapping):
        raise BodyError(f"MessageQueue key expected, got {key!r}")
    return MessageQueue.from_obj(obj)


def _connection(obj: Mapping[str, Any]) -> Connection:
    return Connection(
        str(obj.get("clientId", "")),
        str(obj.get("clientAddr", "")),
        str(obj.get("language", "")),
        int(obj.get("version", 0) or 0),
    )


class AdminAPI:
    """Admin requests over an ``IRemotingClient``; ``namesrv`` is the name-server list."""

    def __init__(
        self,
        remoting: IRemotingClient,
        namesrv: Sequence[str],
        timeout: float = 5.0,
        language: str = "JAVA",
    ) -> None:
        if not namesrv:
            raise MQClientError("no name server address given")
        self.client = MQClientAPI(remoting, language)
        self.namesrv = list(namesrv)
        self.timeout = timeout

    # --- plumbing -------------------------------------------------------------------

    def invoke(
        self,
        addr: str,
        code: int,
        header: CommandHeader | None = None,
        body: bytes | None = None,
        ext: Mapping[str, str] | None = None,
    ) -> Deferred[RemotingCommand]:
        """One request to ``addr``; fires with the raw response (any code)."""
        cmd = self.client._cmd(code, header, body)
        if ext:
            cmd.ext_fields.update(ext)
        return self.client.remoting.invoke(addr, cmd, self.timeout)

    def _ns(
        self,
        code: int,
        header: CommandHeader | None,
        then: Callable[[RemotingCommand], T],
        body: bytes | None = None,
    ) -> Deferred[T]:
        """Ask the first name server that can be reached (later ones on connect failures)."""
        addrs = list(self.namesrv)

        def attempt(i: int) -> Deferred[T]:
            d = self.invoke(addrs[i], code, header, body)

            def failed(f: Any) -> Any:
                if i + 1 < len(addrs) and f.check(RemotingConnectError):
                    return attempt(i + 1)
                return f

            return d.addCallbacks(then, failed)

        return attempt(0)

    def _ns_all(
        self, code: int, header: CommandHeader | None, body: bytes | None = None
    ) -> Deferred[None]:
        """Send to every name server (writes must reach all of them)."""
        ds = [
            self.invoke(a, code, header, body)
            .addCallback(check_response)
            .addCallback(lambda _: None)
            for a in self.namesrv
        ]
        return gatherResults(ds, consumeErrors=True).addCallbacks(lambda _: None, _first_error)

    # --- name server ----------------------------------------------------------------

    def cluster_info(self) -> Deferred[ClusterInfo]:
        """GET_BROKER_CLUSTER_INFO."""
        return self._ns(
            RequestCode.GET_BROKER_CLUSTER_INFO, None, lambda r: ClusterInfo.from_json(_json_of(r))
        )

    def topic_list(self) -> Deferred[TopicList]:
        """GET_ALL_TOPIC_LIST_FROM_NAMESERVER."""
        return self._ns(
            RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            None,
            lambda r: TopicList.from_json(_json_of(r)),
        )

    def topic_route(self, topic: str) -> Deferred[TopicRouteData]:
        """GET_ROUTEINFO_BY_TOPIC; ``RemoteError`` code 17 for an unknown topic."""
        return self._ns(
            RequestCode.GET_ROUTEINFO_BY_TOPIC,
            GetRouteInfoRequestHeader(topic),
            lambda r: TopicRouteData.from_json(_json_of(r)),
        )

    def delete_topic_in_namesrv(self, topic: str, cluster: str | None = None) -> Deferred[None]:
        """DELETE_TOPIC_IN_NAMESRV on every name server."""
        header = DeleteTopicFromNamesrvRequestHeader(topic, cluster)
        return self._ns_all(RequestCode.DELETE_TOPIC_IN_NAMESRV, header)

    def wipe_write_perm(self, namesrv: str, broker_name: str) -> Deferred[int]:
        """WIPE_WRITE_PERM_OF_BROKER on one name server; fires with the topic count."""
        d = self._perm(namesrv, RequestCode.WIPE_WRITE_PERM_OF_BROKER, broker_name)
        return d.addCallback(
            lambda ext: WipeWritePermOfBrokerResponseHeader.from_ext(ext).wipeTopicCount
        )

    def add_write_perm(self, namesrv: str, broker_name: str) -> Deferred[int]:
        """ADD_WRITE_PERM_OF_BROKER on one name server; fires with the topic count."""
        d = self._perm(namesrv, RequestCode.ADD_WRITE_PERM_OF_BROKER, broker_name)
        return d.addCallback(
            lambda ext: AddWritePermOfBrokerResponseHeader.from_ext(ext).addTopicCount
        )

    def _perm(self, namesrv: str, code: int, broker_name: str) -> Deferred[dict[str, str]]:
        """A write-permission change for ``broker_name``; fires with the answer's extFields."""
        d = self.invoke(namesrv, code, BrokerNameHeader(broker_name))
        return d.addCallback(lambda r: check_response(r).ext_fields)

    def put_kv_config(self, namespace: str, key: str, value: str) -> Deferred[None]:
        """PUT_KV_CONFIG on every name server."""
        header = PutKVConfigRequestHeader(namespace, key, value)
        return self._ns_all(RequestCode.PUT_KV_CONFIG, header)

    def delete_kv_config(self, namespace: str, key: str) -> Deferred[None]:
        """DELETE_KV_CONFIG on every name server."""
        header = GetKVConfigRequestHeader(namespace, key)
        return self._ns_all(RequestCode.DELETE_KV_CONFIG, header)

    def get_kv_config(self, namespace: str, key: str) -> Deferred[str | None]:
        """GET_KV_CONFIG; None when the name server has no such item (code 22)."""

        def done(r: RemotingCommand) -> str | None:
            if r.code == ResponseCode.QUERY_NOT_FOUND:
                return None
            return GetKVConfigResponseHeader.from_ext(check_response(r).ext_fields).value

        header = GetKVConfigRequestHeader(namespace, key)
        return self._ns(RequestCode.GET_KV_CONFIG, header, done)

    def kv_list(self, namespace: str) -> Deferred[dict[str, str]]:
        """GET_KVLIST_BY_NAMESPACE; {} when the namespace is empty (code 22)."""

        def done(r: RemotingCommand) -> dict[str, str]:
            if r.code == ResponseCode.QUERY_NOT_FOUND:
                return {}
            return KVTable.from_json(_json_of(r)).table

        header = GetKVListByNamespaceRequestHeader(namespace)
        return self._ns(RequestCode.GET_KVLIST_BY_NAMESPACE, header, done)

    def get_namesrv_config(self, namesrv: str) -> Deferred[dict[str, str]]:
        """GET_NAMESRV_CONFIG of one name server, as a properties dict."""
        d = self.invoke(namesrv, RequestCode.GET_NAMESRV_CONFIG)
        return d.addCallback(
            lambda r: parse_properties((check_response(r).body or b"").decode("utf-8"))
        )

    def update_namesrv_config(self, props: Mapping[str, str]) -> Deferred[None]:
        """UPDATE_NAMESRV_CONFIG on every name server."""
        body = format_properties(props).encode("utf-8")
        return self._ns_all(RequestCode.UPDATE_NAMESRV_CONFIG, None, body)

    # --- compositions ----------------------------------------------------------------

    def master_addrs(self, cluster: str) -> Deferred[dict[str, str]]:
        """Broker name -> master address for every broker of ``cluster``."""

        def pick(info: ClusterInfo) -> dict[str, str]:
            if cluster not in info.clusterAddrTable:
                raise MQClientError(f"cluster [{cluster}] not found on the name server")
            out: dict[str, str] = {}
            for name in info.clusterAddrTable[cluster]:
                data = info.brokerAddrTable.get(name)
                if data is not None and MASTER_ID in data.brokerAddrs:
                    out[name] = data.brokerAddrs[MASTER_ID]
            return out

        return self.cluster_info().addCallback(pick)

    def all_masters(self) -> Deferred[dict[str, str]]:
        """Broker name -> master address for every broker of every cluster."""

        def pick(info: ClusterInfo) -> dict[str, str]:
            return {
                name: data.brokerAddrs[MASTER_ID]
                for name, data in info.brokerAddrTable.items()
                if MASTER_ID in data.brokerAddrs
            }

        return self.cluster_info().addCallback(pick)

    def topic_masters(self, topic: str) -> Deferred[dict[str, str]]:
        """Broker name -> master address for every broker serving ``topic``."""

        def pick(route: TopicRouteData) -> dict[str, str]:
            return {
                b.brokerName: b.brokerAddrs[MASTER_ID]
                for b in route.brokerDatas
                if MASTER_ID in b.brokerAddrs
            }

        return self.topic_route(topic).addCallback(pick)

    def broker_addr(self, broker_name: str) -> Deferred[str]:
        """The master address of a broker name, from the cluster table."""

        def pick(info: ClusterInfo) -> str:
            data = info.brokerAddrTable.get(broker_name)
            if data is None or MASTER_ID not in data.brokerAddrs:
                raise MQClientError(f"broker [{broker_name}] has no master on the name server")
            return data.brokerAddrs[MASTER_ID]

        return self.cluster_info().addCallback(pick)

    # --- broker: topics ----------------------------------------------------------------

    def create_topic(
        self,
        addr: str,
        topic: str,
        read_queue_nums: int = 8,
        write_queue_nums: int = 8,
        perm: int = 6,
        order: bool = False,
        topic_sys_flag: int = 0,
    ) -> Deferred[None]:
        """UPDATE_AND_CREATE_TOPIC on one broker."""
        header = CreateTopicRequestHeader(
            topic,
            read_queue_nums,
            write_queue_nums,
            perm,
            defaultTopic="TBW102",
            topicFilterType="SINGLE_TAG",
            topicSysFlag=topic_sys_flag,
            order=order,
        )
        return self.invoke(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, header).addCallback(_done)

    def delete_topic_in_broker(self, addr: str, topic: str) -> Deferred[None]:
        """DELETE_TOPIC_IN_BROKER on one broker."""
        d = self.invoke(addr, RequestCode.DELETE_TOPIC_IN_BROKER, TopicRequestHeader(topic))
        return d.addCallback(_done)

    def topic_stats(self, addr: str, topic: str) -> Deferred[dict[MessageQueue, TopicOffset]]:
        """GET_TOPIC_STATS_INFO: min/max offset and last store time per queue."""

        def done(r: RemotingCommand) -> dict[MessageQueue, TopicOffset]:
            table = _json_of(r).get("offsetTable") or {}
            return {
                _mq(k): TopicOffset(
                    int(v.get("minOffset", 0)),
                    int(v.get("maxOffset", 0)),
                    int(v.get("lastUpdateTimestamp", 0)),
                )
                for k, v in table.items()
            }

        d = self.invoke(addr, RequestCode.GET_TOPIC_STATS_INFO, TopicRequestHeader(topic))
        return d.addCallback(done)

    def all_topic_config(self, addr: str) -> Deferred[dict[str, dict[str, Any]]]:
        """GET_ALL_TOPIC_CONFIG: topic -> config object."""
        d = self.invoke(addr, RequestCode.GET_ALL_TOPIC_CONFIG)
        return d.addCallback(lambda r: dict(_json_of(r).get("topicConfigTable") or {}))

    # --- broker: config and status ----------------------------------------------------

    def broker_runtime_info(self, addr: str) -> Deferred[dict[str, str]]:
        """GET_BROKER_RUNTIME_INFO as a dict of strings."""
        d = self.invoke(addr, RequestCode.GET_BROKER_RUNTIME_INFO)
        return d.addCallback(lambda r: KVTable.from_json(_json_of(r)).table)

    def broker_config(self, addr: str) -> Deferred[dict[str, str]]:
        """GET_BROKER_CONFIG as a properties dict."""
        d = self.invoke(addr, RequestCode.GET_BROKER_CONFIG)
        return d.addCallback(
            lambda r: parse_properties((check_response(r).body or b"").decode("utf-8"))
        )

    def update_broker_config(self, addr: str, props: Mapping[str, str]) -> Deferred[None]:
        """UPDATE_BROKER_CONFIG with ``key=value`` properties."""
        body = format_properties(props).encode("utf-8")
        d = self.invoke(addr, RequestCode.UPDATE_BROKER_CONFIG, None, body)
        return d.addCallback(_done)

    # --- broker: groups ---------------------------------------------------------------

    def create_subscription_group(self, addr: str, config: Mapping[str, Any]) -> Deferred[None]:
        """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP; ``config`` uses the Java field names."""
        body = fastjson.dumpb(dict(config))
        d = self.invoke(addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, body)
        return d.addCallback(_done)

    def all_subscription_groups(self, addr: str) -> Deferred[dict[str, dict[str, Any]]]:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG: group -> config object."""
        d = self.invoke(addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        return d.addCallback(lambda r: dict(_json_of(r).get("subscriptionGroupTable") or {}))

    def delete_subscription_group(
        self, addr: str, group: str, remove_offset: bool = False
    ) -> Deferred[None]:
        """DELETE_SUBSCRIPTIONGROUP on one broker."""
        header = DeleteSubscriptionGroupRequestHeader(group, remove_offset)
        return self.invoke(addr, RequestCode.DELETE_SUBSCRIPTIONGROUP, header).addCallback(_done)

    def consume_stats(
        self, addr: str, group: str, topic: str | None = None
    ) -> Deferred[tuple[float, dict[MessageQueue, OffsetWrapper]]]:
        """GET_CONSUME_STATS: (consume TPS, per-queue offsets)."""

        def done(r: RemotingCommand) -> tuple[float, dict[MessageQueue, OffsetWrapper]]:
            obj = _json_of(r)
            table = {
                _mq(k): OffsetWrapper(
                    int(v.get("brokerOffset", 0)),
                    int(v.get("consumerOffset", 0)),
                    int(v.get("lastTimestamp", 0)),
                )
                for k, v in (obj.get("offsetTable") or {}).items()
            }
            return float(obj.get("consumeTps", 0.0) or 0.0), table

        header = GetConsumeStatsRequestHeader(group, topic)
        return self.invoke(addr, RequestCode.GET_CONSUME_STATS, header).addCallback(done)

    def consumer_connection(self, addr: str, group: str) -> Deferred[ConsumerConnection]:
        """GET_CONSUMER_CONNECTION_LIST; ``RemoteError`` 206 when the group is not online."""

        def done(r: RemotingCommand) -> ConsumerConnection:
            obj = _json_of(r)
            return ConsumerConnection(
                [_connection(c) for c in obj.get("connectionSet") or []],
                {str(k): dict(v) for k, v in (obj.get("subscriptionTable") or {}).items()},
                str(obj.get("consumeType", "")),
                str(obj.get("messageModel", "")),
                str(obj.get("consumeFromWhere", "")),
            )

        header = ConsumerGroupRequestHeader(group)
        return self.invoke(addr, RequestCode.GET_CONSUMER_CONNECTION_LIST, header).addCallback(done)

    def producer_connection(self, addr: str, group: str) -> Deferred[list[Connection]]:
        """GET_PRODUCER_CONNECTION_LIST: the live channels of a producer group."""

        def done(r: RemotingCommand) -> list[Connection]:
            return [_connection(c) for c in _json_of(r).get("connectionSet") or []]

        header = ProducerGroupRequestHeader(group)
        return self.invoke(addr, RequestCode.GET_PRODUCER_CONNECTION_LIST, header).addCallback(done)

    def reset_offset(
        self, addr: str, topic: str, group: str, timestamp_ms: int, force: bool = True
    ) -> Deferred[dict[MessageQueue, int]]:
        """INVOKE_BROKER_TO_RESET_OFFSET: the broker resets and tells online consumers."""

        def done(r: RemotingCommand) -> dict[MessageQueue, int]:
            check_response(r)
            if not r.body:
                return {}
            table = fastjson.loads(r.body).get("offsetTable") or {}
            return {_mq(k): int(v) for k, v in table.items()}

        header = ResetOffsetRequestHeader(topic, group, timestamp_ms, force)
        return self.invoke(addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, header).addCallback(
            done
        )

    # --- messages -----------------------------------------------------------------------

    def view_message(self, offset_msg_id: str) -> Deferred[MessageExt]:
        """VIEW_MESSAGE_BY_ID at the broker and offset an offset message id names."""
        ip, port, offset = decode_offset_msg_id(offset_msg_id)
        return self.client.view_message(f"{ip}:{port}", offset, self.timeout)

    def query_message(
        self,
        topic: str,
        key: str,
        max_num: int,
        begin_ms: int,
        end_ms: int,
        unique_key: bool = False,
    ) -> Deferred[list[MessageExt]]:
        """QUERY_MESSAGE on every master of ``topic``, merged and filtered as Java does."""

        def ask(masters: dict[str, str]) -> Deferred[list[MessageExt]]:
            ds = [
                self.client.query_message(
                    a, topic, key, max_num, begin_ms, end_ms, self.timeout, unique_key
                )
                for a in masters.values()
            ]
            return gatherResults(ds, consumeErrors=True).addCallbacks(merge, _first_error)

        def merge(parts: list[list[MessageExt]]) -> list[MessageExt]:
            out: list[MessageExt] = []
            for msgs in parts:
                for msg in msgs:
                    if msg.topic != topic:
                        continue
                    props = msg.properties_dict
                    if unique_key:
                        if props.get("UNIQ_KEY") == key:
                            out.append(msg)
                    elif key in (props.get("KEYS") or "").split(" "):
                        out.append(msg)
            return out

        return self.topic_masters(topic).addCallback(ask)


def _done(resp: RemotingCommand) -> None:
    check_response(resp)


def _first_error(failure: Failure) -> Failure:
    """Unwrap gatherResults' FirstError into the error that caused it."""
    exc = failure.value
    if isinstance(exc, FirstError):
        inner: Failure = exc.subFailure
        return inner
    return failure
