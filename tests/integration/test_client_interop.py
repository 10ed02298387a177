"""Integration: the rmq client and the official C++ client (rocketmq==0.4.4) on one rmq broker.

Both directions: rmq producer -> C++ push consumer, and C++ producer -> rmq push consumer.
Bodies, tags, keys, user properties and message ids must match. The C++ client runs in a
child process (tests/interop/cppdriver.py), never inside trial's process.
"""

from __future__ import annotations

import base64
import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from rmq.client.model import Message
from rmq.common import message as m
from rmq.common.message import MessageExt
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.integration.test_client_basic import ClientCluster, collector, sleep, wait_for
from tests.interop.driver import run_cpp_driver

N = 12


class InteropTests(TestCase):
    timeout = 180

    async def cluster(self) -> ClientCluster:
        c = ClientCluster()
        await c.start_cluster(self)
        return c

    def cpp(self, c: ClientCluster, *args: str, timeout: float = 90.0):  # type: ignore[no-untyped-def]
        argv = [args[0], "--namesrv", c.ns.address, *args[1:]]
        return run_cpp_driver(reactor, argv, os.path.join(c.tmp, "cpp"), timeout)

    async def stored_flags(
        self, topic: str, where: list[tuple[int, int]], broker: str
    ) -> list[int]:
        """The stored sysFlag of each (queue id, queue offset) message, read with PULL_MESSAGE."""
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        flags = []
        for queue_id, offset in where:
            ext = {
                "consumerGroup": "IopInspector", "topic": topic, "queueId": str(queue_id),
                "queueOffset": str(offset), "maxMsgNums": "1", "sysFlag": "4",
                "commitOffset": "0", "suspendTimeoutMillis": "0", "subscription": "*",
                "subVersion": "0",
            }  # fmt: skip
            cmd = RemotingCommand.request(RequestCode.PULL_MESSAGE, ext)
            resp = await client.invoke(broker, cmd, 5.0)
            self.assertEqual(resp.code, 0, resp.remark)
            flags += [x.sys_flag for x in m.decode_messages(resp.body or b"")]
        self.assertEqual(len(flags), len(where))
        return flags

    async def test_rmq_producer_to_cpp_consumer(self) -> None:
        """Messages sent by rmq arrive at the C++ consumer with the same id, body, tags, keys."""
        c = await self.cluster()
        p = await c.producer("IPG")
        sent = {}
        compressed = []
        for i in range(N):
            # Every fourth body is over the 4 KiB compression threshold; no NUL byte in any, so
            # even a C-string read of the body could not match by being cut short.
            body = f"rmq-{i}".encode() if i % 4 else bytes(range(1, 256)) * 20 + b"%d" % i
            msg = Message(
                "IopA", body, tags=f"Tag{i % 3}", keys=[f"K{i}"], properties={"color": f"c{i}"}
            )
            r = await p.send(msg)
            sent[r.msg_id] = (body, msg)
            if len(body) > 4096:
                compressed.append((r.message_queue.queue_id, r.queue_offset))
        stored = await self.stored_flags("IopA", compressed, c.broker.address)
        self.assertTrue(all(flag & m.COMPRESSED_FLAG for flag in stored), stored)
        result = await self.cpp(
            c, "push", "--group", "ICG", "--topic", "IopA", "--expect", str(N),
            "--idle-timeout", "40", "--show-prop", "color",
        )  # fmt: skip
        self.assertTrue(result.ok, (result.errors, result.stderr_tail[-2000:]))
        got = {e["id"]: e for e in result.messages}
        self.assertEqual(set(got), set(sent))
        for mid, (body, msg) in sent.items():
            e = got[mid]
            self.assertEqual(e["topic"], "IopA")
            self.assertEqual(e["tags"], msg.tags)
            self.assertEqual(e["keys"], msg.keys_string())
            self.assertEqual(e["properties"].get("color"), msg.properties["color"])
            self.assertEqual(e["properties"].get(m.UNIQ_KEY), mid)
            self.assertEqual(base64.b64decode(e["body_b64"]), body)
            self.assertTrue(e["body_len_exact"])

    async def test_cpp_producer_to_rmq_consumer(self) -> None:
        """Messages sent by the C++ client arrive at the rmq consumer with matching fields."""
        c = await self.cluster()
        result = await self.cpp(
            c, "produce", "--group", "CPG", "--topic", "IopB", "--count", str(N),
            "--tags", "T{i}", "--keys", "K{i}", "--prop", "up=v",
        )  # fmt: skip
        self.assertTrue(result.ok, (result.errors, result.stderr_tail[-2000:]))
        sent = {e["msg_id"]: e for e in result.of("sent")}
        self.assertEqual(len(sent), N)
        got: list[MessageExt] = []
        await c.push("rc", "RCG", "IopB", collector(got))
        await wait_for(lambda: len(got) >= N, timeout=40)
        await sleep(0.3)
        self.assertEqual({x.msg_id for x in got}, set(sent))
        for x in got:
            i = int(x.tags[1:]) if x.tags else -1
            self.assertEqual(x.properties_dict.get(m.KEYS), f"K{i}")
            self.assertEqual(x.properties_dict.get("up"), "v")
            self.assertEqual(x.body, f"body-{i}:".encode())
            self.assertEqual(x.topic, "IopB")
