"""Send flow control takes waitTimeMillsInSendQueue and sendThreadPoolQueueCapacity from config."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import BrokerConfig, load_broker_config
from tests.broker.harness import make_broker


class FlowControlConfigTests(SynchronousTestCase):
    def test_defaults_are_rocketmq_values(self) -> None:
        """Without the keys the gate waits 200 ms and queues up to 10000 sends."""
        config = BrokerConfig()
        self.assertEqual(config.wait_time_mills_in_send_queue, 200)
        self.assertEqual(config.send_thread_pool_queue_capacity, 10_000)
        gate = make_broker(self).send_gate  # type: ignore[attr-defined]
        self.assertEqual((gate.wait, gate.capacity), (0.2, 10_000))

    def test_yaml_keys_reach_the_send_gate(self) -> None:
        """The broker.conf names in a YAML file set the gate's wait and queue capacity."""
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("waitTimeMillsInSendQueue: 750\nsendThreadPoolQueueCapacity: 3\n")
        config, _ = load_broker_config(path)
        self.assertEqual(config.wait_time_mills_in_send_queue, 750)
        self.assertEqual(config.send_thread_pool_queue_capacity, 3)
        self.assertEqual(config.to_properties()["waitTimeMillsInSendQueue"], "750")
        broker = make_broker(self, waitTimeMillsInSendQueue=750, sendThreadPoolQueueCapacity=3)
        gate = broker.send_gate  # type: ignore[attr-defined]
        self.assertEqual((gate.wait, gate.capacity), (0.75, 3))
