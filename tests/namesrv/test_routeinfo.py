"""Tests for rmq.namesrv.routeinfo: registration, expiry and route queries."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from rmq.common.route import DataVersion, TopicConfig
from rmq.namesrv.routeinfo import RegisterResult, RouteInfoTables

A0, A1, B0 = "10.0.0.1:10911", "10.0.0.2:10911", "10.0.0.3:10911"
DV1 = DataVersion(1, 1)


def _topics(*names: str, flag: int = 0) -> dict[str, TopicConfig]:
    return {n: TopicConfig(n, 4, 4, 6, topic_sys_flag=flag) for n in names}


def _register(
    t: RouteInfoTables,
    addr: str = A0,
    name: str = "broker-a",
    bid: int = 0,
    topics: dict[str, TopicConfig] | None = None,
    dv: DataVersion = DV1,
    cluster: str = "c1",
    channel: object = "chan-a0",
    now: float = 0.0,
) -> RegisterResult:
    return t.register_broker(
        cluster, addr, name, bid, addr.replace("10911", "10912"),
        _topics("T") if topics is None else topics, dv, [], channel, now,
    )  # fmt: skip


class RegisterTests(SynchronousTestCase):
    def test_route_after_register(self) -> None:
        """A master's topics appear in routes with its address under id 0."""
        t = RouteInfoTables()
        _register(t)
        route = t.route("T")
        assert route is not None
        self.assertEqual(route.brokerDatas[0].brokerAddrs, {0: A0})
        self.assertEqual(route.queueDatas[0].writeQueueNums, 4)
        self.assertIsNone(t.route("nope"))

    def test_slave_gets_master_addresses(self) -> None:
        """A slave registering gets the live master's address and HA address."""
        t = RouteInfoTables()
        _register(t)
        result = _register(t, addr=A1, bid=1, channel="chan-a1")
        self.assertEqual(result, RegisterResult(A0, "10.0.0.1:10912"))
        self.assertEqual(_register(t), RegisterResult())

    def test_slave_topics_ignored(self) -> None:
        """Only the master's topic table feeds QueueData."""
        t = RouteInfoTables()
        _register(t, addr=A1, bid=1, topics=_topics("S"))
        self.assertIsNone(t.route("S"))

    def test_same_version_does_not_rewrite(self) -> None:
        """A heartbeat with an unchanged DataVersion keeps a wiped perm."""
        t = RouteInfoTables()
        _register(t)
        self.assertEqual(t.wipe_write_perm("broker-a"), 1)
        _register(t)
        route = t.route("T")
        assert route is not None
        self.assertEqual(route.queueDatas[0].perm, 4)
        _register(t, dv=DataVersion(1, 2))
        route = t.route("T")
        assert route is not None
        self.assertEqual(route.queueDatas[0].perm, 6)

    def test_id_switch_replaces_old_entry(self) -> None:
        """An address re-registering under another id is not listed twice."""
        t = RouteInfoTables()
        _register(t, addr=A1, bid=1)
        _register(t, addr=A1, bid=0)
        self.assertEqual(t.broker_addr["broker-a"].brokerAddrs, {0: A1})

    def test_route_is_a_copy(self) -> None:
        """Mutating a returned route leaves the tables alone."""
        t = RouteInfoTables()
        _register(t)
        route = t.route("T")
        assert route is not None
        route.brokerDatas[0].brokerAddrs[5] = "x"
        route.queueDatas[0].perm = 0
        again = t.route("T")
        assert again is not None
        self.assertEqual(again.brokerDatas[0].brokerAddrs, {0: A0})
        self.assertEqual(again.queueDatas[0].perm, 6)

    def test_version_bumps(self) -> None:
        """Every mutation changes the version used for caching."""
        t = RouteInfoTables()
        v0 = t.version
        _register(t)
        v1 = t.version
        t.delete_topic("T")
        self.assertLess(v0, v1)
        self.assertLess(v1, t.version)

    def test_query_data_version(self) -> None:
        """Unchanged versions refresh the live timestamp; changed ones do not."""
        t = RouteInfoTables()
        _register(t, now=0.0)
        self.assertTrue(t.query_data_version(A0, DataVersion(9, 9), 50.0))
        self.assertEqual(t.broker_live[A0].last_update, 0.0)
        self.assertFalse(t.query_data_version(A0, DataVersion(1, 1), 50.0))
        self.assertEqual(t.broker_live[A0].last_update, 50.0)
        self.assertTrue(t.query_data_version(B0, DataVersion(1, 1), 50.0))


