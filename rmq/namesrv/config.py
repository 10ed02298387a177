"""Name-server configuration: YAML at start-up, Java properties text over the wire.

Keys are named as Apache RocketMQ's NamesrvConfig / NettyServerConfig properties so operators
recognise them. An unknown key or a bad value raises ``ConfigError`` naming it; twistd turns
that into a usage error and does not start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from rmq.common.config import load_yaml_mapping, parse_config_values, parse_properties
from rmq.common.errors import ConfigError, NoPermission

__all__ = ["NamesrvConfig", "load_config", "parse_properties"]

_DEFAULT_BLACKLIST = "configBlackList;configStorePath;kvConfigPath;rocketmqHome"


def _home() -> str:
    return os.path.expanduser("~")


@attrs.define
class NamesrvConfig:
    """Every setting of the name server; mutable because UPDATE_NAMESRV_CONFIG changes it."""

    listenPort: int = 9876
    bindAddress: str = "127.0.0.1"
    rocketmqHome: str = attrs.field(factory=lambda: os.environ.get("ROCKETMQ_HOME", ""))
    kvConfigPath: str = attrs.field(
        factory=lambda: os.path.join(_home(), "namesrv", "kvConfig.json")
    )
    configStorePath: str = attrs.field(
        factory=lambda: os.path.join(_home(), "namesrv", "namesrv.properties")
    )
    productEnvName: str = "center"
    clusterTest: bool = False
    orderMessageEnable: bool = False
    scanNotActiveBrokerInterval: int = 10_000
    """Milliseconds between two scans for silent brokers."""
    brokerChannelExpiredTime: int = 120_000
    """Milliseconds without registration after which a broker is dropped."""
    serverChannelMaxIdleTimeSeconds: int = 120
    configBlackList: str = _DEFAULT_BLACKLIST

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "config") -> NamesrvConfig:
        """Build from a mapping (YAML or properties); unknown keys and bad values raise."""
        config = cls()
        config.update(values, source)
        return config

    def update(self, values: Mapping[str, Any], source: str = "config") -> None:
        """Validate every entry first, then apply them all (all-or-nothing)."""
        parsed = parse_config_values(type(self), values, source)
        for key, value in parsed.items():
            _check(source, key, value)
        for key in ("kvConfigPath", "configStorePath"):
            if key in parsed:
                parsed[key] = os.path.expanduser(parsed[key])
        for key, value in parsed.items():
            setattr(self, key, value)

    def update_from_properties(self, text: str) -> None:
        """UPDATE_NAMESRV_CONFIG: refuse blacklisted keys (NO_PERMISSION), then update."""
        props = parse_properties(text)
        blacklist = {k.strip() for k in self.configBlackList.split(";") if k.strip()}
        blacklist |= set(_DEFAULT_BLACKLIST.split(";"))
        for key in props:
            if key in blacklist:
                raise NoPermission(f"Can not update config in black list: {key}")
        try:
            self.update(props, "UPDATE_NAMESRV_CONFIG")
        except ConfigError as exc:
            raise ConfigError(exc.remark, code=1) from exc

    def to_properties(self) -> str:
        """Java properties text of every setting (GET_NAMESRV_CONFIG)."""
        lines = []
        for key, value in sorted(attrs.asdict(self).items()):
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            lines.append(f"{key}={text}")
        return "\n".join(lines) + "\n"


def _check(source: str, key: str, value: Any) -> None:
    """Ranges the name server needs: a port number, other numbers positive."""
    if isinstance(value, bool) or not isinstance(value, int):
        return
    if key == "listenPort" and not 0 <= value <= 65535:
        raise ConfigError(f"{source}: key {key!r} must be a port number (0-65535), got {value}")
    if key != "listenPort" and value <= 0:
        raise ConfigError(f"{source}: key {key!r} must be a positive integer, got {value}")


def load_config(path: str | None) -> NamesrvConfig:
    """The configuration in YAML file ``path`` (defaults when None)."""
    if path is None:
        return NamesrvConfig()
    data = load_yaml_mapping(path, "name-server config")
    return NamesrvConfig.from_mapping(data, path)
