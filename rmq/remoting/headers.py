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
from collections.abc import Callable, Mapping
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


def parse_int(field: str, value: str, name: str | None = None) -> int:
    try:
        return int(value)
    except ValueError:
        raise HeaderFieldError(field, f"must be an integer, got {value!r}", name=name) from None


class CommandHeader:
    """Base of every typed custom header (subclasses are ``@attrs.define`` classes)."""

    _plan: ClassVar[_Plan | None] = None
    _decoder: ClassVar[Callable[[Mapping[str, str]], Any] | None] = None

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
    def _get_decoder(cls) -> Callable[[Mapping[str, str]], Any]:
        """A decoder generated once per class: straight-line code, no per-field loop.

        Headers are decoded for every request (send, pull ...), so this is a hot path.
        """
        decoder = cls.__dict__.get("_decoder")
        if decoder is None:
            decoder = _compile_decoder(cls, cls._get_plan())
            cls._decoder = decoder
        return decoder

    @classmethod
    def from_ext(cls, ext: Mapping[str, str] | None) -> Self:
        """Decode from extFields; raise ``HeaderFieldError`` naming a bad field."""
        result: Self = cls._get_decoder()(ext or {})
        return result

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


def _compile_decoder(cls: type, plan: _Plan) -> Callable[[Mapping[str, str]], Any]:
    """Generate ``decode(ext)`` for one header class from its plan (names are identifiers)."""
    lines = ["def decode(ext):", "    get = ext.get", "    kw = {}"]
    for name, wire, kind, required in plan:
        # Short wire names (SEND_MESSAGE_V2's a..n) are reported with the field's own name.
        lines.append(f"    v = get({wire!r})")
        if required:
            lines.append(
                f"    if v is None: raise HeaderFieldError({wire!r}, 'is missing', name={name!r})"
            )
            indent = "    "
        else:
            lines.append("    if v is not None:")
            indent = "        "
        if kind == _INT:
            lines.append(f"{indent}try: kw[{name!r}] = int(v)")
            lines.append(
                f"{indent}except ValueError: kw[{name!r}] = parse_int({wire!r}, v, {name!r})"
            )
        elif kind == _BOOL:
            lines.append(f"{indent}kw[{name!r}] = v == '1' or v.lower() == 'true'")
        else:
            lines.append(f"{indent}kw[{name!r}] = v")
    lines.append("    return cls(**kw)")
    namespace: dict[str, Any] = {
        "cls": cls,
        "HeaderFieldError": HeaderFieldError,
        "parse_int": parse_int,
    }
    exec("\n".join(lines), namespace)  # the code is built from attrs field names only
    decode: Callable[[Mapping[str, str]], Any] = namespace["decode"]
    return decode
