"""Broker configuration: Apache RocketMQ broker.conf keys with their 4.9.x defaults.

Attributes are snake_case; YAML files and overrides use the camelCase broker.conf names.
Keys that belong to the message store go to :class:`StoreConfig`; any other unknown key or a
value of the wrong type raises ``ConfigError`` naming it, so start-up stops with a clear message.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import attrs

from rmq.common.config import load_yaml_mapping, parse_config_values
from rmq.common.errors import ConfigError
from rmq.store.config import StoreConfig

__all__ = ["BrokerConfig", "load_broker_config", "split_config"]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _hostname() -> str:
    return socket.gethostname() or "broker-a"


@attrs.define
class BrokerConfig:
    """Every broker (non-store) setting; mutable because UPDATE_BROKER_CONFIG changes it."""

    broker_cluster_name: str = "DefaultCluster"
    broker_name: str = attrs.field(factory=_hostname)
    broker_id: int = 0
    namesrv_addr: str = ""
    """Name servers, ``;``-separated ``host:port`` list."""
    listen_port: int = 10911
    broker_ip1: str = "127.0.0.1"
    broker_ip2: str = "127.0.0.1"
    ha_listen_port: int = 10912
    broker_permission: int = 6
    default_topic_queue_nums: int = 8
    auto_create_topic_enable: bool = True
    auto_create_subscription_group: bool = True
    cluster_topic_enable: bool = True
    broker_topic_enable: bool = True
    trace_topic_enable: bool = False
    msg_trace_topic_name: str = "RMQ_SYS_TRACE_TOPIC"
    long_polling_enable: bool = True
    short_polling_time_mills: int = 1000
    notify_consumer_ids_changed_enable: bool = True
    slave_read_enable: bool = False
    enable_property_filter: bool = False
    filter_support_retry: bool = False
    register_name_server_period: int = 30_000
    register_broker_timeout_mills: int = 6000
    force_register: bool = True
    compressed_register: bool = False
    flush_consumer_offset_interval: int = 5000
    region_id: str = "DefaultRegion"
    trace_on: bool = True
    acl_enable: bool = False
    reject_transaction_message: bool = False
    transaction_time_out: int = 6000
    transaction_check_max: int = 15
    transaction_check_interval: int = 60_000
    channel_expired_timeout: int = 120_000
    """Milliseconds without heartbeat after which a client channel is dropped."""
    client_channel_scan_interval: int = 10_000
    server_channel_max_idle_time_seconds: int = 120
    max_delay_time: int = 40
    wait_time_mills_in_send_queue: int = 200
    """A send that waited longer than this in the send queue is answered SYSTEM_BUSY."""
    send_thread_pool_queue_capacity: int = 10_000
    """Sends that may wait in the send queue; beyond it they are refused at once."""
    message_delay_level: str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
    rocketmq_home: str = ""
    store_path_config: str = ""
    """Directory of topics.json etc.; empty means ``<storePathRootDir>/config``."""

    @classmethod
    def camel_names(cls) -> dict[str, str]:
        """broker.conf camelCase key -> attribute name (brokerIP1 keeps its capitals)."""
        names = {_camel(a.name): a.name for a in attrs.fields(cls)}
        names["brokerIP1"] = names.pop("brokerIp1")
        names["brokerIP2"] = names.pop("brokerIp2")
        return names

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "config") -> BrokerConfig:
        """Build from camelCase keys; ConfigError names a bad key or value."""
        config = cls()
        config.update(values, source)
        return config

    def update(self, values: Mapping[str, Any], source: str = "config") -> None:
        """Validate every entry, then apply them all (all-or-nothing)."""
        parsed = parse_config_values(type(self), values, source, self.camel_names())
        for name, value in parsed.items():
            setattr(self, name, value)
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for values the broker cannot run with."""
        if self.broker_permission not in range(8):
            raise ConfigError("brokerPermission must be within 0..7")
        if self.default_topic_queue_nums <= 0:
            raise ConfigError("defaultTopicQueueNums must be positive")
        if not 0 <= self.listen_port <= 65535:
            raise ConfigError("listenPort must be within 0..65535")
        if self.broker_id < 0:
            raise ConfigError("brokerId must not be negative")

    @property
    def namesrv_list(self) -> list[str]:
        """The name-server addresses, in configured order."""
        return [a.strip() for a in self.namesrv_addr.split(";") if a.strip()]

    @property
    def register_period(self) -> float:
        """Seconds between registrations, clamped to [10, 60] like RocketMQ."""
        return min(max(self.register_name_server_period, 10_000), 60_000) / 1000.0

    def to_properties(self) -> dict[str, str]:
        """camelCase key -> string value (GET_BROKER_CONFIG)."""
        out: dict[str, str] = {}
        for key, name in self.camel_names().items():
            value = getattr(self, name)
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return out


def split_config(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split camelCase keys into (broker keys, store keys); unknown keys stay with the broker."""
    store_keys = set(StoreConfig.camel_names())
    broker: dict[str, Any] = {}
    store: dict[str, Any] = {}
    for key, value in values.items():
        (store if key in store_keys else broker)[key] = value
    return broker, store


def load_broker_config(
    yaml_path: str | None, overrides: Mapping[str, Any] | None = None
) -> tuple[BrokerConfig, StoreConfig]:
    """Read the YAML file (if any), apply overrides, and build both configs."""
    values: dict[str, Any] = load_yaml_mapping(yaml_path, "broker config") if yaml_path else {}
    values.update(overrides or {})
    broker_values, store_values = split_config(values)
    source = yaml_path or "config"
    broker = BrokerConfig.from_mapping(broker_values, source)
    store = StoreConfig.from_mapping(store_values)
    return broker, store
