"""Integration: real ``twistd rmq-namesrv`` + ``twistd rmq-broker`` on loopback, C++ clients."""

from __future__ import annotations

import base64
import os
from collections import Counter
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from rmq.common import fastjson
from rmq.common.message import decode_messages
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.integration.cluster import start_broker, start_cluster
from tests.interop.cppdriver import make_body
from tests.interop.driver import DriverResult, run_cpp_driver

TOPIC = "ItTopic"


class BrokerDaemonTests(TestCase):
    timeout = 300

    async def _setup(self) -> None:
        cluster = await start_cluster(self)
        self.tmp, self.ns, self.broker = cluster.tmp, cluster.ns, cluster.broker

    def _cpp(self, *args: str, timeout: float = 90.0) -> defer.Deferred[DriverResult]:
        argv = [args[0], "--namesrv", self.ns.address, *args[1:]]
        return run_cpp_driver(reactor, argv, os.path.join(self.tmp, "cpp"), timeout)

    async def test_produce_consume_restart(self) -> None:
        """Every send mode reaches a push consumer once, intact; a pull consumer reads them;
        after a restart offsets and messages are still there."""
        await self._setup()
        sent: list[str] = []
        runs = [
            ("sync", ["--count", "400", "--tags", "TagA", "--keys", "K{i}", "--prop", "up=v"]),
            ("async", ["--count", "200", "--tags", "TagB"]),
            ("oneway", ["--count", "200", "--tags", "TagC"]),
            ("orderly-by-key", ["--count", "150", "--order-keys", "4"]),
            ("sync", ["--count", "48", "--batch", "16"]),
            ("sync", ["--count", "2", "--body-size", str(100 * 1024)]),
        ]
        expected: Counter[bytes] = Counter()
        by_id: dict[str, bytes] = {}
        for mode, extra in runs:
            r = await self._cpp(
                "produce", "--group", "PG", "--topic", TOPIC, "--mode", mode, *extra
            )
            self.assertTrue(r.ok, (mode, r.errors, r.stderr_tail[-2000:]))
            size = int(extra[extra.index("--body-size") + 1]) if "--body-size" in extra else 0
            count = int(extra[extra.index("--count") + 1])
            expected.update(make_body(i, size, "body-") for i in range(count))
            for e in r.of("sent"):
                if e.get("msg_id"):  # oneway sends and batches report no per-message id
                    sent.append(e["msg_id"])
                    by_id[e["msg_id"]] = make_body(e["index"], size, "body-")
        self.assertEqual(len(sent), 400 + 200 + 150 + 2)
        total = 1000
        push = await self._cpp(
            "push",
            "--group",
            "CG",
            "--topic",
            TOPIC,
            "--expect",
            str(total),
            "--idle-timeout",
            "30",
            "--show-prop",
            "up",
        )
        self.assertTrue(push.ok, (push.errors, push.summary))
        msgs = push.messages
        ids = [m["id"] for m in msgs]
        self.assertEqual(len(ids), total)
        self.assertEqual(len(set(ids)), total)
        self.assertTrue(set(sent) <= set(ids), set(sent) - set(ids))
        self.assertTrue(all(m["body_len_exact"] for m in msgs))
        bodies = {m["id"]: base64.b64decode(m["body_b64"]) for m in msgs}
        self.assertEqual(Counter(bodies.values()), expected)
        for mid, body in by_id.items():
            self.assertEqual(bodies[mid], body, mid)
        big = [b for b in bodies.values() if len(b) == 100 * 1024]
        self.assertEqual(sorted(big), [make_body(i, 100 * 1024, "body-") for i in range(2)])
        tagged = [m for m in msgs if m.get("tags") == "TagA"]
        self.assertEqual(len(tagged), 400)
        self.assertTrue(all(m["properties"].get("up") == "v" for m in tagged))
        self.assertTrue(all(m.get("keys", "").startswith("K") for m in tagged))
        pull = await self._cpp("pull", "--group", "PullG", "--topic", TOPIC)
        self.assertTrue(pull.ok, pull.errors)
        self.assertEqual(len({m["id"] for m in pull.messages}), total)
        # Restart the broker on the same port: messages and committed offsets survive.
        port = self.broker.address.rpartition(":")[2]
        await self.broker.stop()
        with open(os.path.join(self.tmp, "broker", "store", "config", "consumerOffset.json")) as f:
            self.assertIn(f"{TOPIC}@CG", f.read())
        self.broker = await start_broker(self, self.tmp, self.ns.address, port=int(port))
        more = await self._cpp(
            "produce", "--group", "PG", "--topic", TOPIC, "--count", "10", "--tags", "After"
        )
        self.assertTrue(more.ok, more.errors)
        resumed = await self._cpp(
            "push",
            "--group",
            "CG",
            "--topic",
            TOPIC,
            "--expect",
            "10",
            "--idle-timeout",
            "20",
            "--linger",
            "3",
        )
        self.assertEqual(sorted(m.get("tags") for m in resumed.messages), ["After"] * 10)
        again = await self._cpp("pull", "--group", "PullG2", "--topic", TOPIC)
        self.assertEqual(len({m["id"] for m in again.messages}), total + 10)

    async def test_long_poll_latency(self) -> None:
        """A held pull is answered < 100 ms after the send's acknowledgement (measured)."""
        await self._setup()
        addr = self.broker.address
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        send_ext = {
            "producerGroup": "LPG", "topic": "LpTopic", "defaultTopic": "TBW102",
            "defaultTopicQueueNums": "4", "queueId": "0", "sysFlag": "0",
            "bornTimestamp": "0", "flag": "0", "properties": "TAGS\x01T\x02",
        }  # fmt: skip
        first = await client.invoke(
            addr, RemotingCommand.request(RequestCode.SEND_MESSAGE, send_ext, b"one"), 5
        )
        self.assertEqual(first.code, 0, first.remark)
        pull_ext = {
            "consumerGroup": "LPC", "topic": "LpTopic", "queueId": "0", "queueOffset": "1",
            "maxMsgNums": "32", "sysFlag": "6", "commitOffset": "0",
            "suspendTimeoutMillis": "15000", "subscription": "*", "subVersion": "0",
        }  # fmt: skip
        arrived: dict[str, Any] = {}
        pull = client.invoke(addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, pull_ext), 30)
        pull.addCallback(lambda r: arrived.update(at=reactor.seconds(), resp=r))
        # The broker reads one connection's frames in order and handles a pull without yielding,
        # so once a later request on the same connection is answered, the long-poll pull has
        # been processed: still unanswered means it is held. The probe (no suspend flag) also
        # shows the queue is still empty at offset 1.
        probe_ext = dict(pull_ext, sysFlag="4", suspendTimeoutMillis="0")
        probe = await client.invoke(
            addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, probe_ext), 5
        )
        self.assertEqual(probe.code, ResponseCode.PULL_NOT_FOUND, probe.remark)
        self.assertEqual(arrived, {}, "pull should be held")
        ack = await client.invoke(
            addr, RemotingCommand.request(RequestCode.SEND_MESSAGE, send_ext, b"two"), 5
        )
        ack_at = reactor.seconds()
        self.assertEqual(ack.code, 0)
        await pull
        latency = arrived["at"] - ack_at
        self.assertEqual(arrived["resp"].code, 0)
        self.assertEqual([m.body for m in decode_messages(arrived["resp"].body)], [b"two"])
        self.assertLess(latency, 0.1)

    async def _wait_consumers(self, group: str, count: int, timeout: float = 30.0) -> None:
        """Poll GET_CONSUMER_LIST_BY_GROUP until ``count`` clients are in the group."""
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]
        while True:
            cmd = RemotingCommand.request(
                RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": group}
            )
            resp = await client.invoke(self.broker.address, cmd, 5.0)
            if (
                resp.code == 0
                and len(fastjson.loads(resp.body or b"{}")["consumerIdList"]) >= count
            ):
                return
            if reactor.seconds() > deadline:  # type: ignore[attr-defined]
                self.fail(f"group {group} never had {count} consumers")
            await task.deferLater(reactor, 0.1, lambda: None)

    def _push(self, group: str, instance: str) -> Any:
        """A C++ push consumer of TOPIC in ``group`` that stops after 12 s without messages."""
        args = ["--group", group, "--topic", TOPIC, "--idle-timeout", "12"]
        return self._cpp("push", *args, "--instance-name", instance, timeout=120)

    async def test_second_consumer_splits_queues(self) -> None:
        """Two consumers of one group share the queues and together receive everything."""
        await self._setup()
        r = await self._cpp("produce", "--group", "PG", "--topic", TOPIC, "--count", "200")
        self.assertTrue(r.ok, r.errors)
        a = self._push("SG", "a")
        await self._wait_consumers("SG", 1)
        b = self._push("SG", "b")
        await self._wait_consumers("SG", 2)
        more = await self._cpp("produce", "--group", "PG", "--topic", TOPIC, "--count", "200")
        self.assertTrue(more.ok, more.errors)
        ra, rb = await a, await b
        ids = {m["id"] for m in ra.messages} | {m["id"] for m in rb.messages}
        self.assertEqual(len(ids), 400)
        self.assertTrue(rb.messages, "second consumer got no queues")
