"""The remoting frame codec (REFERENCE §1.2-§1.4), declared with construct.

Frame: ``int32 length | int32 (serializeType << 24 | headerLength) | header | body``.
The layouts are declared once with construct; the binary (ROCKETMQ) header uses the
compiled construct parser. The 8-byte frame prefix is read with a precompiled
``struct.Struct`` on the hot path (it is the same layout as ``FRAME_PREFIX``; a test
checks they agree), because a construct call per frame costs more than the whole
JSON header parse.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson
from construct import (
    GreedyRange,
    Int8ub,
    Int16sb,
    Int16ub,
    Int32sb,
    Int32ub,
    PascalString,
    Prefixed,
    Struct,
)

from rmq.common.errors import FrameError
from rmq.remoting.codes import LanguageCode, SerializeType
from rmq.remoting.command import RemotingCommand

DEFAULT_MAX_FRAME = 16 * 1024 * 1024

#: The frame prefix: total length (excluding itself) and the header-length word.
FRAME_PREFIX = Struct("length" / Int32ub, "header_word" / Int32ub)

#: The ROCKETMQ binary header (REFERENCE §1.4).
BINARY_HEADER = Struct(
    "code" / Int16sb,
    "language" / Int8ub,
    "version" / Int16sb,
    "opaque" / Int32sb,
    "flag" / Int32sb,
    "remark" / PascalString(Int32ub, "utf8"),
    "ext_fields"
    / Prefixed(
        Int32ub,
        GreedyRange(
            Struct("key" / PascalString(Int16ub, "utf8"), "value" / PascalString(Int32ub, "utf8"))
        ),
    ),
)
_BINARY_HEADER_C = BINARY_HEADER.compile()

_PREFIX = struct.Struct(">II")
_LENGTH = struct.Struct(">I")
_LANG_NAMES = {int(v): v.name for v in LanguageCode}
_dumps = orjson.dumps
_loads = orjson.loads
_new = object.__new__
_JSON = int(SerializeType.JSON)


def _ext_value(value: Any) -> str | None:
    """Normalise one extFields value: clients send strings, numbers and booleans."""
    if isinstance(value, str):
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return _dumps(value).decode("utf-8")


def _decode_json_header(raw: bytes | memoryview, body: bytes | None) -> RemotingCommand:
    try:
        h = _loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise FrameError(f"JSON header does not parse: {e}") from e
    if type(h) is not dict:
        raise FrameError("JSON header is not an object")
    get = h.get
    code = get("code")
    if type(code) is not int:
        raise FrameError("JSON header has no integer 'code'")
    lang = get("language", "JAVA")
    if type(lang) is not str:
        lang = _LANG_NAMES.get(lang, "OTHER") if type(lang) is int else "OTHER"
    ext_raw = get("extFields")
    if ext_raw is None:
        ext: dict[str, str] = {}
    elif type(ext_raw) is dict:
        ext = ext_raw
        for v in ext_raw.values():
            if type(v) is not str:
                ext = _normalise_ext(ext_raw)
                break
    else:
        raise FrameError("JSON header 'extFields' is not an object")
    remark = get("remark")
    version = get("version", 0)
    opaque = get("opaque", 0)
    flag = get("flag", 0)
    if type(version) is not int or type(opaque) is not int or type(flag) is not int:
        try:
            version, opaque, flag = int(version or 0), int(opaque or 0), int(flag or 0)
        except (TypeError, ValueError) as e:
            raise FrameError(f"JSON header has a non-integer field: {e}") from e
    cmd: RemotingCommand = _new(RemotingCommand)
    cmd.code = code
    cmd.language = lang
    cmd.version = version
    cmd.opaque = opaque
    cmd.flag = flag
    cmd.remark = remark if type(remark) is str else None
    cmd.ext_fields = ext
    cmd.body = body
    cmd.serialize_type = _JSON
    return cmd


def _normalise_ext(ext_raw: dict[str, Any]) -> dict[str, str]:
    ext: dict[str, str] = {}
    for k, v in ext_raw.items():
        sv = v if type(v) is str else _ext_value(v)
        if sv is not None:
            ext[k] = sv
    return ext


def _decode_binary_header(raw: bytes | memoryview, body: bytes | None) -> RemotingCommand:
    try:
        h = _BINARY_HEADER_C.parse(bytes(raw))
    except Exception as e:  # construct raises many error types
        raise FrameError(f"ROCKETMQ header does not parse: {e}") from e
    # Java decodes zero-length keys and values as null and skips them.
    ext = {e.key: e.value for e in h.ext_fields if e.key and e.value}
    return RemotingCommand(
        h.code,
        language=_LANG_NAMES.get(h.language, "OTHER"),
        version=h.version,
        opaque=h.opaque,
        flag=h.flag,
        remark=h.remark or None,
        ext_fields=ext,
        body=body,
        serialize_type=SerializeType.ROCKETMQ,
    )


def decode_frame(frame: bytes | memoryview) -> RemotingCommand:
    """Decode one frame given without its 4-byte length prefix."""
    n = len(frame)
    if n < 4:
        raise FrameError(f"frame of {n} bytes is shorter than its header-length word")
    (word,) = _LENGTH.unpack_from(frame, 0)
    stype = word >> 24
    hlen = word & 0xFFFFFF
    if hlen > n - 4:
        raise FrameError(f"header length {hlen} exceeds the frame ({n - 4} bytes after the word)")
    header = frame[4 : 4 + hlen]
    body = bytes(frame[4 + hlen :]) if n > 4 + hlen else None
    if stype == SerializeType.JSON:
        return _decode_json_header(header, body)
    if stype == SerializeType.ROCKETMQ:
        return _decode_binary_header(header, body)
    raise FrameError(f"unknown serialize type {stype}")


def encode_header(cmd: RemotingCommand) -> bytes:
    """The header bytes of ``cmd`` in its serialize type."""
    if cmd.serialize_type == SerializeType.ROCKETMQ:
        built: bytes = _BINARY_HEADER_C.build(
            {
                "code": cmd.code,
                "language": cmd.language_code,
                "version": cmd.version,
                "opaque": cmd.opaque,
                "flag": cmd.flag,
                "remark": cmd.remark or "",
                "ext_fields": [
                    {"key": k, "value": v} for k, v in cmd.ext_fields.items() if k and v is not None
                ],
            }
        )
        return built
    # Keys in fastjson's alphabetical order; null remark/extFields omitted as Java does.
    remark = cmd.remark
    if remark is None:
        if cmd.ext_fields:
            h: dict[str, Any] = {
                "code": cmd.code,
                "extFields": cmd.ext_fields,
                "flag": cmd.flag,
                "language": cmd.language,
                "opaque": cmd.opaque,
                "serializeTypeCurrentRPC": "JSON",
                "version": cmd.version,
            }
        else:
            h = {
                "code": cmd.code,
                "flag": cmd.flag,
                "language": cmd.language,
                "opaque": cmd.opaque,
                "serializeTypeCurrentRPC": "JSON",
                "version": cmd.version,
            }
    else:
        h = {"code": cmd.code}
        if cmd.ext_fields:
            h["extFields"] = cmd.ext_fields
        h["flag"] = cmd.flag
        h["language"] = cmd.language
        h["opaque"] = cmd.opaque
        h["remark"] = remark
        h["serializeTypeCurrentRPC"] = "JSON"
        h["version"] = cmd.version
    return _dumps(h)


def encode(cmd: RemotingCommand) -> bytes:
    """The whole frame for ``cmd``, length prefix included."""
    header = encode_header(cmd)
    body = cmd.body
    hlen = len(header)
    if body:
        prefix = _PREFIX.pack(4 + hlen + len(body), (cmd.serialize_type << 24) | hlen)
        return b"".join((prefix, header, body))
    return _PREFIX.pack(4 + hlen, (cmd.serialize_type << 24) | hlen) + header


class FrameDecoder:
    """Incremental frame splitter: feed bytes, get whole commands.

    An oversized or malformed frame sets ``error`` (a ``FrameError``): the frames
    before it are still returned, and nothing after it is decoded, since the
    stream cannot be resynchronised. The caller closes the connection.
    """

    __slots__ = ("_buf", "error", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self.max_frame = max_frame
        self.error: FrameError | None = None

    def feed(self, data: bytes) -> list[RemotingCommand]:
        out: list[RemotingCommand] = []
        if self.error is not None:
            return out
        buf = self._buf
        buf += data
        pos = 0
        end = len(buf)
        unpack = _LENGTH.unpack_from
        max_frame = self.max_frame
        view = memoryview(buf)
        try:
            while end - pos >= 4:
                (length,) = unpack(buf, pos)
                if length + 4 > max_frame:
                    raise FrameError(f"frame of {length + 4} bytes exceeds the maximum {max_frame}")
                if end - pos - 4 < length:
                    break
                word = unpack(buf, pos + 4)[0] if length >= 4 else -1
                hlen = word & 0xFFFFFF
                if word >> 24 == _JSON and hlen <= length - 4:
                    # The common case inline (decode_frame's checks, without the call).
                    start = pos + 8
                    stop = pos + 4 + length
                    body = bytes(buf[start + hlen : stop]) if start + hlen < stop else None
                    out.append(_decode_json_header(view[start : start + hlen], body))
                else:
                    out.append(decode_frame(view[pos + 4 : pos + 4 + length]))
                pos += 4 + length
        except FrameError as e:
            # Drop the traceback: it holds slices of the buffer.
            self.error = e.with_traceback(None)
        finally:
            view.release()
        if self.error is not None:
            self._buf = bytearray()
        elif pos:
            del buf[:pos]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)
