"""Integration: the rmq client against real ``twistd rmq-namesrv`` and ``rmq-broker`` daemons.

Covers the producer (sync, oneway, batch, selectors, compression, delay), pull and push
consumers (clustering, broadcasting, tags, SQL92, retry through send-back, orderly) and the
transactional producer (commit, rollback, broker check). Everything runs on 127.0.0.1 with
OS-chosen ports; the daemons are stopped by PID in cleanups.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from rmq.client.config import ClientConfig
from rmq.client.consumer.pull import PullConsumer
from rmq.client.consumer.push import ConsumeContext, PushConsumer, PushConsumerConfig
from rmq.client.model import (
    ConsumeFromWhere,
    ConsumeOrderlyStatus,
    ConsumeStatus,
    ExpressionType,
    LocalTransactionState,
    Message,
    MessageModel,
    MessageQueue,
    PullStatus,
    SendStatus,
)
from rmq.client.producer import Producer, ProducerConfig, select_by_hash
from rmq.client.transaction import TransactionProducer
from rmq.common import message as m
from rmq.common.message import MessageExt
from tests.integration.cluster import start_broker, start_namesrv
from tests.integration.daemons import Daemon

DELAYS = " ".join(["1s"] * 18)


async def sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def wait_for(pred: Callable[[], bool], timeout: float = 20.0, step: float = 0.05) -> None:
    """Poll ``pred`` on the real reactor until true; fail after ``timeout``."""
    deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]
    while not pred():
        if reactor.seconds() > deadline:  # type: ignore[attr-defined]
            raise AssertionError("condition not met in time")
        await sleep(step)


class ClientCluster:
    """Start a name server and one broker for a test; build clients pointed at them."""

    async def start_cluster(self, test: TestCase, broker_extra: str = "") -> None:
        self.tmp = os.path.abspath(test.mktemp())
        os.makedirs(self.tmp)
        self.ns: Daemon = await start_namesrv(test, self.tmp)
        extra = (
            f"enablePropertyFilter: true\nmessageDelayLevel: {DELAYS}\n"
            "transactionCheckInterval: 1000\ntransactionTimeOut: 1000\n"
            "diskMaxUsedSpaceRatio: 95\n"
        )
        self.broker: Daemon = await start_broker(
            test, self.tmp, self.ns.address, extra + broker_extra, "broker-c"
        )
        self.test = test

    def client_config(self, name: str) -> ClientConfig:
        return ClientConfig(namesrv_addr=self.ns.address, instance_name=name)

    async def producer(self, group: str = "PG", **kw: Any) -> Producer:
        p = Producer(reactor, ProducerConfig(group, **kw), self.client_config(f"p-{group}"))
        await p.start()
        self.test.addCleanup(p.shutdown)
        return p

    async def push(
        self,
        name: str,
        group: str,
        topic: str,
        listener: Any,
        expression: str = "*",
        expression_type: ExpressionType = ExpressionType.TAG,
        orderly: bool = False,
        **cfg: Any,
    ) -> PushConsumer:
        cfg.setdefault("consume_from_where", ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET)
        if cfg.get("message_model") is MessageModel.BROADCASTING:
            cfg.setdefault("offsets_dir", os.path.join(self.tmp, "offsets"))
        c = PushConsumer(reactor, PushConsumerConfig(group, **cfg), self.client_config(name))
        c.subscribe(topic, expression, expression_type)
        if orderly:
            c.register_orderly_listener(listener)
        else:
            c.register_listener(listener)
        await c.start()
        self.test.addCleanup(c.shutdown)
        return c


def collector(sink: list[MessageExt]) -> Callable[[list[MessageExt], ConsumeContext], Any]:
    def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeStatus:
        sink.extend(msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    return listener


class ClientIntegrationTests(TestCase):
    timeout = 120

    async def setup(self, extra: str = "") -> ClientCluster:
        cluster = ClientCluster()
        await cluster.start_cluster(self, extra)
        return cluster

    async def test_produce_push_and_pull(self) -> None:
        """Sends (sync, oneway, batch, compressed, hashed) reach push and pull consumers intact."""
        c = await self.setup()
        p = await c.producer()
        sent = []
        for i in range(6):
            msg = Message(
                "Basic",
                f"body-{i}".encode(),
                tags="TagA",
                keys=[f"k{i}", "x"],
                properties={"color": "red", "n": str(i)},
            )
            r = await p.send(msg)
            self.assertEqual(r.status, SendStatus.SEND_OK)
            sent.append(r)
        big = await p.send(Message("Basic", b"z" * 10000, tags="Big"))
        ordered = [
            await p.send(Message("Basic", b"o", tags="O"), selector=select_by_hash, arg="order-1")
            for _ in range(3)
        ]
        self.assertEqual(len({r.message_queue for r in ordered}), 1)
        batch = await p.send_batch([Message("Basic", f"b{i}".encode(), tags="B") for i in range(3)])
        await p.send_oneway(Message("Basic", b"oneway", tags="One"))
        total = 6 + 1 + 3 + 3 + 1

        got: list[MessageExt] = []
        await c.push("c1", "CG1", "Basic", collector(got))
        await wait_for(lambda: len(got) >= total)
        await sleep(0.3)
        self.assertEqual(len(got), total)
        by_id = {x.msg_id: x for x in got}
        for i, r in enumerate(sent):
            x = by_id[r.msg_id]
            self.assertEqual(x.body, f"body-{i}".encode())
            self.assertEqual(x.tags, "TagA")
            self.assertEqual(x.properties_dict[m.KEYS], f"k{i} x")
            self.assertEqual(x.properties_dict["color"], "red")
            self.assertEqual(x.offset_msg_id, r.offset_msg_id)
            self.assertEqual(x.queue_offset, r.queue_offset)
        self.assertEqual(by_id[big.msg_id].body, b"z" * 10000)
        for bid in batch.msg_id.split(","):
            self.assertIn(bid, by_id)

        pull = PullConsumer(reactor, "PullG", c.client_config("puller"))
        await pull.start()
        self.addCleanup(pull.shutdown)
        queues = await pull.fetch_subscribe_queues("Basic")
        pulled: list[MessageExt] = []
        for q in queues:
            r = await pull.pull(q, "TagA || Big", 0, 32)
            if r.status is PullStatus.FOUND:
                pulled.extend(r.messages)
        self.assertEqual(sorted(x.tags or "" for x in pulled), ["Big"] + ["TagA"] * 6)
        view = await p.view_message(sent[0].offset_msg_id)
        self.assertEqual(view.body, b"body-0")

    async def test_sql92_and_tag_filters(self) -> None:
        """SQL92 subscriptions select by user properties; tag subscriptions by tag."""
        c = await self.setup()
        p = await c.producer()
        for i in range(10):
            await p.send(
                Message("Filt", b"x", tags="A" if i % 2 else "B", properties={"n": str(i)})
            )
        sql: list[MessageExt] = []
        tag: list[MessageExt] = []
        await c.push(
            "s", "SqlG", "Filt", collector(sql), "n >= 7 AND TAGS = 'A'", ExpressionType.SQL92
        )
        await c.push("t", "TagG", "Filt", collector(tag), "B")
        await wait_for(lambda: len(sql) >= 2 and len(tag) >= 5)
        await sleep(0.3)
        self.assertEqual(sorted(int(x.properties_dict["n"]) for x in sql), [7, 9])
        self.assertEqual(len(tag), 5)

    async def test_retry_via_send_back(self) -> None:
        """A failed message comes back through %RETRY% with its real topic and a count of 1."""
        c = await self.setup()
        p = await c.producer()
        seen: list[MessageExt] = []

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeStatus:
            seen.extend(msgs)
            if msgs[0].reconsume_times == 0:
                return ConsumeStatus.RECONSUME_LATER
            return ConsumeStatus.CONSUME_SUCCESS

        r = await p.send(Message("Retry", b"again", tags="R"))
        await c.push("r", "RetryG", "Retry", listener)
        await wait_for(lambda: len(seen) >= 2, timeout=40)
        self.assertEqual(seen[1].topic, "Retry")
        self.assertEqual(seen[1].reconsume_times, 1)
        self.assertEqual(seen[1].body, b"again")
        self.assertEqual(seen[1].msg_id, r.msg_id)

    async def test_delay_message(self) -> None:
        """A delay-level message is delivered only after its delay."""
        c = await self.setup()
        p = await c.producer()
        got: list[MessageExt] = []
        await p.send(Message("Delay", b"now"))
        await c.push("d", "DelayG", "Delay", collector(got))
        await wait_for(lambda: len(got) >= 1)
        start = reactor.seconds()  # type: ignore[attr-defined]
        await p.send(Message("Delay", b"later", delay_level=2))
        await wait_for(lambda: len(got) >= 2, timeout=30)
        self.assertGreaterEqual(reactor.seconds() - start, 0.9)  # type: ignore[attr-defined]
        self.assertEqual(got[1].body, b"later")
        self.assertEqual(got[1].properties_dict.get(m.REAL_TOPIC), "Delay")

    async def test_orderly(self) -> None:
        """An orderly consumer sees each key's messages in send order, holding broker locks."""
        c = await self.setup()
        p = await c.producer()
        got: list[MessageExt] = []

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeOrderlyStatus:
            got.extend(msgs)
            return ConsumeOrderlyStatus.SUCCESS

        for i in range(30):
            await p.send(
                Message("Ord", f"{i % 3}:{i}".encode()), selector=select_by_hash, arg=i % 3
            )
        consumer = await c.push("o", "OrdG", "Ord", listener, orderly=True)
        await wait_for(lambda: len(got) >= 30)
        for key in range(3):
            seq = [int(x.body.split(b":")[1]) for x in got if x.body.startswith(f"{key}:".encode())]
            self.assertEqual(seq, sorted(seq))
        self.assertTrue(all(pq.locked for pq in consumer.process_queues.values()))

    async def test_broadcasting(self) -> None:
        """Two broadcasting members each get every message; offsets go to local files."""
        c = await self.setup()
        p = await c.producer()
        a: list[MessageExt] = []
        b: list[MessageExt] = []
        await p.send(Message("Bc", b"first"))
        ca = await c.push("ba", "BcG", "Bc", collector(a), message_model=MessageModel.BROADCASTING)
        await c.push("bb", "BcG", "Bc", collector(b), message_model=MessageModel.BROADCASTING)
        for i in range(8):
            await p.send(Message("Bc", str(i).encode()))
        await wait_for(lambda: len(a) >= 9 and len(b) >= 9)
        await ca.shutdown()
        path = os.path.join(c.tmp, "offsets", ca.instance.client_id, "BcG", "offsets.json")
        self.assertTrue(os.path.exists(path))

    async def test_transactions(self) -> None:
        """Commit shows, rollback does not, and an UNKNOW is resolved by the broker's check."""
        c = await self.setup()
        checked: list[MessageExt] = []

        class Listener:
            def execute_local_transaction(self, msg: Message, arg: Any) -> Any:
                return arg

            def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
                checked.append(msg)
                return LocalTransactionState.COMMIT_MESSAGE

        tp = TransactionProducer(reactor, ProducerConfig("TxG"), c.client_config("tx"), Listener())
        await tp.start()
        self.addCleanup(tp.shutdown)
        later: Deferred[LocalTransactionState] = Deferred()
        reactor.callLater(0.1, later.callback, LocalTransactionState.COMMIT_MESSAGE)  # type: ignore[attr-defined]
        await tp.send_in_transaction(Message("Tx", b"commit"), later)
        await tp.send_in_transaction(
            Message("Tx", b"rollback"), LocalTransactionState.ROLLBACK_MESSAGE
        )
        await tp.send_in_transaction(Message("Tx", b"check"), LocalTransactionState.UNKNOW)
        got: list[MessageExt] = []
        await c.push("txc", "TxCG", "Tx", collector(got))
        await wait_for(lambda: len(got) >= 2, timeout=40)
        await sleep(1.0)
        self.assertEqual(sorted(x.body for x in got), [b"check", b"commit"])
        self.assertEqual([x.body for x in checked][:1], [b"check"])

    async def test_pull_offsets_on_broker(self) -> None:
        """A pull consumer's offsets persist on the broker and read back."""
        c = await self.setup()
        p = await c.producer()
        await p.send_to_queue(Message("Off", b"x"), MessageQueue("Off", "broker-c", 0))
        pull = PullConsumer(reactor, "OffG", c.client_config("off"))
        await pull.start()
        self.addCleanup(pull.shutdown)
        # The send that created "Off" was answered after the name server took the topic.
        mq = (await pull.fetch_subscribe_queues("Off"))[0]
        self.assertEqual(await pull.max_offset(mq), 1)
        pull.update_offset(mq, 1)
        await pull.persist_offsets()
        pull.offsets.remove(mq)
        self.assertEqual(await pull.fetch_consume_offset(mq), 1)


