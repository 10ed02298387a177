"""UPDATE_BROKER_CONFIG changes survive a restart (brokerConfigPath) and apply at once."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import (
    BrokerConfig,
    broker_properties_path,
    load_broker_config,
    read_persisted_properties,
)
from rmq.common.errors import ConfigError
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.store.config import StoreConfig
from tests.broker.harness import FakeConnection, call, make_broker


def update(body: bytes) -> RemotingCommand:
    return RemotingCommand.request(RequestCode.UPDATE_BROKER_CONFIG, {}, body)


class PersistTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.conn = FakeConnection()
        self.root = self.broker.store_config.root_dir
        self.path = os.path.join(self.root, "config", "broker.properties")

    def test_update_writes_properties_file(self) -> None:
        """Accepted keys accumulate in <config dir>/broker.properties, written before the answer."""
        resp = call(self.broker, self.conn, update(b"autoCreateTopicEnable=false\n"))
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        resp = call(self.broker, self.conn, update(b"maxMessageSize=2048\n"))
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(text, "autoCreateTopicEnable=false\nmaxMessageSize=2048\n")

    def test_refused_update_writes_nothing(self) -> None:
        """A refused update leaves no persisted file behind."""
        resp = call(self.broker, self.conn, update(b"brokerPermission=abc\n"))
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertFalse(os.path.exists(self.path))

    def test_restart_loads_persisted_over_yaml(self) -> None:
        """At start: YAML < persisted changes < command-line overrides; location keys ignored."""
        call(self.broker, self.conn, update(b"defaultTopicQueueNums=3\nmaxMessageSize=2048\n"))
        call(self.broker, self.conn, update(b"namesrvAddr=10.0.0.1:9876\n"))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("storePathRootDir=/nowhere\n")
        yaml_path = os.path.abspath(self.mktemp())
        with open(yaml_path, "w", encoding="utf-8") as f:
            f.write(f"storePathRootDir: {self.root}\ndefaultTopicQueueNums: 5\nlistenPort: 1\n")
        broker, store = load_broker_config(yaml_path, {"namesrvAddr": "127.0.0.1:9"})
        self.assertEqual(broker.default_topic_queue_nums, 3)
        self.assertEqual(broker.listen_port, 1)
        self.assertEqual(broker.namesrv_addr, "127.0.0.1:9")
        self.assertEqual(store.max_message_size, 2048)
        self.assertEqual(store.root_dir, self.root)
        plain, _ = load_broker_config(yaml_path, persisted=False)
        self.assertEqual(plain.default_topic_queue_nums, 5)

    def test_runtime_wait_reaches_send_gate(self) -> None:
        """waitTimeMillsInSendQueue changed at runtime is what the send gate uses next."""
        gate = self.broker.send_gate  # type: ignore[attr-defined]
        self.assertEqual(gate.wait, 0.2)
        call(self.broker, self.conn, update(b"waitTimeMillsInSendQueue=900\n"))
        self.assertEqual(gate.wait, 0.9)
        call(self.broker, self.conn, update(b"sendThreadPoolQueueCapacity=7\n"))
        self.assertEqual(gate.capacity, 7)


class PathTests(SynchronousTestCase):
    def test_path_rules(self) -> None:
        """brokerConfigPath wins, then storePathConfig, then <storePathRootDir>/config."""
        store = StoreConfig.from_mapping({"storePathRootDir": "/r"})
        self.assertEqual(
            broker_properties_path(BrokerConfig(), store), "/r/config/broker.properties"
        )
        cfg = BrokerConfig(store_path_config="/c")
        self.assertEqual(broker_properties_path(cfg, store), "/c/broker.properties")
        cfg = BrokerConfig(store_path_config="/c", broker_config_path="/p/b.properties")
        self.assertEqual(broker_properties_path(cfg, store), "/p/b.properties")

    def test_bad_persisted_value_is_named(self) -> None:
        """A damaged persisted value stops start-up with an error naming the key and file."""
        root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(root, "config"))
        path = os.path.join(root, "config", "broker.properties")
        with open(path, "w", encoding="utf-8") as f:
            f.write("listenPort=abc\n")
        self.assertEqual(read_persisted_properties(path), {"listenPort": "abc"})
        with self.assertRaises(ConfigError) as cm:
            load_broker_config(None, {"storePathRootDir": root})
        self.assertIn("listenPort", cm.exception.remark)
        self.assertIn(path, cm.exception.remark)
