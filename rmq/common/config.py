"""Config plumbing shared by the name server, broker and store: YAML files and typed keys.

Each daemon's config is an attrs class whose fields are named after RocketMQ's keys; a
mapping of those keys (from YAML, broker.conf-style properties or an admin request) is
checked key by key, so an unknown key or a bad value is refused with a message naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import yaml

from rmq.common.errors import ConfigError

__all__ = [
    "convert_value",
    "format_properties",
    "load_yaml_mapping",
    "parse_config_values",
    "parse_properties",
]


def load_yaml_mapping(path: str, what: str) -> dict[str, Any]:
    """The top-level mapping of YAML file ``path`` ({} for an empty file)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {what} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: {what} must be a mapping of key: value")
    return {str(k): v for k, v in data.items()}


def convert_value(source: str, key: str, raw: Any, kind: type) -> Any:
    """A YAML scalar or properties string as ``kind`` (bool, int, float or str)."""
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("true", "false"):
                return text == "true"
            raise ValueError(raw)
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError(raw)
        if kind is int:
            return int(str(raw).strip())
        if kind is float:
            return float(str(raw).strip())
        return str(raw).strip()
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "text")
        raise ConfigError(f"{source}: key {key!r} must be {expected}, got {raw!r}") from None


def parse_config_values(
    cls: type,
    values: Mapping[str, Any],
    source: str,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Attribute name -> converted value for every entry of ``values``.

    ``names`` maps RocketMQ's key spellings to attribute names; attribute names are
    accepted as they are. Each value takes the type of its field's default.
    """
    fields = attrs.fields_dict(cls)
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        name = (names or {}).get(key) or (key if key in fields else None)
        if name is None:
            raise ConfigError(f"{source}: unknown key {key!r}")
        default = fields[name].default
        kind = str if isinstance(default, attrs.Factory) else type(default)  # type: ignore[arg-type]
        parsed[name] = convert_value(source, key, raw, kind)
    return parsed


def format_properties(props: Mapping[str, str]) -> str:
    """Java ``MixAll.properties2String``: one ``key=value`` line per entry, keys sorted."""
    return "".join(f"{k}={v}\n" for k, v in sorted(props.items()))


def parse_properties(text: str) -> dict[str, str]:
    """A small Java ``Properties.load``: ``key=value`` or ``key:value``, ``#``/``!`` comments."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            out[line] = ""
        else:
            out[line[:cut].strip()] = line[cut + 1 :].strip()
    return out
