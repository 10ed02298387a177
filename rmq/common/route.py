"""Route and registration bodies shared by name server, broker and client (REFERENCE §4.2).

Each class maps one Java body to typed fields with the exact wire names. ``to_json(standard)``
gives fastjson's default form (unquoted integer keys) or, with ``standard=True``, quoted keys;
``from_json`` accepts both and ignores unknown fields, as Java does.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any, Self

import attrs

from rmq.common import fastjson
from rmq.common.errors import BodyError

__all__ = [
    "PERM_INHERIT",
    "PERM_READ",
    "PERM_WRITE",
    "BrokerData",
    "ClusterInfo",
    "DataVersion",
    "KVTable",
    "QueueData",
    "RegisterBrokerBody",
    "TopicConfig",
    "TopicList",
    "TopicRouteData",
]

PERM_PRIORITY = 0x8
PERM_READ = 0x4
PERM_WRITE = 0x2
PERM_INHERIT = 0x1

TOPIC_SYS_FLAG_UNIT = 0x1
TOPIC_SYS_FLAG_UNIT_SUB = 0x2


def _obj(data: bytes | str | Mapping[Any, Any]) -> Mapping[Any, Any]:
    if isinstance(data, Mapping):
        return data
    return fastjson.load_object(data, "request")


def _int(obj: Mapping[Any, Any], key: str, default: int = 0) -> int:
    value = obj.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BodyError(f"field '{key}' is not an integer: {value!r}") from exc


def _str(obj: Mapping[Any, Any], key: str, default: str = "") -> str:
    value = obj.get(key, default)
    return default if value is None else str(value)


def _bool(obj: Mapping[Any, Any], key: str) -> bool:
    value = obj.get(key, False)
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


class _Body:
    """Mixin: JSON bytes from ``to_obj``; subclasses define ``to_obj`` and ``from_obj``."""

    def to_obj(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self, standard: bool = False) -> bytes:
        """The body as fastjson would write it (``standard``: quoted keys, ASCII only)."""
        return fastjson.dumpb(self.to_obj(), standard=standard)

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: bytes | str | Mapping[Any, Any]) -> Self:
        """Parse a body (either key quoting); raises ``BodyError`` on a wrong shape."""
        return cls.from_obj(_obj(data))


@attrs.define
class QueueData(_Body):
    """One broker name's queues for a topic."""

    brokerName: str
    readQueueNums: int
    writeQueueNums: int
    perm: int
    topicSysFlag: int = 0

    def to_obj(self) -> dict[str, Any]:
        return {
            "brokerName": self.brokerName,
            "perm": self.perm,
            "readQueueNums": self.readQueueNums,
            "topicSysFlag": self.topicSysFlag,
            "writeQueueNums": self.writeQueueNums,
        }

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        # Older 4.x Java and Go clients spell the flag ``topicSynFlag``.
        flag = _int(obj, "topicSysFlag", _int(obj, "topicSynFlag"))
        return cls(
            _str(obj, "brokerName"),
            _int(obj, "readQueueNums"),
            _int(obj, "writeQueueNums"),
            _int(obj, "perm"),
            flag,
        )


@attrs.define
class BrokerData(_Body):
    """A broker name (master + slaves) and the address of each member by broker id."""

    cluster: str
    brokerName: str
    brokerAddrs: dict[int, str] = attrs.field(factory=dict)

    def copy(self) -> BrokerData:
        """An independent copy (route answers must not alias the live tables)."""
        return BrokerData(self.cluster, self.brokerName, dict(self.brokerAddrs))

    def to_obj(self) -> dict[str, Any]:
        return {
            "brokerAddrs": self.brokerAddrs,
            "brokerName": self.brokerName,
            "cluster": self.cluster,
        }

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        addrs = obj.get("brokerAddrs") or {}
        if not isinstance(addrs, Mapping):
            raise BodyError("field 'brokerAddrs' is not an object")
        try:
            table = {int(k): str(v) for k, v in addrs.items()}
        except (TypeError, ValueError) as exc:
            raise BodyError(f"field 'brokerAddrs' has a non-integer key: {exc}") from exc
        return cls(_str(obj, "cluster"), _str(obj, "brokerName"), table)


