"""A broker on a task.Clock with a real store in a temp dir, and a fake connection to drive it."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from twisted.internet import task

from rmq.broker.config import BrokerConfig
from rmq.broker.controller import BrokerController
from rmq.broker.persist import synchronous_runner
from rmq.remoting.codec import decode_frame
from rmq.remoting.command import RemotingCommand
from rmq.store.config import StoreConfig
from tests.vectors import read_vector


class FakeConnection:
    """Stands in for a RemotingConnection: records responses and oneway requests."""

    def __init__(self, peer: str = "127.0.0.1:40000") -> None:
        self.peer = peer
        self.local_address = "127.0.0.1:10911"
        self.connected = True
        self.attributes: dict[str, Any] = {}
        self.responses: list[RemotingCommand] = []
        self.oneways: list[RemotingCommand] = []

    @property
    def connection(self) -> FakeConnection:
        return self

    def send_response(self, cmd: RemotingCommand) -> None:
        self.responses.append(cmd)

    def invoke_oneway(self, cmd: RemotingCommand) -> Any:
        from twisted.internet.defer import succeed

        self.oneways.append(cmd)
        return succeed(None)

    def close(self) -> None:
        self.connected = False


def small_store_config(root: str) -> StoreConfig:
    """A store under ``root`` with tiny, not preallocated files (tests write little)."""
    return StoreConfig.from_mapping(
        {
            "storePathRootDir": root,
            "mappedFileSizeCommitLog": 1024 * 1024,
            "mappedFileSizeConsumeQueue": 20 * 1000,
            "maxHashSlotNum": 1000,
            "maxIndexNum": 4000,
            "preallocateMappedFiles": False,
        }
    )


def make_broker(testcase: Any, **overrides: Any) -> BrokerController:
    """A built broker (store started, processors registered) on a fresh Clock."""
    root = tempfile.mkdtemp(prefix="rmq-broker-test-")
    testcase.addCleanup(shutil.rmtree, root, True)
    store = small_store_config(root)
    values: dict[str, Any] = {"brokerName": "broker-a", "brokerIP1": "127.0.0.1"}
    values.update(overrides)
    config = BrokerConfig.from_mapping(values)
    clock = task.Clock()
    broker = BrokerController(config, store, clock, runner=synchronous_runner)
    broker.build()
    broker.store.start()
    broker.longpoll.start()
    testcase.addCleanup(lambda: broker.store.shutdown())
    return broker


def vector_command(name: str) -> RemotingCommand:
    """Decode a captured frame from the shared vectors."""
    raw = read_vector(name)
    return decode_frame(raw[4:])


def call(broker: BrokerController, conn: FakeConnection, cmd: RemotingCommand) -> RemotingCommand:
    """Dispatch a request and return the (single) response written for it."""
    before = len(conn.responses)
    broker.dispatcher.dispatch(conn, cmd)  # type: ignore[arg-type]
    assert len(conn.responses) == before + 1, f"expected a response, got {conn.responses[before:]}"
    return conn.responses[-1]
