"""The name server's in-memory route tables (REFERENCE §7.1); pure, "now" is passed in.

Five tables, as Java keeps them: topic -> {brokerName -> QueueData}, brokerName -> BrokerData,
cluster -> {brokerName}, brokerAddr -> liveness record, brokerAddr -> filter servers. Every
mutation bumps ``version`` so callers can cache encoded answers until the tables change.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import attrs

from rmq.common.route import (
    PERM_READ,
    PERM_WRITE,
    TOPIC_SYS_FLAG_UNIT,
    TOPIC_SYS_FLAG_UNIT_SUB,
    BrokerData,
    ClusterInfo,
    DataVersion,
    QueueData,
    TopicConfig,
    TopicList,
    TopicRouteData,
)

__all__ = ["MASTER_ID", "BrokerLiveInfo", "RegisterResult", "RouteInfoTables"]

MASTER_ID = 0


@attrs.define
class BrokerLiveInfo:
    """When a broker address last registered, with what DataVersion, over which connection."""

    last_update: float
    data_version: DataVersion
    channel: Hashable | None
    ha_server_addr: str


@attrs.frozen
class RegisterResult:
    """What a REGISTER_BROKER answer carries back: the master's addresses, for slaves."""

    master_addr: str | None = None
    ha_server_addr: str | None = None