@attrs.define
class TopicRouteData(_Body):
    """Answer to GET_ROUTEINFO_BY_TOPIC: queues and the brokers that serve them."""

    queueDatas: list[QueueData] = attrs.field(factory=list)
    brokerDatas: list[BrokerData] = attrs.field(factory=list)
    filterServerTable: dict[str, list[str]] = attrs.field(factory=dict)
    orderTopicConf: str | None = None

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "brokerDatas": [b.to_obj() for b in self.brokerDatas],
            "filterServerTable": self.filterServerTable,
            "queueDatas": [q.to_obj() for q in self.queueDatas],
        }
        if self.orderTopicConf is not None:
            obj["orderTopicConf"] = self.orderTopicConf
        return obj

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        order = obj.get("orderTopicConf")
        fst = obj.get("filterServerTable") or {}
        return cls(
            [QueueData.from_obj(q) for q in obj.get("queueDatas") or []],
            [BrokerData.from_obj(b) for b in obj.get("brokerDatas") or []],
            {str(k): [str(s) for s in v] for k, v in fst.items()},
            None if order is None else str(order),
        )


@attrs.define
class ClusterInfo(_Body):
    """Answer to GET_BROKER_CLUSTER_INFO; Java always writes it with unquoted keys."""

    brokerAddrTable: dict[str, BrokerData] = attrs.field(factory=dict)
    clusterAddrTable: dict[str, list[str]] = attrs.field(factory=dict)

    def to_obj(self) -> dict[str, Any]:
        return {
            "brokerAddrTable": {k: v.to_obj() for k, v in self.brokerAddrTable.items()},
            "clusterAddrTable": {k: sorted(v) for k, v in self.clusterAddrTable.items()},
        }

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        bat = obj.get("brokerAddrTable") or {}
        cat = obj.get("clusterAddrTable") or {}
        return cls(
            {str(k): BrokerData.from_obj(v) for k, v in bat.items()},
            {str(k): [str(n) for n in v] for k, v in cat.items()},
        )


@attrs.define
class TopicList(_Body):
    """A set of topic names, optionally with a broker address to query (system topics)."""

    topicList: list[str] = attrs.field(factory=list)
    brokerAddr: str | None = None

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"topicList": sorted(set(self.topicList))}
        if self.brokerAddr is not None:
            obj["brokerAddr"] = self.brokerAddr
        return obj

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        addr = obj.get("brokerAddr")
        return cls(
            [str(t) for t in obj.get("topicList") or []], None if addr is None else str(addr)
        )


@attrs.define
class KVTable(_Body):
    """A string-to-string map (KV namespace listing, ORDER_TOPIC_CONFIG)."""

    table: dict[str, str] = attrs.field(factory=dict)

    def to_obj(self) -> dict[str, Any]:
        return {"table": self.table}

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        table = obj.get("table") or {}
        return cls({str(k): str(v) for k, v in table.items()})


@attrs.frozen
class DataVersion(_Body):
    """Version stamp of a config table (topics, groups, broker config); equal when timestamp
    and counter are; bumped on every change."""

    timestamp: int = 0
    counter: int = 0

    def next_version(self, now_ms: int) -> DataVersion:
        """The version after a change made at ``now_ms`` (counter + 1)."""
        return DataVersion(now_ms, self.counter + 1)

    def to_obj(self) -> dict[str, Any]:
        return {"counter": self.counter, "timestamp": self.timestamp}

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        return cls(_int(obj, "timestamp"), _int(obj, "counter"))


@attrs.define
class TopicConfig(_Body):
    """A broker's configuration of one topic (topics.json, REGISTER_BROKER, admin bodies).

    Attributes are snake_case; the JSON keys are Java's (``topicName``, ``readQueueNums``...).
    """

    topic_name: str
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = PERM_READ | PERM_WRITE
    topic_filter_type: str = "SINGLE_TAG"
    topic_sys_flag: int = 0
    order: bool = False

    @property
    def readable(self) -> bool:
        return bool(self.perm & PERM_READ)

    @property
    def writeable(self) -> bool:
        return bool(self.perm & PERM_WRITE)

    def to_obj(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "perm": self.perm,
            "readQueueNums": self.read_queue_nums,
            "topicFilterType": self.topic_filter_type,
            "topicName": self.topic_name,
            "topicSysFlag": self.topic_sys_flag,
            "writeQueueNums": self.write_queue_nums,
        }

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any], name: str | None = None) -> Self:
        """Parse Java's form; ``name`` (the table key) fills a missing topicName."""
        return cls(
            _str(obj, "topicName") or name or "",
            _int(obj, "readQueueNums", 16),
            _int(obj, "writeQueueNums", 16),
            _int(obj, "perm", PERM_READ | PERM_WRITE),
            _str(obj, "topicFilterType", "SINGLE_TAG") or "SINGLE_TAG",
            _int(obj, "topicSysFlag"),
            _bool(obj, "order"),
        )

    def encode_compact(self) -> bytes:
        """The space-separated form used inside a compressed RegisterBrokerBody."""
        return (
            f"{self.topic_name} {self.read_queue_nums} {self.write_queue_nums} "
            f"{self.perm} {self.topic_filter_type}"
        ).encode()

    @classmethod
    def decode_compact(cls, data: bytes) -> TopicConfig:
        """Parse ``encode_compact`` output (sys flag and order are not carried)."""
        parts = data.decode("utf-8").split(" ")
        if len(parts) != 5:
            raise BodyError(f"bad compact topic config: {data!r}")
        try:
            return cls(parts[0], int(parts[1]), int(parts[2]), int(parts[3]), parts[4])
        except ValueError as exc:
            raise BodyError(f"bad compact topic config: {data!r}") from exc


