"""A small broker for feature tests: real store, managers and services on a Clock, no network."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from rmq.broker.clients import ConsumerManager, ProducerManager
from rmq.broker.config import BrokerConfig
from rmq.broker.offsets import ConsumerOffsetManager
from rmq.broker.persist import synchronous_runner
from rmq.broker.schedule import ScheduleMessageService
from rmq.broker.subgroups import SubscriptionGroupManager
from rmq.broker.topics import TopicConfigManager
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.store.message_store import MessageStore, MessageToStore
from tests.store.helpers import make_store


class FakeBroker:
    """The attributes processors read from a BrokerController, built from real parts."""

    def __init__(self, root: str, clock: Clock | None = None, **config: Any) -> None:
        self.root = root
        self.config = BrokerConfig.from_mapping(
            {"brokerName": "broker-a", "autoCreateTopicEnable": "true", **config}
        )
        self.store, self.clock = make_store(root, clock)
        self.store_config = self.store.config
        self.store_host = ("127.0.0.1", 10911)
        self.address = "127.0.0.1:10911"
        cdir = os.path.join(root, "config")
        os.makedirs(cdir, exist_ok=True)
        self.config_dir = cdir
        run = synchronous_runner
        self.topics = TopicConfigManager(
            os.path.join(cdir, "topics.json"), self.config, self.clock, run
        )
        self.subgroups = SubscriptionGroupManager(
            os.path.join(cdir, "subscriptionGroup.json"), self.config, self.clock, run
        )
        self.offsets = ConsumerOffsetManager(os.path.join(cdir, "consumerOffset.json"), run)
        self.producers = ProducerManager(self.clock, self.config)
        self.consumers = ConsumerManager(self.clock, self.config)
        self.schedule: ScheduleMessageService | None = ScheduleMessageService(
            self.store,
            self.clock,
            self.config.message_delay_level,
            os.path.join(cdir, "delayOffset.json"),
            run,
        )
        self.transactions: Any = None
        self.dispatcher = Dispatcher()

    def config_path(self, name: str) -> str:
        return os.path.join(self.config_dir, name)

    def run_in_thread(self, fn: Any, *args: Any) -> Deferred[Any]:
        return succeed(fn(*args))

    def put(self, msg: MessageToStore) -> Any:
        """Store a message directly; return the PutResult."""
        d = self.store.put_message(msg)
        results: list[Any] = []
        d.addCallback(results.append)
        return results[0]

    def close(self) -> None:
        if self.schedule is not None and self.schedule._running:
            self.schedule.stop()
        if self.store._running:
            self.store.shutdown()


class RecordingConnection:
    """A stand-in remoting connection that records what the broker sends to the client."""

    def __init__(self, peer: str = "127.0.0.1:40000") -> None:
        self.peer = peer
        self.local_address = "127.0.0.1:10911"
        self.oneway: list[RemotingCommand] = []
        self.invoked: list[RemotingCommand] = []
        self.responses: list[RemotingCommand] = []
        self.closed = False

    def invoke_oneway(self, cmd: RemotingCommand) -> Deferred[None]:
        self.oneway.append(cmd)
        return succeed(None)

    def invoke(self, cmd: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
        self.invoked.append(cmd)
        return succeed(cmd.make_response(0))

    def send_response(self, cmd: RemotingCommand) -> None:
        self.responses.append(cmd)

    def close(self) -> None:
        self.closed = True


def stored(
    topic: str = "T", qid: int = 0, body: bytes = b"hello", props: str = ""
) -> MessageToStore:
    """A message as the send path would build it."""
    return MessageToStore(
        topic=topic,
        queue_id=qid,
        body=body,
        properties=props,
        born_timestamp=1_700_000_000_000,
        born_host=("10.0.0.2", 5555),
    )


__all__ = ["FakeBroker", "MessageStore", "RecordingConnection", "stored"]
