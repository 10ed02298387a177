"""Integration: three push consumers in one group over 8 queues; one is killed mid-stream.

The victim is a child process (this module run as a script) killed with SIGKILL while a
producer is sending. Every message must still be consumed at least once by someone, and the
two survivors must end up owning all 8 queues.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from twisted.internet import protocol, reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from rmq.client.model import Message
from rmq.common.message import MessageExt
from tests.integration.test_client_basic import ClientCluster, collector, sleep, wait_for

TOPIC, GROUP = "Failover", "FailoverG"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Child(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.owned: list[str] = []
        self.buf = b""
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            event = json.loads(line)
            if event["event"] == "msg":
                self.ids.add(event["id"])
            elif event["event"] == "owned":
                self.owned = event["queues"]

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)


def owned(c: Any) -> set[int]:
    return {q.queue_id for q in c.process_queues if q.topic == TOPIC}


class FailoverTests(TestCase):
    timeout = 180

    async def test_killed_member(self) -> None:
        """A SIGKILLed member's queues move to the others; nothing is lost."""
        c = ClientCluster()
        await c.start_cluster(self)
        p = await c.producer("FPG", default_topic_queue_nums=8)
        await p.send(Message(TOPIC, b"warm-up"))
        a_got: list[MessageExt] = []
        b_got: list[MessageExt] = []
        a = await c.push("fa", GROUP, TOPIC, collector(a_got))
        b = await c.push("fb", GROUP, TOPIC, collector(b_got))

        child = _Child()
        env = dict(os.environ, PYTHONPATH=ROOT)
        argv = [sys.executable, "-m", "tests.integration.test_client_failover", c.ns.address]
        transport = reactor.spawnProcess(child, sys.executable, argv, env=env, path=ROOT)  # type: ignore[attr-defined]
        pid = transport.pid
        self.addCleanup(lambda: _kill(pid) or child.ended)
        await wait_for(lambda: len(child.owned) > 0 and len(owned(a)) + len(owned(b)) < 8, 30)
        self.assertEqual(len(owned(a)) + len(owned(b)) + len(child.owned), 8)

        sent: list[str] = []
        for i in range(300):
            sent.append((await p.send(Message(TOPIC, f"m{i}".encode()))).msg_id)
            if i == 120:
                self.assertTrue(child.ids, "the victim consumed before it died")
                _kill(pid)
            await sleep(0.005)
        await child.ended
        survivors = lambda: {x.msg_id for x in a_got} | {x.msg_id for x in b_got}  # noqa: E731
        await wait_for(lambda: set(sent) <= (survivors() | child.ids), timeout=60)
        await wait_for(lambda: owned(a) | owned(b) == set(range(8)), timeout=30)
        self.assertEqual(owned(a) & owned(b), set())
        self.assertEqual(len(owned(a)) + len(owned(b)), 8)


def _kill(pid: int | None) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _child_main(namesrv: str) -> None:
    """The victim: a push consumer printing what it consumes and owns as JSON lines."""
    from twisted.internet import task

    from rmq.client.config import ClientConfig
    from rmq.client.consumer.push import PushConsumer, PushConsumerConfig
    from rmq.client.model import ConsumeFromWhere, ConsumeStatus

    def out(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def listener(msgs: list[MessageExt], ctx: Any) -> ConsumeStatus:
        for x in msgs:
            out({"event": "msg", "id": x.msg_id})
        return ConsumeStatus.CONSUME_SUCCESS

    cfg = PushConsumerConfig(GROUP, consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET)
    consumer = PushConsumer(reactor, cfg, ClientConfig(namesrv_addr=namesrv, instance_name="fc"))
    consumer.subscribe(TOPIC, "*")
    consumer.register_listener(listener)

    def report() -> None:
        out({"event": "owned", "queues": sorted(owned(consumer))})

    consumer.start()
    task.LoopingCall(report).start(0.2)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    _child_main(sys.argv[1])
