"""Transactional messages: the message becomes visible only if the local transaction commits.

    python examples/transactional.py --namesrv 127.0.0.1:9876 --topic TxDemo

``execute_local_transaction`` runs after the half message is stored (it may return a Deferred);
``check_local_transaction`` answers the broker when it asks about an undecided transaction.
"""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet import defer, task

from rmq.client import (
    ClientConfig,
    LocalTransactionState,
    Message,
    MessageExt,
    ProducerConfig,
    TransactionProducer,
)


class Orders:
    """A stand-in for the application's database."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.committed: set[str] = set()

    def execute_local_transaction(self, msg: Message, order_id: Any) -> Any:
        # Pretend to write to a database asynchronously; odd orders fail and roll back.
        if int(order_id) % 2:
            return LocalTransactionState.ROLLBACK_MESSAGE
        self.committed.add(str(order_id))
        return task.deferLater(self.reactor, 0.05, lambda: LocalTransactionState.COMMIT_MESSAGE)

    def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        order = msg.properties_dict.get("order", "")
        if order in self.committed:
            return LocalTransactionState.COMMIT_MESSAGE
        return LocalTransactionState.ROLLBACK_MESSAGE


async def main(reactor: Any, args: argparse.Namespace) -> None:
    producer = TransactionProducer(
        reactor, ProducerConfig("TxProducers"), ClientConfig(args.namesrv), Orders(reactor)
    )
    await producer.start()
    for order_id in range(4):
        msg = Message(args.topic, f"order {order_id}".encode(), properties={"order": str(order_id)})
        result = await producer.send_in_transaction(msg, order_id)
        print(f"order {order_id}: {result.state.name} ({result.send_result.msg_id})")
    await producer.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", default="127.0.0.1:9876")
    parser.add_argument("--topic", default="TxDemo")
    options = parser.parse_args()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, options)))
