"""rmq's client library: Deferred-based producers and consumers speaking RocketMQ 4.x remoting.

Works against rmq's broker and Apache RocketMQ 4.x brokers (requests say language JAVA,
version 409 = V4_9_8). Every call takes the reactor explicitly and returns a Deferred::

    config = ClientConfig(namesrv_addr="127.0.0.1:9876")
    producer = Producer(reactor, ProducerConfig("my-group"), config)
    await producer.start()
    result = await producer.send(Message("Topic", b"body", tags="TagA", keys="order-1"))

    consumer = PushConsumer(reactor, PushConsumerConfig("my-consumers"), config)
    consumer.subscribe("Topic", "TagA || TagB")          # or SQL92 with ExpressionType.SQL92
    consumer.register_listener(lambda msgs, ctx: ConsumeStatus.CONSUME_SUCCESS)
    await consumer.start()

From asyncio, see :mod:`rmq.client.aio`. Examples live in ``examples/``.
"""

from rmq.client import aio
from rmq.client.config import ClientConfig
from rmq.client.consumer.pull import PullConsumer
from rmq.client.consumer.push import ConsumeContext, PushConsumer, PushConsumerConfig
from rmq.client.instance import MQClientInstance
from rmq.client.interfaces import ITransactionListener
from rmq.client.model import (
    ConsumeFromWhere,
    ConsumeOrderlyStatus,
    ConsumeStatus,
    ExpressionType,
    LocalTransactionState,
    Message,
    MessageModel,
    MessageQueue,
    PullResult,
    PullStatus,
    SendResult,
    SendStatus,
)
from rmq.client.producer import Producer, ProducerConfig, select_by_hash, select_random
from rmq.client.rebalance import (
    allocate_averagely,
    allocate_by_circle,
    allocate_consistent_hash,
    consistent_hash,
)
from rmq.client.transaction import (
    TransactionListener,
    TransactionProducer,
    TransactionSendResult,
)
from rmq.common.message import MessageExt

__all__ = [
    "ClientConfig",
    "ConsumeContext",
    "ConsumeFromWhere",
    "ConsumeOrderlyStatus",
    "ConsumeStatus",
    "ExpressionType",
    "ITransactionListener",
    "LocalTransactionState",
    "MQClientInstance",
    "Message",
    "MessageExt",
    "MessageModel",
    "MessageQueue",
    "Producer",
    "ProducerConfig",
    "PullConsumer",
    "PullResult",
    "PullStatus",
    "PushConsumer",
    "PushConsumerConfig",
    "SendResult",
    "SendStatus",
    "TransactionListener",
    "TransactionProducer",
    "TransactionSendResult",
    "aio",
    "allocate_averagely",
    "allocate_by_circle",
    "allocate_consistent_hash",
    "consistent_hash",
    "select_by_hash",
    "select_random",
]