@attrs.define
class RegisterBrokerBody(_Body):
    """REGISTER_BROKER body: the broker's topics, their DataVersion and filter servers."""

    topicConfigTable: dict[str, TopicConfig] = attrs.field(factory=dict)
    dataVersion: DataVersion = attrs.field(factory=DataVersion)
    filterServerList: list[str] = attrs.field(factory=list)

    def to_obj(self) -> dict[str, Any]:
        return {
            "filterServerList": self.filterServerList,
            "topicConfigSerializeWrapper": {
                "dataVersion": self.dataVersion.to_obj(),
                "topicConfigTable": {k: v.to_obj() for k, v in self.topicConfigTable.items()},
            },
        }

    @classmethod
    def from_obj(cls, obj: Mapping[Any, Any]) -> Self:
        wrapper = obj.get("topicConfigSerializeWrapper")
        if wrapper is None:
            # Before V3_0_11 the body was the bare TopicConfigSerializeWrapper.
            wrapper = obj
        return cls(
            _topic_table(wrapper.get("topicConfigTable") or {}),
            DataVersion.from_obj(wrapper.get("dataVersion") or {}),
            [str(s) for s in obj.get("filterServerList") or []],
        )

    def encode_compressed(self) -> bytes:
        """The zlib form a broker with ``compressedRegister=true`` sends."""
        parts: list[bytes] = []
        dv = self.dataVersion.to_json()
        parts.append(struct.pack(">i", len(dv)) + dv)
        parts.append(struct.pack(">i", len(self.topicConfigTable)))
        for tc in self.topicConfigTable.values():
            raw = tc.encode_compact()
            parts.append(struct.pack(">i", len(raw)) + raw)
        fsl = fastjson.dumpb(self.filterServerList)
        parts.append(struct.pack(">i", len(fsl)) + fsl)
        return zlib.compress(b"".join(parts), 9)

    @classmethod
    def decode_compressed(cls, data: bytes) -> RegisterBrokerBody:
        """Parse the zlib form; raises ``BodyError`` if it is truncated or malformed."""
        try:
            raw = zlib.decompress(data)
        except zlib.error as exc:
            raise BodyError(f"compressed body does not inflate: {exc}") from exc
        reader = _Reader(raw)
        dv = DataVersion.from_json(reader.chunk())
        table: dict[str, TopicConfig] = {}
        for _ in range(reader.int32()):
            tc = TopicConfig.decode_compact(reader.chunk())
            table[tc.topic_name] = tc
        fsl = fastjson.loads(reader.chunk()) if reader.remaining() else []
        return cls(table, dv, [str(s) for s in fsl or []])


def _topic_table(raw: Mapping[Any, Any]) -> dict[str, TopicConfig]:
    table: dict[str, TopicConfig] = {}
    for name, cfg in raw.items():
        tc = TopicConfig.from_obj(cfg)
        if not tc.topic_name:
            tc.topic_name = str(name)
        table[str(name)] = tc
    return table


class _Reader:
    """Big-endian length-prefixed chunks out of a byte string."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def int32(self) -> int:
        if self.remaining() < 4:
            raise BodyError("compressed body is truncated")
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return int(value)

    def chunk(self) -> bytes:
        size = self.int32()
        if size < 0 or size > self.remaining():
            raise BodyError("compressed body is truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out
