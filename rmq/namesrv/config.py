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
import yaml

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
        fields = attrs.fields_dict(type(self))
        parsed: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in fields:
                raise ConfigError(f"{source}: unknown key '{key}'")
            parsed[key] = _coerce(key, fields[key].type, raw, source)
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


def _coerce(key: str, tp: Any, raw: Any, source: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: key '{key}' must be {expected}, got {raw!r}")

    if tp in (bool, "bool"):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise bad("true or false")
    if tp in (int, "int"):
        if isinstance(raw, bool):
            raise bad("an integer")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str):
            try:
                value = int(raw.strip())
            except ValueError:
                raise bad("an integer") from None
        else:
            raise bad("an integer")
        if key == "listenPort" and not 0 <= value <= 65535:
            raise bad("a port number (0-65535)")
        if key != "listenPort" and value <= 0:
            raise bad("a positive integer")
        return value
    if not isinstance(raw, str):
        raise bad("a string")
    if key in ("kvConfigPath", "configStorePath"):
        return os.path.expanduser(raw)
    return raw


def load_config(path: str | None) -> NamesrvConfig:
    """The configuration in YAML file ``path`` (defaults when None)."""
    if path is None:
        return NamesrvConfig()
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: top level must be a mapping of key: value")
    return NamesrvConfig.from_mapping({str(k): v for k, v in data.items()}, path)


def parse_properties(text: str) -> dict[str, str]:
    """Parse simple Java properties text: ``key=value`` lines, ``#``/``!`` comments."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            props[line] = ""
        else:
            props[line[:cut].strip()] = line[cut + 1 :].strip()
    return props
