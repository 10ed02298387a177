"""One error tree for rmq; errors that travel on the wire carry their response code."""

from __future__ import annotations


class RMQError(Exception):
    """Root of every error rmq raises.

    ``code`` is the RocketMQ response code a server answers with when this error
    escapes a request processor (SYSTEM_ERROR unless a subclass says otherwise).
    """

    code: int = 1

    def __init__(self, remark: str = "", code: int | None = None) -> None:
        super().__init__(remark)
        self.remark = remark
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"CODE: {self.code} DESC: {self.remark}"


class ConfigError(RMQError):
    """A configuration file or option is invalid (unknown key, bad value)."""


# --- remoting ---------------------------------------------------------------


class RemotingError(RMQError):
    """Transport-level failure between two remoting peers."""


class FrameError(RemotingError):
    """A received frame is malformed; the connection it came on must be closed."""


class RemotingTimeoutError(RemotingError):
    """No response arrived for a request within its timeout."""


class RemotingConnectError(RemotingError):
    """A connection could not be made, or was lost while a request was pending."""


class RemotingSendError(RemotingError):
    """A request could not be written to its connection."""


class RequestCodeNotSupported(RMQError):
    """No processor is registered for a request code."""

    code = 3


class HeaderFieldError(RMQError):
    """A custom header field is missing or has a value of the wrong type."""

    def __init__(
        self, field: str, problem: str, code: int | None = None, name: str | None = None
    ) -> None:
        # ``name`` is the field's own name when the wire uses a short one (SEND_MESSAGE_V2).
        shown = f"'{field}' ({name})" if name and name != field else f"'{field}'"
        super().__init__(f"header field {shown} {problem}", code)
        self.field = field


class RemoteError(RMQError):
    """A peer answered a request with a non-success response code."""

    def __init__(self, code: int, remark: str = "") -> None:
        super().__init__(remark or "", code)


# --- server-side business errors (carry their wire code) --------------------


class SystemBusy(RMQError):
    code = 2


class MessageIllegal(RMQError):
    code = 13


class ServiceNotAvailable(RMQError):
    code = 14


class NoPermission(RMQError):
    code = 16


class TopicNotExist(RMQError):
    code = 17


class QueryNotFound(RMQError):
    code = 22


class SubscriptionParseFailed(RMQError):
    code = 23


class SubscriptionNotExist(RMQError):
    code = 24


class SubscriptionNotLatest(RMQError):
    code = 25


class SubscriptionGroupNotExist(RMQError):
    code = 26


# --- store -------------------------------------------------------------------


class StoreError(RMQError):
    """The message store failed an operation."""

    code = 14


class DiskFullError(StoreError):
    """The disk is full (or above its configured ratio); puts are refused."""


class MessageTooLarge(StoreError):
    code = 13


class CorruptRecordError(StoreError):
    """A stored record failed its size, magic code or CRC check."""


# --- client ------------------------------------------------------------------


class MQClientError(RMQError):
    """A client-side precondition failed (no route, bad argument, not started)."""


# --- bodies ------------------------------------------------------------------


class BodyError(RMQError):
    """A request or response body does not have the shape its code requires."""
