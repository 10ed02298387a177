"""A broker stand-in for processor tests: real managers and store on a temp dir, Clock time."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock

from rmq.broker.clients import ConsumerManager, ProducerManager
from rmq.broker.config import BrokerConfig
from rmq.broker.offsets import ConsumerOffsetManager
from rmq.broker.subgroups import SubscriptionGroupManager
from rmq.broker.topics import TopicConfigManager
from rmq.common.message import encode_properties
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.store.config import StoreConfig
from rmq.store.message_store import MessageStore, MessageToStore

SMALL_STORE = {
    "mappedFileSizeCommitLog": 64 * 1024,
    "mappedFileSizeConsumeQueue": 20 * 100,
    "maxHashSlotNum": 101,
    "maxIndexNum": 400,
    "maxMessageSize": 16 * 1024,
}


def inline_runner(work: Callable[[], None], *args: Any) -> Deferred[Any]:
    """Run disk work at once (deterministic tests)."""
    return maybeDeferred(work, *args)


class FakeConnection:
    """Collects the responses the dispatcher sends on it."""

    def __init__(self, peer: str = "127.0.0.1:5555") -> None:
        self.peer = peer
        self.sent: list[RemotingCommand] = []

    def send_response(self, cmd: RemotingCommand) -> None:
        self.sent.append(cmd)


class FakeBroker:
    """The attributes processors read from BrokerController, backed by real components."""

    def __init__(self, root: str, **store_overrides: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.config = BrokerConfig(broker_name="broker-a", namesrv_addr="")
        self.store_config = StoreConfig.from_mapping(
            {**SMALL_STORE, "storePathRootDir": root, **store_overrides}
        )
        self.store = MessageStore(
            self.store_config,
            self.clock,
            store_host=("127.0.0.1", 10911),
            runner=inline_runner,
            disk_usage=lambda _p: 0.1,
        )
        self.store.start()
        self.registration = None
        cfg_dir = os.path.join(root, "config")
        self.topics = TopicConfigManager(
            os.path.join(cfg_dir, "topics.json"), self.config, self.clock, inline_runner
        )
        self.subgroups = SubscriptionGroupManager(
            os.path.join(cfg_dir, "subscriptionGroup.json"), self.config, self.clock, inline_runner
        )
        self.offsets = ConsumerOffsetManager(
            os.path.join(cfg_dir, "consumerOffset.json"), inline_runner
        )
        self.producers = ProducerManager(self.clock, self.config)
        self.consumers = ConsumerManager(self.clock, self.config)
        self.schedule: Any = None
        self.address = "127.0.0.1:10911"
        self.store_host = ("127.0.0.1", 10911)
        self.dispatcher = Dispatcher()

    def run_in_thread(self, work: Callable[[], None]) -> Deferred[None]:
        """BrokerController.run_in_thread, run at once."""
        return inline_runner(work)

    def runtime_info(self) -> dict[str, str]:
        info = {"brokerVersionDesc": "V4_9_8", "brokerVersion": "409"}
        info.update(self.store.runtime_info())
        return info

    def put(self, topic: str, queue_id: int, body: bytes, **props: str) -> Any:
        """Store one message synchronously; returns the PutResult."""
        msg = MessageToStore(
            topic,
            queue_id,
            body,
            properties=encode_properties(props),
            born_timestamp=int(self.clock.seconds() * 1000),
            store_host=self.store_host,
        )
        return self.store.put_message(msg).result

    def stop(self) -> None:
        self.store.shutdown()
