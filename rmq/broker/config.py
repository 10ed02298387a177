"""Broker configuration: Apache RocketMQ broker.conf keys with their 4.9.x defaults.

Attributes are snake_case; YAML files and overrides use the camelCase broker.conf names.
Keys that belong to the message store go to :class:`StoreConfig`; any other unknown key or a
value of the wrong type raises ``ConfigError`` naming it, so start-up stops with a clear message.

Settings changed at runtime by UPDATE_BROKER_CONFIG are kept in a properties file
(``brokerConfigPath``, default ``<config dir>/broker.properties``) and applied at start on top
of the YAML file; command-line overrides still win, as in RocketMQ's BrokerStartup.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

import attrs

from rmq.common.config import load_yaml_mapping, parse_config_values, parse_properties
from rmq.common.errors import ConfigError
from rmq.store.config import StoreConfig

__all__ = [
    "LOCATION_KEYS",
    "BrokerConfig",
    "broker_properties_path",
    "load_broker_config",
    "read_persisted_properties",
    "split_config",
]

LOCATION_KEYS = frozenset({"brokerConfigPath", "storePathConfig", "storePathRootDir"})
"""Keys that locate the persisted properties file; ignored when read from that file."""


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
    broker_fast_failure_enable: bool = True
    """Answer sends SYSTEM_BUSY at once while the reactor lags past the send-queue wait."""
    send_thread_pool_queue_capacity: int = 10_000
    """Sends that may wait in the send queue; beyond it they are refused at once."""
    message_delay_level: str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
    rocketmq_home: str = ""
    store_path_config: str = ""
    """Directory of topics.json etc.; empty means ``<storePathRootDir>/config``."""
    broker_config_path: str = ""
    """Properties file of runtime config changes; empty means ``<config dir>/broker.properties``."""

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
        """Parse and validate a changed copy first, then apply every entry (all or nothing).

        A value of the right type but out of range (brokerPermission=9) must leave the live
        config untouched, so validation runs on the copy before anything is set here.
        """
        parsed = parse_config_values(type(self), values, source, self.camel_names())
        attrs.evolve(self, **parsed).validate()
        for name, value in parsed.items():
            setattr(self, name, value)

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


def broker_properties_path(broker: BrokerConfig, store: StoreConfig) -> str:
    """Where UPDATE_BROKER_CONFIG changes are persisted (``brokerConfigPath``)."""
    if broker.broker_config_path:
        return os.path.expanduser(broker.broker_config_path)
    if broker.store_path_config:
        config_dir = os.path.expanduser(broker.store_path_config)
    else:
        config_dir = os.path.join(store.root_dir, "config")
    return os.path.join(config_dir, "broker.properties")


def read_persisted_properties(path: str) -> dict[str, str]:
    """The persisted runtime changes (file or its .bak); {} when there are none."""
    from rmq.broker.persist import read_config_file

    try:
        raw = read_config_file(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read persisted broker config: {exc}") from exc
    if raw is None:
        return {}
    try:
        return parse_properties(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: persisted broker config is not UTF-8") from exc


def _build(values: Mapping[str, Any], source: str) -> tuple[BrokerConfig, StoreConfig]:
    broker_values, store_values = split_config(values)
    return BrokerConfig.from_mapping(broker_values, source), StoreConfig.from_mapping(store_values)


def load_broker_config(
    yaml_path: str | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    persisted: bool = True,
) -> tuple[BrokerConfig, StoreConfig]:
    """Build both configs: YAML file < persisted runtime changes < ``overrides``.

    The persisted file is found from the YAML and overrides alone, so its own location keys
    (:data:`LOCATION_KEYS`) are ignored; ``persisted=False`` skips it altogether.
    """
    from_yaml = load_yaml_mapping(yaml_path, "broker config") if yaml_path else {}
    source = yaml_path or "config"
    broker, store = _build(from_yaml | dict(overrides or {}), source)
    if not persisted:
        return broker, store
    path = broker_properties_path(broker, store)
    stored = {k: v for k, v in read_persisted_properties(path).items() if k not in LOCATION_KEYS}
    if not stored:
        return broker, store
    return _build(from_yaml | stored | dict(overrides or {}), f"{source} + {path}")
