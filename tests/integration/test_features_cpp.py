"""Integration: issue-5 broker features observed with the official C++ client (``rocketmq``).

Real ``twistd rmq-namesrv`` and ``twistd rmq-broker`` run on 127.0.0.1 (OS-chosen ports) with
``messageDelayLevel`` shortened, and the C++ client runs in driver child processes
(``tests/interop/cppdriver.py``). Covered: consume retries with a growing ``reconsumeTimes``
ending in ``%DLQ%<group>``; a delayed message that is not delivered before its due time; an
orderly consumer pair that receives each queue in send order; a tag-filtered subscription.
Every wait is on a driver event or a broker answer, bounded by a timeout.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from rmq.common.message import decode_messages
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.integration.cluster import start_broker, start_namesrv
from tests.integration.daemons import Daemon
from tests.interop.driver import (
    DriverProcess,
    DriverResult,
    DriverTimeout,
    Event,
    run_cpp_driver,
)

DELAY_SECONDS = (3, 6) + (1,) * 16
"""Levels 1 and 2 hold a message 3 s and 6 s; the rest (the retry levels 3+) take 1 s."""
DELAY_LEVELS = " ".join(f"{s}s" for s in DELAY_SECONDS)
QUIET = 4.0
"""Seconds after the last failed delivery in which no redelivery may come (4x the retry delay)."""


class CppFeatureTests(TestCase):
    """One name server and broker per test; C++ producers and consumers as child processes."""

    timeout = 90

    async def start_cluster(self) -> None:
        self.tmp = os.path.abspath(self.mktemp())
        os.makedirs(self.tmp)
        self.ns: Daemon = await start_namesrv(self, self.tmp)
        self.broker = await self.start_broker()
        self.client = RemotingClient(reactor)
        self.addCleanup(self.client.close)

    async def start_broker(self, port: int = 0) -> Daemon:
        """Start ``twistd rmq-broker`` on the test's config and store (again after a stop)."""
        extra = f"defaultTopicQueueNums: 4\nmessageDelayLevel: {DELAY_LEVELS}\n"
        return await start_broker(self, self.tmp, self.ns.address, extra, "broker-f", port)

    # -- helpers

    def cpp_args(self, scenario: str, *args: str) -> list[str]:
        return [scenario, "--namesrv", self.ns.address, *args]

    def produce(self, *args: str, timeout: float = 30.0) -> defer.Deferred[DriverResult]:
        """Run a C++ producer to completion."""
        log_dir = os.path.join(self.tmp, "cpp-produce")
        return run_cpp_driver(reactor, self.cpp_args("produce", *args), log_dir, timeout)

    def consumer(self, name: str, *args: str, deadline: float = 60.0) -> DriverProcess:
        """Start a C++ push consumer (instance ``name``), stopped at cleanup."""
        argv = self.cpp_args("push", "--instance-name", name, "--deadline", str(deadline), *args)
        proc = DriverProcess(reactor, argv, os.path.join(self.tmp, f"cpp-{name}"))
        self.addCleanup(proc.stop)
        return proc

    async def invoke(self, code: int, ext: dict[str, str] | None = None, body: Any = None) -> Any:
        """One request to the broker with rmq's RemotingClient; fires with the response."""
        payload = json.dumps(body).encode() if body is not None else None
        cmd = RemotingCommand.request(code, ext, payload)
        return await self.client.invoke(self.broker.address, cmd, 5.0)

    async def pull_queue(self, topic: str, queue_id: int = 0) -> list[Any]:
        """Every message in one queue, read with PULL_MESSAGE (subscription ``*``)."""
        ext = {
            "consumerGroup": "ItInspector", "topic": topic, "queueId": str(queue_id),
            "queueOffset": "0", "maxMsgNums": "32", "sysFlag": "4", "commitOffset": "0",
            "suspendTimeoutMillis": "0", "subscription": "*", "subVersion": "0",
        }  # fmt: skip
        resp = await self.invoke(RequestCode.PULL_MESSAGE, ext)
        return decode_messages(resp.body or b"") if resp.code == 0 else []

    async def until(self, probe: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
        """Call ``probe`` every 100 ms until it returns something truthy; fail after timeout."""
        deadline = reactor.seconds() + timeout
        while True:
            value = await probe()
            if value:
                return value
            if reactor.seconds() > deadline:
                self.fail(f"condition not met within {timeout} s")
            await task.deferLater(reactor, 0.1, lambda: None)

    async def wait_online(self, group: str, count: int) -> None:
        """Wait until ``count`` consumers of ``group`` have heartbeated to the broker."""

        async def probe() -> bool:
            resp = await self.invoke(
                RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": group}
            )
            if resp.code != 0:
                return False
            ids = json.loads(resp.body or b"{}").get("consumerIdList", [])
            return len(ids) >= count

        await self.until(probe)

    def assert_ok(self, result: DriverResult) -> None:
        self.assertTrue(result.ok, (result.errors, result.summary, result.stderr_tail[-2000:]))

    # -- 1. retries and dead letters

    async def test_retries_then_dead_letter_queue(self) -> None:
        """A message failed every time returns with reconsumeTimes 0, 1, 2, then is in the DLQ."""
        await self.start_cluster()
        group, topic, max_times = "CppRetryGroup", "CppRetryTopic", 2
        resp = await self.invoke(
            RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
            body={"groupName": group, "retryMaxTimes": max_times, "retryQueueNums": 1},
        )
        self.assertEqual(resp.code, 0, resp.remark)
        sent = await self.produce("--group", "PG", "--topic", topic, "--tags", "doomed")
        self.assert_ok(sent)
        consumer = self.consumer(
            "retry", "--group", group, "--topic", topic, "--fail-match", "doomed",
            "--fail-times", "100",
        )  # fmt: skip
        deliveries = await consumer.wait_for_events(max_times + 1, timeout=30)
        self.assertEqual([d["reconsume_times"] for d in deliveries], list(range(max_times + 1)))
        self.assertTrue(all(d["result"] == "later" for d in deliveries))
        self.assertEqual({d["tags"] for d in deliveries}, {"doomed"})
        self.assertEqual({d["topic"] for d in deliveries}, {topic})
        for before, retry in itertools.pairwise(deliveries):
            # The retry copy went through the 1 s delay level after the failed delivery.
            self.assertGreaterEqual(retry["store_timestamp"], before["received_at"] * 1000 + 995)
            self.assertEqual(retry["properties"].get("RETRY_TOPIC"), topic)
            self.assertTrue(retry["properties"].get("ORIGIN_MESSAGE_ID"))
        dead = await self.until(lambda: self.pull_queue(f"%DLQ%{group}"))
        self.assertEqual(len(dead), 1)
        letter = dead[0]
        self.assertEqual(letter.reconsume_times, max_times + 1)
        self.assertEqual(letter.properties_dict.get("RETRY_TOPIC"), topic)
        self.assertEqual(letter.body, b"body-0:")
        msg_id = sent.of("sent")[0]["msg_id"]
        self.assertEqual(letter.properties_dict.get("UNIQ_KEY"), msg_id)
        pulled = await run_cpp_driver(
            reactor,
            self.cpp_args("pull", "--group", "DlqReader", "--topic", f"%DLQ%{group}"),
            os.path.join(self.tmp, "cpp-dlq"),
            30.0,
        )
        self.assert_ok(pulled)
        self.assertEqual([m["id"] for m in pulled.messages], [msg_id])
        self.assertEqual(pulled.messages[0]["reconsume_times"], max_times + 1)
        # No further delivery once dead-lettered: one more would follow the last within a retry
        # delay (1 s, as the second and third did), so none may come in QUIET s after it.
        quiet_left = deliveries[-1]["received_at"] + QUIET - reactor.seconds()
        extra = consumer.wait_for_events(max_times + 2, timeout=max(quiet_left, 0.0))
        await self.assertFailure(extra, DriverTimeout)
        self.assertEqual(len(consumer.result().messages), max_times + 1)
        self.assertTrue(consumer.running, consumer.result().errors)

    # -- 2. delay levels

    async def test_delayed_message_not_before_due(self) -> None:
        """Messages sent with delay level 1 (3 s) reach a waiting consumer no earlier than due."""
        await self.start_cluster()
        topic, delay_ms = "CppDelayTopic", DELAY_SECONDS[0] * 1000
        sent = await self.produce(
            "--group", "PG", "--topic", topic, "--count", "3", "--delay-level", "1"
        )
        self.assert_ok(sent)
        consumer = self.consumer("delay", "--group", "CppDelayGroup", "--topic", topic)
        got = await consumer.wait_for_events(3, timeout=20)
        self.assertEqual(sorted(m["body_text"] for m in got), [f"body-{i}:" for i in range(3)])
        self.assertEqual({m["id"] for m in got}, {e["msg_id"] for e in sent.of("sent")})
        for m in got:
            born = m["born_timestamp"]
            self.assertGreaterEqual(m["store_timestamp"], born + delay_ms)
            self.assertGreaterEqual(m["received_at"] * 1000, born + delay_ms)
            # Bounded on the broker's re-put time, not on the consumer's start-up and rebalance.
            self.assertLess(m["store_timestamp"], born + delay_ms + 5000)
            self.assertNotIn("DELAY", m["properties"])
            self.assertEqual(m["properties"].get("REAL_TOPIC"), topic)

    async def test_delayed_messages_across_restart_once(self) -> None:
        """A broker restart neither repeats a delayed message already delivered nor loses
        one still parked: each reaches the topic once, the parked one not before due."""
        await self.start_cluster()
        topic, late_ms = "CppDelayRestartTopic", DELAY_SECONDS[1] * 1000
        for prefix, level in (("late-", "2"), ("early-", "4")):  # 6 s, then 1 s
            r = await self.produce(
                "--group", "PG", "--topic", topic, "--delay-level", level, "--body-prefix", prefix
            )  # fmt: skip
            self.assert_ok(r)

        async def stored() -> list[bytes]:
            bodies = []
            for q in range(4):
                bodies += [m.body for m in await self.pull_queue(topic, q)]
            return sorted(bodies)

        self.assertEqual(await self.until(stored), [b"early-0:"])
        port = self.broker.address.rpartition(":")[2]
        await self.broker.stop()
        self.broker = await self.start_broker(int(port))
        consumer = self.consumer("restart", "--group", "CppRestartGroup", "--topic", topic)
        got = await consumer.wait_for_events(2, timeout=20)
        self.assertEqual(sorted(m["body_text"] for m in got), ["early-0:", "late-0:"])
        late = next(m for m in got if m["body_text"] == "late-0:")
        self.assertGreaterEqual(late["store_timestamp"], late["born_timestamp"] + late_ms)
        self.assertEqual(await stored(), [b"early-0:", b"late-0:"])

    # -- 3. orderly consumption

    async def test_orderly_pair_keeps_queue_order(self) -> None:
        """Two orderly consumers share the queues; each queue arrives in send order at one."""
        await self.start_cluster()
        group, topic, count = "CppOrderGroup", "CppOrderTopic", 40
        warm = await self.produce(
            "--group", "PG", "--topic", topic, "--mode", "orderly-by-key", "--body-prefix", "warm-"
        )
        self.assert_ok(warm)
        a = self.consumer("order-a", "--group", group, "--topic", topic, "--orderly")
        b = self.consumer("order-b", "--group", group, "--topic", topic, "--orderly")
        await self.wait_online(group, 2)
        sent = await self.produce(
            "--group", "PG", "--topic", topic, "--count", str(count),
            "--mode", "orderly-by-key", "--order-keys", "4",
        )  # fmt: skip
        self.assert_ok(sent)
        queue_of = {e["index"]: e["queue_id"] for e in sent.of("sent")}
        self.assertEqual(set(queue_of.values()), {0, 1, 2, 3})

        def ours(e: Event) -> bool:
            return e.get("event") == "message" and str(e.get("body_text")).startswith("body-")

        seen: dict[str, list[Event]] = {}

        async def all_arrived() -> bool:
            for name, proc in (("a", a), ("b", b)):
                seen[name] = [e for e in proc.events if ours(e)]
            return len({int(e["body_text"][5:-1]) for v in seen.values() for e in v}) >= count

        await self.until(all_arrived, timeout=40)
        for name, events in seen.items():
            self.assertTrue(events, f"consumer {name} received no queue")
            for queue_id in range(4):
                indexes = [int(e["body_text"][5:-1]) for e in events if e["queue_id"] == queue_id]
                self.assertEqual(indexes, sorted(set(indexes)), (name, queue_id))
                self.assertTrue(all(queue_of[i] == queue_id for i in indexes))
        for queue_id in range(4):
            spans = [
                (min(times), max(times))
                for times in (
                    [e["received_at"] for e in events if e["queue_id"] == queue_id]
                    for events in seen.values()
                )
                if times
            ]
            if len(spans) == 2:  # the queue moved: the two consumers' spans do not overlap
                first, second = sorted(spans)
                self.assertLess(first[1], second[0], queue_id)
        # The broker's lock table has every queue held by the pair: a third client gets none.
        mqs = [{"topic": topic, "brokerName": "broker-f", "queueId": q} for q in range(4)]
        probe = {"consumerGroup": group, "clientId": "127.0.0.1@probe", "mqSet": mqs}
        resp = await self.invoke(RequestCode.LOCK_BATCH_MQ, body=probe)
        self.assertEqual(resp.code, 0, resp.remark)
        self.assertEqual(json.loads(resp.body or b"{}").get("lockOKMQSet", []), [])

    # -- 4. tag filter

    async def test_tag_filter_delivers_only_subscribed_tags(self) -> None:
        """A ``TagA || TagB`` subscription receives the TagA and TagB messages and no TagC."""
        await self.start_cluster()
        topic, per_tag = "CppTagTopic", 4
        for tag in ("TagA", "TagC", "TagB", "TagC"):  # one queue, so TagC sits between them
            r = await self.produce(
                "--group", "PG", "--topic", topic, "--count", str(per_tag), "--tags", tag,
                "--mode", "orderly-by-key", "--order-keys", "1", "--body-prefix", f"{tag}-",
            )  # fmt: skip
            self.assert_ok(r)
        consumer = self.consumer(
            "tags", "--group", "CppTagGroup", "--topic", topic,
            "--expression", "TagA || TagB", "--thread-count", "1",
        )  # fmt: skip
        got = await consumer.wait_for_events(2 * per_tag, timeout=20)
        # One queue and one consume thread: deliveries follow queue order, so a TagC would
        # have come before the last TagB.
        self.assertEqual([m["tags"] for m in got], ["TagA"] * per_tag + ["TagB"] * per_tag)
        self.assertEqual([m["queue_id"] for m in got], [0] * (2 * per_tag))
        self.assertEqual(
            [m["body_text"] for m in got],
            [f"TagA-{i}:" for i in range(per_tag)] + [f"TagB-{i}:" for i in range(per_tag)],
        )
