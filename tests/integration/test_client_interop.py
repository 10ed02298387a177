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

    async def test_rmq_producer_to_cpp_consumer(self) -> None:
        """Messages sent by rmq arrive at the C++ consumer with the same id, body, tags, keys."""
        c = await self.cluster()
        p = await c.producer("IPG")
        sent = {}
        for i in range(N):
            body = f"rmq-{i}".encode() if i % 4 else bytes(range(256)) * 20  # one compressed
            msg = Message(
                "IopA", body, tags=f"Tag{i % 3}", keys=[f"K{i}"], properties={"color": f"c{i}"}
            )
            r = await p.send(msg)
            sent[r.msg_id] = (body, msg)
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
            if e["body_len_exact"]:
                self.assertEqual(base64.b64decode(e["body_b64"]), body)
            else:
                self.assertTrue(body.startswith(base64.b64decode(e["body_b64"])))

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
            self.assertTrue(x.body.startswith(b"body-"))
            self.assertEqual(x.topic, "IopB")