class AddressServerTests(TestCase):
    timeout = 60

    async def test_name_servers_from_address_server(self) -> None:
        """With no name server configured, the client GETs them from an HTTP address server."""
        from twisted.web import resource, server

        c = ClientCluster()
        await c.start_cluster(self)
        root = resource.Resource()
        rocketmq = resource.Resource()
        root.putChild(b"rocketmq", rocketmq)
        hits: list[int] = []

        class NsAddr(resource.Resource):
            isLeaf = True

            def render_GET(self, request: Any) -> bytes:
                hits.append(1)
                return f"{c.ns.address}\n".encode()

        rocketmq.putChild(b"nsaddr", NsAddr())
        port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/rocketmq/nsaddr"
        cfg = ClientConfig(address_server_url=url, instance_name="addr")
        p = Producer(reactor, ProducerConfig("AddrPG"), cfg)
        await p.start()
        self.addCleanup(p.shutdown)
        self.assertEqual(p.instance.namesrv.addresses, [c.ns.address])
        r = await p.send(Message("AddrTopic", b"via address server"))
        self.assertEqual(r.status, SendStatus.SEND_OK)
        self.assertEqual(len(hits), 1)


class ResetOffsetTests(TestCase):
    timeout = 90

    async def test_broker_reset_reaches_consumer(self) -> None:
        """INVOKE_BROKER_TO_RESET_OFFSET makes a running consumer consume again from the start."""
        from rmq.admin.api import AdminAPI
        from rmq.remoting.client import RemotingClient

        c = ClientCluster()
        await c.start_cluster(self)
        p = await c.producer()
        for i in range(5):
            await p.send(Message("Reset", f"r{i}".encode()))
        got: list[MessageExt] = []
        consumer = await c.push("rs", "ResetG", "Reset", collector(got))
        await wait_for(lambda: len(got) >= 5)
        await consumer.persist_offsets()  # rather than waiting for the 5 s timer
        remoting = RemotingClient(reactor)
        self.addCleanup(remoting.close)
        admin = AdminAPI(remoting, [c.ns.address])
        await admin.reset_offset(c.broker.address, "Reset", "ResetG", 0, force=True)
        await wait_for(lambda: len(got) >= 10, timeout=30)
        self.assertEqual(sorted(x.body for x in got[5:]), [f"r{i}".encode() for i in range(5)])
