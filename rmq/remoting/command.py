"""RemotingCommand: the one message type that travels in every remoting frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rmq.remoting.codes import (
    CURRENT_VERSION,
    RPC_ONEWAY,
    RPC_TYPE_RESPONSE,
    LanguageCode,
    SerializeType,
)

_new = object.__new__


class RemotingCommand:
    """A request or response: header fields, extFields (all strings) and an optional body.

    The object is mutable and slotted: it is created once per frame on hot paths.
    """

    __slots__ = (
        "body",
        "code",
        "ext_fields",
        "flag",
        "language",
        "opaque",
        "remark",
        "serialize_type",
        "version",
    )

    def __init__(
        self,
        code: int,
        *,
        language: str = "JAVA",
        version: int = CURRENT_VERSION,
        opaque: int = 0,
        flag: int = 0,
        remark: str | None = None,
        ext_fields: dict[str, str] | None = None,
        body: bytes | None = None,
        serialize_type: int = SerializeType.JSON,
    ) -> None:
        self.code = code
        self.language = language
        self.version = version
        self.opaque = opaque
        self.flag = flag
        self.remark = remark
        self.ext_fields: dict[str, str] = ext_fields if ext_fields is not None else {}
        self.body = body
        self.serialize_type = serialize_type

    @classmethod
    def request(
        cls,
        code: int,
        ext_fields: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        oneway: bool = False,
        language: str = "JAVA",
    ) -> RemotingCommand:
        """A new request; the transport assigns the opaque when it is sent."""
        return cls(
            code,
            ext_fields=dict(ext_fields) if ext_fields else {},
            body=body,
            flag=RPC_ONEWAY if oneway else 0,
            language=language,
        )

    def make_response(
        self,
        code: int = 0,
        remark: str | None = None,
        ext_fields: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> RemotingCommand:
        """A response to this request: same opaque and serialize type, response flag set."""
        # Built without __init__'s keyword handling: one response per request is a hot path.
        resp: RemotingCommand = _new(RemotingCommand)
        resp.code = code
        resp.language = "JAVA"
        resp.version = CURRENT_VERSION
        resp.opaque = self.opaque
        resp.flag = RPC_TYPE_RESPONSE
        resp.remark = remark
        resp.ext_fields = ext_fields if ext_fields is not None else {}
        resp.body = body
        resp.serialize_type = self.serialize_type
        return resp

    @property
    def is_response(self) -> bool:
        return bool(self.flag & RPC_TYPE_RESPONSE)

    @property
    def is_oneway(self) -> bool:
        return bool(self.flag & RPC_ONEWAY)

    @property
    def language_code(self) -> int:
        """The LanguageCode ordinal of ``language`` (OTHER when unknown)."""
        try:
            return int(LanguageCode[self.language])
        except KeyError:
            return int(LanguageCode.OTHER)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemotingCommand):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = "None" if self.body is None else f"<{len(self.body)} bytes>"
        fields: dict[str, Any] = {
            "code": self.code,
            "opaque": self.opaque,
            "flag": self.flag,
            "remark": self.remark,
            "ext": self.ext_fields,
        }
        inner = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"RemotingCommand({inner}, body={body})"
