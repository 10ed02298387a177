"""fastjson-flavoured JSON: what Java RocketMQ writes, and a lenient reader for it.

Java's fastjson writes bean fields in alphabetical order, non-string map keys unquoted
(``{0:"addr"}``) and object map keys as nested objects (``{{"topic":"T"}:1}``). Neither form is
valid JSON, yet Java tools and older clients expect them (REFERENCE §4.1). ``dumps`` emits them;
``standard=True`` gives the BrowserCompatible variant (keys quoted, non-ASCII escaped) that
4.9.4+ clients ask for. ``loads`` accepts both, plus anything the stdlib accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import attrs

__all__ = ["JSONDecodeError", "ObjectKey", "Value", "dumpb", "dumps", "loads"]

Value: TypeAlias = Any
"""A decoded value: dict, list, str, int, float, bool or None (dict keys: str, int, ObjectKey)."""

JSONDecodeError = json.JSONDecodeError

_enc_ascii = json.encoder.encode_basestring_ascii
_enc_utf = json.encoder.encode_basestring
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]


@attrs.frozen
class ObjectKey:
    """A map key that is itself a JSON object (e.g. a MessageQueue); hashable, order-free."""

    items: tuple[tuple[str, Value], ...]

    @classmethod
    def of(cls, mapping: Mapping[str, Value]) -> ObjectKey:
        """Build a key from a mapping of field name to scalar value."""
        return cls(tuple(sorted(mapping.items())))

    def as_dict(self) -> dict[str, Value]:
        """The key's fields as a plain dict."""
        return dict(self.items)


# --- encoder -------------------------------------------------------------------


def dumps(value: Value, *, standard: bool = False) -> str:
    """Encode like fastjson: sorted keys, unquoted int keys unless ``standard``.

    ``standard`` mirrors fastjson's BrowserCompatible + MapSortField: every key is a quoted
    string and non-ASCII text is ``\\uXXXX``-escaped. Object keys stay objects either way
    (fastjson has no string form for them).
    """
    out: list[str] = []
    _emit(value, out, standard)
    return "".join(out)


def dumpb(value: Value, *, standard: bool = False) -> bytes:
    """``dumps`` encoded to UTF-8 bytes, ready to be a frame body."""
    return dumps(value, standard=standard).encode("utf-8")


def _key_order(key: object) -> tuple[int, Any]:
    if isinstance(key, bool):
        return (1, str(key).lower())
    if isinstance(key, int):
        return (0, key)
    if isinstance(key, ObjectKey):
        return (2, dumps(key.as_dict()))
    return (1, str(key))


def _emit(value: Value, out: list[str], standard: bool) -> None:
    enc = _enc_ascii if standard else _enc_utf
    if isinstance(value, str):
        out.append(enc(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(repr(value))
    elif isinstance(value, Mapping):
        _emit_map(value, out, standard, enc)
    elif isinstance(value, list | tuple | set | frozenset):
        items: Iterable[Value] = (
            sorted(value, key=_key_order) if isinstance(value, set | frozenset) else value
        )
        out.append("[")
        first = True
        for item in items:
            if not first:
                out.append(",")
            first = False
            _emit(item, out, standard)
        out.append("]")
    elif isinstance(value, ObjectKey):
        _emit(value.as_dict(), out, standard)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _emit_map(value: Mapping[Any, Value], out: list[str], standard: bool, enc: Any) -> None:
    out.append("{")
    first = True
    for key in sorted(value, key=_key_order):
        if not first:
            out.append(",")
        first = False
        if isinstance(key, str):
            out.append(enc(key))
        elif isinstance(key, bool):
            out.append(f'"{str(key).lower()}"' if standard else str(key).lower())
        elif isinstance(key, int):
            out.append(f'"{key}"' if standard else str(key))
        elif isinstance(key, ObjectKey):
            _emit(key.as_dict(), out, standard)
        else:
            raise TypeError(f"cannot encode map key of type {type(key).__name__}")
        out.append(":")
        _emit(value[key], out, standard)
    out.append("}")


# --- lenient decoder -------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_BARE_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def loads(text: str | bytes) -> Value:
    """Decode standard JSON or fastjson output (unquoted or object map keys).

    Unquoted integer keys come back as ``int``, object keys as ``ObjectKey``, quoted keys as
    ``str``. Unquoted identifier keys and single-quoted strings are accepted too, as fastjson
    does. Raises ``JSONDecodeError`` on anything else.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    parser = _Parser(text)
    value = parser.value()
    parser.skip_ws()
    if parser.pos != len(text):
        raise JSONDecodeError("extra data", text, parser.pos)
    return value


def load_object(data: bytes | str | None, what: str) -> Mapping[Any, Value]:
    """A request body that must be one JSON object; BodyError (code 1) naming ``what``."""
    from rmq.common.errors import BodyError

    if not data:
        raise BodyError(f"{what} has no body")
    try:
        value = loads(data)
    except (JSONDecodeError, UnicodeDecodeError) as exc:
        raise BodyError(f"{what} body is not JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise BodyError(f"{what} body must be a JSON object")
    return value


class _Parser:
    """Recursive-descent reader for the fastjson dialect; only used when json.loads fails."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        match = _WS.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()

    def fail(self, msg: str) -> JSONDecodeError:
        return JSONDecodeError(msg, self.text, self.pos)

    def value(self) -> Value:
        self.skip_ws()
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.fail("unexpected end of input")
        ch = text[pos]
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.array()
        if ch in "\"'":
            return self.string()
        for word, val in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, pos):
                self.pos = pos + len(word)
                return val
        match = _NUMBER.match(text, pos)
        if match is None:
            raise self.fail("expected a value")
        self.pos = match.end()
        if match.group(1) or match.group(2):
            return float(match.group(0))
        return int(match.group(0))

    def string(self) -> str:
        quote = self.text[self.pos]
        if quote == '"':
            value, self.pos = _scanstring(self.text, self.pos + 1, True)
            return str(value)
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise self.fail("unterminated string")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def key(self) -> Any:
        self.skip_ws()
        text, pos = self.text, self.pos
        ch = text[pos : pos + 1]
        if ch in ('"', "'"):
            return self.string()
        if ch == "{":
            obj = self.obj()
            return ObjectKey.of(obj)
        match = _NUMBER.match(text, pos)
        if match is not None and not (match.group(1) or match.group(2)):
            self.pos = match.end()
            return int(match.group(0))
        match = _BARE_KEY.match(text, pos)
        if match is not None:
            self.pos = match.end()
            return match.group(0)
        raise self.fail("expected a map key")

    def obj(self) -> dict[Any, Value]:
        self.pos += 1
        result: dict[Any, Value] = {}
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] == "}":
            self.pos += 1
            return result
        while True:
            key = self.key()
            self.skip_ws()
            if self.text[self.pos : self.pos + 1] != ":":
                raise self.fail("expected ':'")
            self.pos += 1
            result[key] = self.value()
            self.skip_ws()
            ch = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == "}":
                return result
            if ch != ",":
                self.pos -= 1
                raise self.fail("expected ',' or '}'")

    def array(self) -> list[Value]:
        self.pos += 1
        result: list[Value] = []
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] == "]":
            self.pos += 1
            return result
        while True:
            result.append(self.value())
            self.skip_ws()
            ch = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == "]":
                return result
            if ch != ",":
                self.pos -= 1
                raise self.fail("expected ',' or ']'")