class RouteInfoTables:
    """Route and liveness state; every method is synchronous and reactor-free."""

    def __init__(self) -> None:
        self.topic_queue: dict[str, dict[str, QueueData]] = {}
        self.broker_addr: dict[str, BrokerData] = {}
        self.cluster_addr: dict[str, set[str]] = {}
        self.broker_live: dict[str, BrokerLiveInfo] = {}
        self.filter_server: dict[str, list[str]] = {}
        self.version = 0

    # --- registration ---------------------------------------------------------

    def register_broker(
        self,
        cluster: str,
        broker_addr: str,
        broker_name: str,
        broker_id: int,
        ha_server_addr: str,
        topics: dict[str, TopicConfig] | None,
        data_version: DataVersion,
        filter_servers: list[str],
        channel: Hashable | None,
        now: float,
    ) -> RegisterResult:
        """Record a registration (first one or heartbeat) and return the master's addresses."""
        self.version += 1
        self.cluster_addr.setdefault(cluster, set()).add(broker_name)
        register_first = False
        bd = self.broker_addr.get(broker_name)
        if bd is None:
            register_first = True
            bd = BrokerData(cluster, broker_name, {})
            self.broker_addr[broker_name] = bd
        # A slave promoted to master (or vice versa) keeps its address under a new id.
        for other_id in [i for i, a in bd.brokerAddrs.items() if a == broker_addr]:
            if other_id != broker_id:
                del bd.brokerAddrs[other_id]
        old_addr = bd.brokerAddrs.get(broker_id)
        bd.brokerAddrs[broker_id] = broker_addr
        register_first = register_first or old_addr is None

        is_master = topics is not None and broker_id == MASTER_ID
        if is_master and (self._topic_config_changed(broker_addr, data_version) or register_first):
            for tc in (topics or {}).values():
                self._upsert_queue_data(broker_name, tc)

        self.broker_live[broker_addr] = BrokerLiveInfo(now, data_version, channel, ha_server_addr)
        if filter_servers:
            self.filter_server[broker_addr] = list(filter_servers)
        else:
            self.filter_server.pop(broker_addr, None)

        if broker_id != MASTER_ID:
            master = bd.brokerAddrs.get(MASTER_ID)
            if master is not None:
                live = self.broker_live.get(master)
                if live is not None:
                    return RegisterResult(master, live.ha_server_addr)
        return RegisterResult()

    def _topic_config_changed(self, broker_addr: str, data_version: DataVersion) -> bool:
        live = self.broker_live.get(broker_addr)
        return live is None or live.data_version != data_version

    def _upsert_queue_data(self, broker_name: str, tc: TopicConfig) -> None:
        qd = QueueData(
            broker_name, tc.read_queue_nums, tc.write_queue_nums, tc.perm, tc.topic_sys_flag
        )
        self.topic_queue.setdefault(tc.topic_name, {})[broker_name] = qd

    def query_data_version(self, broker_addr: str, data_version: DataVersion, now: float) -> bool:
        """True when the broker's topics changed; otherwise refresh its live timestamp."""
        changed = self._topic_config_changed(broker_addr, data_version)
        if not changed:
            self.broker_live[broker_addr].last_update = now
        return changed

    def stored_data_version(self, broker_addr: str) -> DataVersion | None:
        """The DataVersion last registered from ``broker_addr``, if it is live."""
        live = self.broker_live.get(broker_addr)
        return None if live is None else live.data_version

    def unregister_broker(
        self, cluster: str, broker_addr: str, broker_name: str, broker_id: int
    ) -> None:
        """Remove one broker member as UNREGISTER_BROKER asks."""
        self.version += 1
        self.broker_live.pop(broker_addr, None)
        self.filter_server.pop(broker_addr, None)
        bd = self.broker_addr.get(broker_name)
        removed_name = False
        if bd is not None:
            bd.brokerAddrs.pop(broker_id, None)
            if not bd.brokerAddrs:
                del self.broker_addr[broker_name]
                removed_name = True
        if removed_name:
            names = self.cluster_addr.get(cluster)
            if names is not None:
                names.discard(broker_name)
                if not names:
                    del self.cluster_addr[cluster]
            self._drop_queue_data({broker_name})

    def remove_broker_addr(self, broker_addr: str) -> None:
        """Forget an address entirely (its connection closed or it expired)."""
        self.version += 1
        self.broker_live.pop(broker_addr, None)
        self.filter_server.pop(broker_addr, None)
        emptied: set[str] = set()
        for name, bd in list(self.broker_addr.items()):
            for bid in [i for i, a in bd.brokerAddrs.items() if a == broker_addr]:
                del bd.brokerAddrs[bid]
            if not bd.brokerAddrs:
                del self.broker_addr[name]
                emptied.add(name)
        if not emptied:
            return
        for cluster, names in list(self.cluster_addr.items()):
            names -= emptied
            if not names:
                del self.cluster_addr[cluster]
        self._drop_queue_data(emptied)

    def remove_channel(self, channel: Hashable) -> list[str]:
        """Forget every broker address registered over ``channel``; returns those addresses."""
        addrs = [a for a, live in self.broker_live.items() if live.channel == channel]
        for addr in addrs:
            self.remove_broker_addr(addr)
        return addrs

    def expire(self, now: float, max_idle: float) -> list[tuple[str, Hashable | None]]:
        """Drop brokers silent for more than ``max_idle`` seconds; returns (addr, channel)."""
        stale = [
            (addr, live.channel)
            for addr, live in self.broker_live.items()
            if live.last_update + max_idle < now
        ]
        for addr, _ in stale:
            self.remove_broker_addr(addr)
        return stale

    def _drop_queue_data(self, broker_names: set[str]) -> None:
        for topic, per_broker in list(self.topic_queue.items()):
            for name in broker_names:
                per_broker.pop(name, None)
            if not per_broker:
                del self.topic_queue[topic]

    # --- queries --------------------------------------------------------------

    def route(self, topic: str) -> TopicRouteData | None:
        """The topic's route, or None when it has no queue or no live broker (TOPIC_NOT_EXIST)."""
        per_broker = self.topic_queue.get(topic)
        if not per_broker:
            return None
        queue_datas = [attrs.evolve(qd) for qd in per_broker.values()]
        broker_datas: list[BrokerData] = []
        filters: dict[str, list[str]] = {}
        for name in per_broker:
            bd = self.broker_addr.get(name)
            if bd is None:
                continue
            broker_datas.append(bd.copy())
            for addr in bd.brokerAddrs.values():
                fs = self.filter_server.get(addr)
                if fs:
                    filters[addr] = list(fs)
        if not broker_datas:
            return None
        return TopicRouteData(queue_datas, broker_datas, filters)

    def cluster_info(self) -> ClusterInfo:
        """Every broker name and every cluster's broker names."""
        return ClusterInfo(
            {n: bd.copy() for n, bd in self.broker_addr.items()},
            {c: sorted(names) for c, names in self.cluster_addr.items()},
        )

    def all_topics(self) -> TopicList:
        """Every topic the name server knows."""
        return TopicList(list(self.topic_queue))

    def topics_by_cluster(self, cluster: str) -> TopicList:
        """Topics served by at least one broker name of ``cluster``."""
        names = self.cluster_addr.get(cluster, set())
        return TopicList([t for t, per in self.topic_queue.items() if names & per.keys()])

    def system_topics(self) -> TopicList:
        """Cluster names and broker names (each is a system topic), plus one broker address."""
        topics: list[str] = []
        for cluster, names in self.cluster_addr.items():
            topics.append(cluster)
            topics.extend(names)
        addr = None
        for bd in self.broker_addr.values():
            if bd.brokerAddrs:
                addr = next(iter(bd.brokerAddrs.values()))
                break
        return TopicList(topics, addr)

    def unit_topics(self, unit: bool | None, unit_sub: bool) -> TopicList:
        """Topics filtered by the sys flag of their first QueueData.

        ``unit``: required value of the unit bit (None: either); ``unit_sub``: the unit-sub bit
        must be set. The three request codes are (True, False), (None, True), (False, True).
        """
        out: list[str] = []
        for topic, per in self.topic_queue.items():
            if not per:
                continue
            flag = next(iter(per.values())).topicSysFlag
            has_unit = bool(flag & TOPIC_SYS_FLAG_UNIT)
            has_sub = bool(flag & TOPIC_SYS_FLAG_UNIT_SUB)
            if unit is not None and has_unit != unit:
                continue
            if unit_sub and not has_sub:
                continue
            out.append(topic)
        return TopicList(out)

    # --- admin ---------------------------------------------------------------

    def delete_topic(self, topic: str, cluster: str | None = None) -> None:
        """Remove a topic's route, or only the queues of ``cluster``'s broker names."""
        self.version += 1
        if not cluster:
            self.topic_queue.pop(topic, None)
            return
        per = self.topic_queue.get(topic)
        if per is None:
            return
        for name in self.cluster_addr.get(cluster, set()):
            per.pop(name, None)
        if not per:
            del self.topic_queue[topic]

    def wipe_write_perm(self, broker_name: str) -> int:
        """Clear the write bit of every topic on ``broker_name``; returns the topic count."""
        return self._operate_perm(broker_name, wipe=True)

    def add_write_perm(self, broker_name: str) -> int:
        """Restore read+write on every topic of ``broker_name``; returns the topic count."""
        return self._operate_perm(broker_name, wipe=False)

    def _operate_perm(self, broker_name: str, wipe: bool) -> int:
        self.version += 1
        count = 0
        for per in self.topic_queue.values():
            qd = per.get(broker_name)
            if qd is None:
                continue
            qd.perm = qd.perm & ~PERM_WRITE if wipe else PERM_READ | PERM_WRITE
            count += 1
        return count

    def broker_names(self) -> Iterable[str]:
        """Every registered broker name."""
        return self.broker_addr.keys()
