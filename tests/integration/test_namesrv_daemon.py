"""Integration: a real ``twistd rmq-namesrv`` process on loopback, and the C++ client against it."""

from __future__ import annotations

import json
import os
import sys

from twisted.internet import defer, endpoints, reactor, task
from twisted.trial.unittest import TestCase

from rmq.common.route import ClusterInfo, DataVersion, RegisterBrokerBody, TopicConfig
from rmq.headers import RegisterBrokerRequestHeader
from rmq.namesrv.processor import body_crc32
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.server import RemotingServerFactory
from tests.integration.daemons import Daemon, spawn_twistd, start_twistd

TIMEOUT = 5.0


def register_request(
    broker_addr: str, topics: list[str], name: str = "broker-a"
) -> RemotingCommand:
    """A REGISTER_BROKER request as a master broker sends it."""
    body = RegisterBrokerBody(
        {t: TopicConfig(t, 4, 4, 6) for t in topics}, DataVersion(1, 1), []
    ).to_json()
    header = RegisterBrokerRequestHeader(
        brokerName=name,
        brokerAddr=broker_addr,
        clusterName="DefaultCluster",
        haServerAddr=broker_addr,
        brokerId=0,
        compressed=False,
        bodyCrc32=body_crc32(body),
    )
    return RemotingCommand.request(RequestCode.REGISTER_BROKER, header.to_ext(), body)


def route_request(topic: str) -> RemotingCommand:
    return RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})


class NamesrvDaemonTests(TestCase):
    timeout = 60

    async def _start(self, *args: str) -> Daemon:
        self.tmp = os.path.abspath(self.mktemp())
        os.makedirs(self.tmp)
        config = os.path.join(self.tmp, "namesrv.yaml")
        with open(config, "w") as f:
            f.write(f"kvConfigPath: {self.tmp}/kvConfig.json\n")
            f.write(f"configStorePath: {self.tmp}/namesrv.properties\n")
        daemon = await start_twistd(
            "rmq-namesrv",
            ["--config", config, "--listen", "tcp:0:interface=127.0.0.1", *args],
            self.tmp,
        )
        self.addCleanup(daemon.stop)
        self.client = RemotingClient(reactor)
        self.addCleanup(self.client.close)
        return daemon

    def test_register_route_and_disconnect(self) -> defer.Deferred[None]:
        """A registered broker's topic routes; it vanishes when the broker's connection closes."""
        return defer.Deferred.fromCoroutine(self._register_route_and_disconnect())

    async def _register_route_and_disconnect(self) -> None:
        ns = await self._start()
        broker = RemotingClient(reactor)
        resp = await broker.invoke(ns.address, register_request("127.0.0.1:1", ["T"]), TIMEOUT)
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        route = await self.client.invoke(ns.address, route_request("T"), TIMEOUT)
        self.assertEqual(route.code, ResponseCode.SUCCESS)
        assert route.body is not None
        self.assertEqual(
            json.loads(route.body)["brokerDatas"][0]["brokerAddrs"], {"0": "127.0.0.1:1"}
        )
        missing = await self.client.invoke(ns.address, route_request("Nope"), TIMEOUT)
        self.assertEqual(missing.code, ResponseCode.TOPIC_NOT_EXIST)
        info = await self.client.invoke(
            ns.address, RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO), TIMEOUT
        )
        assert info.body is not None
        self.assertEqual(
            ClusterInfo.from_json(info.body).clusterAddrTable["DefaultCluster"], ["broker-a"]
        )
        await broker.close()
        for _ in range(100):
            route = await self.client.invoke(ns.address, route_request("T"), TIMEOUT)
            if route.code == ResponseCode.TOPIC_NOT_EXIST:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(route.code, ResponseCode.TOPIC_NOT_EXIST)

    def test_kv_persisted(self) -> defer.Deferred[None]:
        """PUT_KV_CONFIG reaches kvConfig.json, and a restarted name server serves it."""
        return defer.Deferred.fromCoroutine(self._kv_persisted())

    async def _kv_persisted(self) -> None:
        ns = await self._start()
        put = RemotingCommand.request(
            RequestCode.PUT_KV_CONFIG, {"namespace": "n", "key": "k", "value": "v"}
        )
        self.assertEqual((await self.client.invoke(ns.address, put, TIMEOUT)).code, 0)
        await ns.stop()
        self.assertIn("Server Shut Down.", ns.log_text())  # a clean stop, not a kill
        with open(os.path.join(self.tmp, "kvConfig.json")) as f:
            self.assertEqual(json.load(f), {"configTable": {"n": {"k": "v"}}})
        again = await start_twistd(
            "rmq-namesrv",
            [
                "--config",
                os.path.join(self.tmp, "namesrv.yaml"),
                "--listen",
                "tcp:0:interface=127.0.0.1",
            ],
            self.tmp,
        )
        self.addCleanup(again.stop)
        get = RemotingCommand.request(RequestCode.GET_KV_CONFIG, {"namespace": "n", "key": "k"})
        resp = await self.client.invoke(again.address, get, TIMEOUT)
        self.assertEqual(resp.ext_fields.get("value"), "v")

    def test_bad_config_stops_startup(self) -> defer.Deferred[None]:
        """An unknown key in the YAML file ends twistd with a message naming it."""
        return defer.Deferred.fromCoroutine(self._bad_config())

    async def _bad_config(self) -> None:
        tmp = os.path.abspath(self.mktemp())
        os.makedirs(tmp)
        config = os.path.join(tmp, "bad.yaml")
        with open(config, "w") as f:
            f.write("listenPrt: 9876\n")
        daemon, _ = spawn_twistd("rmq-namesrv", ["--config", config], tmp)
        self.addCleanup(daemon.stop)
        code = await daemon.proto.ended
        self.assertNotEqual(code, 0)
        self.assertIn("listenPrt", daemon.log_text())


