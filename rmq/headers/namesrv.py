"""Headers of the name-server request codes (REFERENCE §3.1).

Attribute names are the exact Java field names (the wire names) unless a field says
otherwise; the broker, the client and the tools all use these classes."""

from __future__ import annotations

import attrs

from rmq.remoting.headers import CommandHeader

__all__ = [
    "AddWritePermOfBrokerResponseHeader",
    "BrokerNameHeader",
    "DeleteTopicFromNamesrvRequestHeader",
    "GetKVConfigRequestHeader",
    "GetKVConfigResponseHeader",
    "GetKVListByNamespaceRequestHeader",
    "GetRouteInfoRequestHeader",
    "GetTopicsByClusterRequestHeader",
    "PutKVConfigRequestHeader",
    "QueryDataVersionRequestHeader",
    "QueryDataVersionResponseHeader",
    "RegisterBrokerRequestHeader",
    "RegisterBrokerResponseHeader",
    "UnRegisterBrokerRequestHeader",
    "WipeWritePermOfBrokerResponseHeader",
]


@attrs.define
class RegisterBrokerRequestHeader(CommandHeader):
    brokerName: str
    brokerAddr: str
    clusterName: str
    haServerAddr: str
    brokerId: int
    compressed: bool = False
    bodyCrc32: int = 0


@attrs.define
class RegisterBrokerResponseHeader(CommandHeader):
    haServerAddr: str | None = None
    masterAddr: str | None = None


@attrs.define
class UnRegisterBrokerRequestHeader(CommandHeader):
    brokerName: str
    brokerAddr: str
    clusterName: str
    brokerId: int


@attrs.define
class QueryDataVersionRequestHeader(CommandHeader):
    brokerName: str
    brokerAddr: str
    clusterName: str
    brokerId: int


@attrs.define
class QueryDataVersionResponseHeader(CommandHeader):
    changed: bool


@attrs.define
class GetRouteInfoRequestHeader(CommandHeader):
    topic: str
    acceptStandardJsonOnly: bool | None = None


@attrs.define
class PutKVConfigRequestHeader(CommandHeader):
    namespace: str
    key: str
    value: str


@attrs.define
class GetKVConfigRequestHeader(CommandHeader):
    namespace: str
    key: str


@attrs.define
class GetKVConfigResponseHeader(CommandHeader):
    value: str | None = None


@attrs.define
class GetKVListByNamespaceRequestHeader(CommandHeader):
    namespace: str


@attrs.define
class BrokerNameHeader(CommandHeader):
    """WIPE_WRITE_PERM_OF_BROKER and ADD_WRITE_PERM_OF_BROKER requests."""

    brokerName: str


@attrs.define
class WipeWritePermOfBrokerResponseHeader(CommandHeader):
    wipeTopicCount: int


@attrs.define
class AddWritePermOfBrokerResponseHeader(CommandHeader):
    addTopicCount: int


@attrs.define
class DeleteTopicFromNamesrvRequestHeader(CommandHeader):
    topic: str
    clusterName: str | None = None


@attrs.define
class GetTopicsByClusterRequestHeader(CommandHeader):
    cluster: str