class RemovalTests(SynchronousTestCase):
    def test_expire(self) -> None:
        """Brokers silent longer than max_idle go, with their topics and cluster."""
        t = RouteInfoTables()
        _register(t, now=0.0)
        _register(t, addr=B0, name="broker-b", channel="chan-b", topics=_topics("T", "U"), now=100)
        self.assertEqual(t.expire(119.0, 120.0), [])
        self.assertEqual(t.expire(121.0, 120.0), [(A0, "chan-a0")])
        route = t.route("T")
        assert route is not None
        self.assertEqual([b.brokerName for b in route.brokerDatas], ["broker-b"])
        self.assertEqual(t.cluster_addr, {"c1": {"broker-b"}})
        t.expire(221.0, 120.0)
        self.assertEqual((t.topic_queue, t.cluster_addr, t.broker_addr), ({}, {}, {}))

    def test_remove_channel(self) -> None:
        """A closed connection removes every address registered on it."""
        t = RouteInfoTables()
        _register(t)
        _register(t, addr=A1, bid=1, channel="chan-a1")
        self.assertEqual(t.remove_channel("chan-a0"), [A0])
        route = t.route("T")
        assert route is not None
        self.assertEqual(route.brokerDatas[0].brokerAddrs, {1: A1})
        self.assertEqual(t.remove_channel("unknown"), [])

    def test_unregister(self) -> None:
        """UNREGISTER_BROKER of the last member removes the broker name everywhere."""
        t = RouteInfoTables()
        _register(t)
        t.unregister_broker("c1", A0, "broker-a", 0)
        self.assertIsNone(t.route("T"))
        self.assertEqual((t.cluster_addr, t.broker_live), ({}, {}))

    def test_delete_topic_per_cluster(self) -> None:
        """Deleting a topic for one cluster keeps the other cluster's queues."""
        t = RouteInfoTables()
        _register(t)
        _register(t, addr=B0, name="broker-b", cluster="c2", channel="b")
        t.delete_topic("T", "c1")
        route = t.route("T")
        assert route is not None
        self.assertEqual([q.brokerName for q in route.queueDatas], ["broker-b"])
        t.delete_topic("T")
        self.assertIsNone(t.route("T"))


class QueryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.t = RouteInfoTables()
        _register(self.t, topics={**_topics("T"), **_topics("U", flag=1), **_topics("S", flag=2)})
        _register(self.t, addr=B0, name="broker-b", cluster="c2", channel="b", topics=_topics("V"))

    def test_all_and_by_cluster(self) -> None:
        """Topic lists: all, and per cluster."""
        self.assertEqual(sorted(self.t.all_topics().topicList), ["S", "T", "U", "V"])
        self.assertEqual(sorted(self.t.topics_by_cluster("c2").topicList), ["V"])
        self.assertEqual(self.t.topics_by_cluster("none").topicList, [])

    def test_system_topics(self) -> None:
        """Cluster and broker names are system topics; a broker address comes along."""
        tl = self.t.system_topics()
        self.assertEqual(sorted(tl.topicList), ["broker-a", "broker-b", "c1", "c2"])
        self.assertIn(tl.brokerAddr, (A0, B0))

    def test_unit_topics(self) -> None:
        """The three unit filters select by sys flag bits."""
        self.assertEqual(self.t.unit_topics(True, False).topicList, ["U"])
        self.assertEqual(self.t.unit_topics(None, True).topicList, ["S"])
        self.assertEqual(self.t.unit_topics(False, True).topicList, ["S"])

    def test_cluster_info(self) -> None:
        """Cluster info lists every broker name per cluster."""
        info = self.t.cluster_info()
        self.assertEqual(info.clusterAddrTable, {"c1": ["broker-a"], "c2": ["broker-b"]})
        self.assertEqual(info.brokerAddrTable["broker-b"].brokerAddrs, {0: B0})

    def test_perm_ops(self) -> None:
        """Wipe clears the write bit, add restores 6; both count topics."""
        self.assertEqual(self.t.wipe_write_perm("broker-a"), 3)
        self.assertEqual(
            {q["broker-a"].perm for q in self.t.topic_queue.values() if "broker-a" in q}, {4}
        )
        self.assertEqual(self.t.add_write_perm("broker-a"), 3)
        self.assertEqual(self.t.topic_queue["T"]["broker-a"].perm, 6)
        self.assertEqual(self.t.wipe_write_perm("nobody"), 0)
