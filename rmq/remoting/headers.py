"""Typed custom headers: attrs classes that map to and from a command's extFields.

Wire names are the attribute names (the exact Java field names), or
``attrs.field(metadata={"wire": "a"})``. Decoding is lenient where Java is
(booleans accept ``true``/``false`` and the C++ client's ``1``/``0``), and strict
where Java would fail later with a NullPointerException: a missing required field
or a mistyped number raises ``HeaderFieldError`` naming the field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import attrs

from rmq.common.errors import HeaderFieldError

_STR, _INT, _BOOL = 0, 1, 2
_KINDS = {str: _STR, int: _INT, bool: _BOOL}

# (attribute name, wire name, kind, required)
_Plan = tuple[tuple[str, str, int, bool], ...]


def _kind_of(tp: Any) -> tuple[int, bool]:
    """(kind, optional) for a field annotation ``T`` or ``T | None``."""
    optional = False
    origin = typing.get_origin(tp)
    if origin is typing.Union or isinstance(tp, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) != len(typing.get_args(tp))
        if len(args) != 1:
            raise TypeError(f"unsupported header field type {tp!r}")
        tp = args[0]
    if tp not in _KINDS:
        raise TypeError(f"unsupported header field type {tp!r}")
    return _KINDS[tp], optional


def parse_bool(value: str) -> bool:
    """Java's ``Boolean.parseBoolean``, plus the C++ client's ``"1"``."""
    return value == "1" or value.lower() == "true"


def parse_int(field: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise HeaderFieldError(field, f"must be an integer, got {value!r}") from None


class CommandHeader:
    """Base of every typed custom header (subclasses are ``@attrs.define`` classes)."""

    _plan: ClassVar[_Plan | None] = None

    @classmethod
    def _get_plan(cls) -> _Plan:
        plan = cls.__dict__.get("_plan")
        if plan is None:
            hints = typing.get_type_hints(cls)
            rows = []
            for f in attrs.fields(cls):  # type: ignore[arg-type]
                kind, _optional = _kind_of(hints[f.name])
                wire = f.metadata.get("wire", f.name)
                rows.append((f.name, wire, kind, f.default is attrs.NOTHING))
            plan = tuple(rows)
            cls._plan = plan
        return plan

    @classmethod
    def from_ext(cls, ext: Mapping[str, str] | None) -> Self:
        """Decode from extFields; raise ``HeaderFieldError`` naming a bad field."""
        ext = ext or {}
        kwargs: dict[str, Any] = {}
        for name, wire, kind, required in cls._get_plan():
            raw = ext.get(wire)
            if raw is None:
                if required:
                    raise HeaderFieldError(wire, "is missing")
                continue
            if kind == _INT:
                kwargs[name] = parse_int(wire, raw)
            elif kind == _BOOL:
                kwargs[name] = parse_bool(raw)
            else:
                kwargs[name] = raw
        return cls(**kwargs)

    def to_ext(self) -> dict[str, str]:
        """Encode to extFields: None omitted, ints decimal, booleans ``true``/``false``."""
        out: dict[str, str] = {}
        for name, wire, kind, _required in self._get_plan():
            value = getattr(self, name)
            if value is None:
                continue
            if kind == _BOOL:
                out[wire] = "true" if value else "false"
            else:
                out[wire] = str(value)
        return out
