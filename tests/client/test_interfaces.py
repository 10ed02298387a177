"""The client's real classes and test fakes provide the zope interfaces they stand for."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.exceptions import Invalid
from zope.interface.interface import InterfaceClass
from zope.interface.verify import verifyClass, verifyObject

from rmq.client import ITransactionListener
from rmq.client.consumer.pull import PullConsumer
from rmq.client.consumer.push import PushConsumer, PushConsumerConfig
from rmq.client.interfaces import IConsumerInner, IOffsetStore, IProducerInner
from rmq.client.model import ConsumeStatus, LocalTransactionState, Message, MessageModel
from rmq.client.offset_store import LocalFileOffsetStore, RemoteBrokerOffsetStore, sync_runner
from rmq.client.producer import Producer, ProducerConfig
from rmq.client.transaction import TransactionProducer
from rmq.common.message import MessageExt
from rmq.remoting.interfaces import IRemotingConnection
from tests.client.fakes import FakeCluster, FakeConnection
from tests.client.helpers import make_instance, pump


@implementer(ITransactionListener)
class CommitAll:
    """A listener declaring the interface: commits every transaction."""

    def execute_local_transaction(self, msg: Message, arg: Any) -> LocalTransactionState:
        return LocalTransactionState.COMMIT_MESSAGE

    def check_local_transaction(self, msg: MessageExt) -> Deferred[LocalTransactionState]:
        return succeed(LocalTransactionState.COMMIT_MESSAGE)


class ClientInterfaceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock, brokers=1, queues=2)
        self.cluster.ensure_topic("T")
        self.inst, self.remoting = make_instance(self.clock, self.cluster)

    def assertProvides(self, iface: InterfaceClass, obj: object) -> None:
        """verifyObject raises on a missing or mis-shaped member; also check the declaration."""
        self.assertTrue(verifyObject(iface, obj))
        self.assertTrue(iface.providedBy(obj))

    def push(self, model: MessageModel) -> PushConsumer:
        config = PushConsumerConfig("CG", message_model=model, offsets_dir=self.mktemp())
        c = PushConsumer(self.clock, config, self.inst, runner=sync_runner)
        c.subscribe("T", "*")
        c.register_listener(lambda msgs, ctx: ConsumeStatus.CONSUME_SUCCESS)
        d = c.start()
        pump(self.clock)
        self.successResultOf(d)
        return c

    def test_producer(self) -> None:
        """A started Producer provides IProducerInner."""
        p = Producer(self.clock, ProducerConfig("PG"), self.inst)
        self.successResultOf(p.start())
        self.assertProvides(IProducerInner, p)

    def test_transaction_producer(self) -> None:
        """A TransactionProducer provides IProducerInner (inherited from Producer)."""
        p = TransactionProducer(self.clock, ProducerConfig("TG"), self.inst, CommitAll())
        self.successResultOf(p.start())
        self.assertProvides(IProducerInner, p)

    def test_push_consumer_clustering(self) -> None:
        """A clustering PushConsumer provides IConsumerInner; its broker store IOffsetStore."""
        c = self.push(MessageModel.CLUSTERING)
        self.assertProvides(IConsumerInner, c)
        self.assertIsInstance(c.offsets, RemoteBrokerOffsetStore)
        self.assertProvides(IOffsetStore, c.offsets)

    def test_push_consumer_broadcasting(self) -> None:
        """A broadcasting PushConsumer keeps offsets in a LocalFileOffsetStore (IOffsetStore)."""
        c = self.push(MessageModel.BROADCASTING)
        self.assertProvides(IConsumerInner, c)
        self.assertIsInstance(c.offsets, LocalFileOffsetStore)
        self.assertProvides(IOffsetStore, c.offsets)

    def test_pull_consumer(self) -> None:
        """A started PullConsumer provides IConsumerInner; its offsets IOffsetStore."""
        c = PullConsumer(self.clock, "PCG", self.inst)
        self.successResultOf(c.start())
        self.assertProvides(IConsumerInner, c)
        self.assertProvides(IOffsetStore, c.offsets)

    def test_offset_store_classes(self) -> None:
        """Both offset store classes declare and fully implement IOffsetStore."""
        for cls in (RemoteBrokerOffsetStore, LocalFileOffsetStore):
            self.assertTrue(verifyClass(IOffsetStore, cls))
            self.assertTrue(IOffsetStore.implementedBy(cls))

    def test_transaction_listener(self) -> None:
        """A listener class may declare ITransactionListener and is checked like any provider."""
        self.assertProvides(ITransactionListener, CommitAll())

    def test_fake_connection(self) -> None:
        """The fake broker channel used for broker->client requests provides IRemotingConnection."""
        conn = FakeConnection("127.0.0.1:10911")
        self.assertProvides(IRemotingConnection, conn)
        conn.close()
        self.assertFalse(conn.connected)

    def test_undeclared_object_is_rejected(self) -> None:
        """An object lacking the methods fails verification (the checks above can fail)."""
        self.assertRaises(Invalid, verifyObject, IConsumerInner, object())
