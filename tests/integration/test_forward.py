"""Integration: admin requests forwarded by a real broker to live consumers (307, 309, 223).

An rmq ``RemotingClient`` plays the admin tool against ``twistd rmq-broker``; the consumers
are an rmq push consumer in this process and the official C++ push consumer in a driver
child process. Everything runs on 127.0.0.1 with OS-chosen ports; processes stop by PID.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor, task
from twisted.trial.unittest import TestCase

from rmq.client.config import ClientConfig
from rmq.client.consumer.push import ConsumeContext, PushConsumer, PushConsumerConfig
from rmq.client.model import ConsumeFromWhere, ConsumeStatus, Message
from rmq.client.producer import Producer, ProducerConfig
from rmq.common import fastjson
from rmq.common.message import MessageExt
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.integration.cluster import Cluster, start_cluster
from tests.interop.driver import DriverProcess


async def _sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def _wait_for(pred: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]
    while not pred():
        if reactor.seconds() > deadline:  # type: ignore[attr-defined]
            raise AssertionError("condition not met in time")
        await _sleep(0.05)


class ForwardIntegrationTests(TestCase):
    timeout = 90

    async def start(self) -> Cluster:
        cluster = await start_cluster(self)
        self.cluster = cluster
        self.admin = RemotingClient(reactor)
        self.addCleanup(self.admin.close)
        return cluster

    def config(self, name: str) -> ClientConfig:
        return ClientConfig(namesrv_addr=self.cluster.namesrv, instance_name=name)

    async def invoke(self, code: int, ext: dict[str, str], timeout: float = 15.0) -> Any:
        cmd = RemotingCommand.request(code, ext)
        return await self.admin.invoke(self.cluster.broker.address, cmd, timeout)

    async def client_ids(self, group: str, count: int) -> list[str]:
        """The group's client ids once ``count`` consumers have heartbeated."""
        deadline = reactor.seconds() + 30  # type: ignore[attr-defined]
        while True:
            resp = await self.invoke(
                RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": group}
            )
            ids: list[str] = []
            if resp.code == 0:
                ids = json.loads(resp.body or b"{}").get("consumerIdList", [])
            if len(ids) >= count:
                return ids
            if reactor.seconds() > deadline:  # type: ignore[attr-defined]
                self.fail(f"{group} never had {count} consumers online")
            await _sleep(0.1)

    async def test_rmq_push_consumer_answers_through_broker(self) -> None:
        """307, 309 and 223 reach a live rmq push consumer and its answers come back."""
        await self.start()
        producer = Producer(reactor, ProducerConfig("FwdPG"), self.config("fwd-p"))
        await producer.start()
        self.addCleanup(producer.shutdown)
        sent = await producer.send(Message("FwdTopic", b"again", tags="T"))

        got: list[MessageExt] = []

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeStatus:
            got.extend(msgs)
            return ConsumeStatus.CONSUME_SUCCESS

        consumer = PushConsumer(
            reactor,
            PushConsumerConfig(
                "FwdCG", consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
            ),
            self.config("fwd-c"),
        )
        consumer.subscribe("FwdTopic", "*")
        consumer.register_listener(listener)
        await consumer.start()
        self.addCleanup(consumer.shutdown)
        await _wait_for(lambda: len(got) >= 1)
        [client_id] = await self.client_ids("FwdCG", 1)

        info = await self.invoke(
            RequestCode.GET_CONSUMER_RUNNING_INFO,
            {"consumerGroup": "FwdCG", "clientId": client_id, "jstackEnable": "false"},
        )
        self.assertEqual(info.code, ResponseCode.SUCCESS, info.remark)
        running: Any = fastjson.loads(info.body or b"")
        self.assertIn("properties", running)
        self.assertIn("FwdTopic", [s.get("topic") for s in running.get("subscriptionSet", [])])

        missing = await self.invoke(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "FwdCG", "clientId": "nobody"}
        )
        self.assertEqual(
            (missing.code, missing.remark), (1, "The Consumer <FwdCG> <nobody> not online")
        )

        direct = await self.invoke(
            RequestCode.CONSUME_MESSAGE_DIRECTLY,
            {"consumerGroup": "FwdCG", "clientId": client_id, "msgId": sent.offset_msg_id},
        )
        self.assertEqual(direct.code, ResponseCode.SUCCESS, direct.remark)
        self.assertEqual(fastjson.loads(direct.body or b"")["consumeResult"], "CR_SUCCESS")
        self.assertEqual([m.body for m in got], [b"again", b"again"])
        self.assertEqual(got[-1].offset_msg_id, sent.offset_msg_id)

        # The consumer's offset table holds every queue it owns once it has pulled.
        status = await self.invoke(
            RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
            {"topic": "FwdTopic", "group": "FwdCG"},
        )
        self.assertEqual(status.code, ResponseCode.SUCCESS, status.remark)
        body: Any = fastjson.loads(status.body or b"")
        table = body["consumerTable"][client_id]
        offsets = {k.as_dict()["queueId"]: v for k, v in table.items()}
        queue = sent.message_queue.queue_id
        self.assertEqual(offsets.get(queue), sent.queue_offset + 1)

    async def test_cpp_push_consumer_running_info_passed_through(self) -> None:
        """The C++ consumer's non-JSON running info comes back to the admin byte for byte."""
        cluster = await self.start()
        producer = Producer(reactor, ProducerConfig("FwdCppPG"), self.config("fwd-cpp-p"))
        await producer.start()
        self.addCleanup(producer.shutdown)
        await producer.send(Message("FwdCppT", b"route me"))  # the C++ consumer needs a route
        argv = [
            "push", "--namesrv", cluster.namesrv, "--group", "FwdCppG", "--topic", "FwdCppT",
            "--instance-name", "fwd-cpp", "--deadline", "60",
        ]  # fmt: skip
        proc = DriverProcess(reactor, argv, os.path.join(cluster.tmp, "cpp-fwd"))
        self.addCleanup(proc.stop)
        [client_id] = await self.client_ids("FwdCppG", 1)
        info = await self.invoke(
            RequestCode.GET_CONSUMER_RUNNING_INFO,
            {"consumerGroup": "FwdCppG", "clientId": client_id, "jstackEnable": "false"},
        )
        self.assertEqual(info.code, ResponseCode.SUCCESS, info.remark)
        self.assertEqual(info.language, "CPP")
        text = (info.body or b"").decode("utf-8")
        self.assertIn("mqTable", text)
        self.assertIn("FwdCppT", text)
        with self.assertRaises(ValueError):
            json.loads(text)  # object keys: not standard JSON, passed through untouched