def _fake_broker_dispatcher(sends: list[RemotingCommand]) -> Dispatcher:
    """A tiny broker: SEND_MESSAGE answers SUCCESS as the C++ client expects; others succeed."""
    dispatcher = Dispatcher()

    def send(conn: object, req: RemotingCommand) -> RemotingCommand:
        sends.append(req)
        ext = {
            "msgId": f"7F000001000051AF{len(sends):016X}",
            "queueId": req.ext_fields.get("queueId", "0"),
            "queueOffset": str(len(sends) - 1),
            "MSG_REGION": "DefaultRegion",
            "TRACE_ON": "true",
        }
        return req.make_response(0, None, ext)

    def ok(conn: object, req: RemotingCommand) -> RemotingCommand:
        return req.make_response(0)

    dispatcher.register(RequestCode.SEND_MESSAGE, send)
    dispatcher.register(RequestCode.SEND_MESSAGE_V2, send)
    dispatcher.register(RequestCode.HEART_BEAT, ok)
    dispatcher.register(RequestCode.UNREGISTER_CLIENT, ok)
    return dispatcher


class CppClientTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        try:
            import rocketmq  # noqa: F401
        except Exception as exc:  # the wheel bundles a native library
            self.skipTest(f"official C++ client not importable: {exc}")

    def test_cpp_producer_uses_route(self) -> defer.Deferred[None]:
        """The C++ producer gets the route of a registered topic and sends to its broker."""
        return defer.Deferred.fromCoroutine(self._cpp_producer())

    async def _cpp_producer(self) -> None:
        from tests.interop.driver import run_cpp_driver

        tmp = os.path.abspath(self.mktemp())
        os.makedirs(tmp)
        with open(os.path.join(tmp, "ns.yaml"), "w") as f:
            f.write(f"kvConfigPath: {tmp}/kvConfig.json\n")
        ns = await start_twistd(
            "rmq-namesrv",
            ["--config", os.path.join(tmp, "ns.yaml"), "--listen", "tcp:0:interface=127.0.0.1"],
            tmp,
        )
        self.addCleanup(ns.stop)
        sends: list[RemotingCommand] = []
        factory = RemotingServerFactory(_fake_broker_dispatcher(sends), reactor)
        port = await endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            factory
        )
        self.addCleanup(port.stopListening)
        self.addCleanup(factory.close_all)
        broker_addr = f"127.0.0.1:{port.getHost().port}"
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        resp = await client.invoke(ns.address, register_request(broker_addr, ["CppTopic"]), TIMEOUT)
        self.assertEqual(resp.code, 0)

        args = ["produce", "--namesrv", ns.address, "--topic", "CppTopic", "--count", "2"]
        result = await run_cpp_driver(reactor, args, os.path.join(tmp, "cpp-ok"), timeout=60)
        self.assertTrue(result.ok, f"C++ producer failed: {result.errors} {result.events[-3:]}")
        self.assertEqual(len(sends), 2)
        self.assertEqual({s.ext_fields.get("topic") for s in sends}, {"CppTopic"})

        args = ["produce", "--namesrv", ns.address, "--topic", "NoSuchTopic", "--count", "1"]
        args += ["--send-timeout", "2000"]
        result = await run_cpp_driver(reactor, args, os.path.join(tmp, "cpp-missing"), timeout=60)
        self.assertFalse(result.ok)
        self.assertEqual(len(sends), 2)
        # librocketmq turns the name server's TOPIC_NOT_EXIST (17) into "no route" silently; any
        # other failing code would be logged by getTopicRouteInfoFromNameServer as "remark,code".
        errors = [e["message"] for e in result.errors]
        self.assertTrue(errors, result.events)
        self.assertIn("No route info of this topic: NoSuchTopic", errors[0])
        with open(result.of("started")[0]["log_file"], encoding="utf-8", errors="replace") as f:
            cpp_log = f.read()
        self.assertIn("updateTopicRouteInfoFromNameServer start:NoSuchTopic", cpp_log)
        self.assertNotIn("[getTopicRouteInfoFromNameServer:", cpp_log)
        missing = await client.invoke(ns.address, route_request("NoSuchTopic"), TIMEOUT)
        self.assertEqual(missing.code, ResponseCode.TOPIC_NOT_EXIST)


if sys.platform == "win32":  # pragma: no cover
    del CppClientTests
