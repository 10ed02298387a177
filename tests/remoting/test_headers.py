"""Typed custom headers: decoding, encoding and field errors."""

from __future__ import annotations

import attrs
from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import HeaderFieldError
from rmq.remoting.headers import CommandHeader


@attrs.define
class _Header(CommandHeader):
    topic: str
    queueId: int
    unitMode: bool = False
    maxReconsumeTimes: int | None = None
    group: str | None = attrs.field(default=None, metadata={"wire": "a"})


class HeaderTests(SynchronousTestCase):
    def test_decode(self) -> None:
        """Fields decode to their declared types, using wire names."""
        h = _Header.from_ext({"topic": "T", "queueId": "3", "unitMode": "true", "a": "G"})
        self.assertEqual(h, _Header("T", 3, True, None, "G"))

    def test_cpp_booleans(self) -> None:
        """The C++ client's '1'/'0' booleans are understood."""
        self.assertTrue(_Header.from_ext({"topic": "T", "queueId": "1", "unitMode": "1"}).unitMode)
        self.assertFalse(_Header.from_ext({"topic": "T", "queueId": "1", "unitMode": "0"}).unitMode)

    def test_encode(self) -> None:
        """Encoding omits None and writes booleans as true/false."""
        self.assertEqual(
            _Header("T", 2, False, 16).to_ext(),
            {"topic": "T", "queueId": "2", "unitMode": "false", "maxReconsumeTimes": "16"},
        )

    def test_missing_required(self) -> None:
        """A missing required field raises an error naming it."""
        with self.assertRaises(HeaderFieldError) as cm:
            _Header.from_ext({"queueId": "1"})
        self.assertEqual(cm.exception.field, "topic")
        self.assertIn("'topic' is missing", cm.exception.remark)

    def test_mistyped(self) -> None:
        """A non-integer for an int field raises an error naming it and the value."""
        with self.assertRaises(HeaderFieldError) as cm:
            _Header.from_ext({"topic": "T", "queueId": "x1"})
        self.assertEqual(cm.exception.field, "queueId")
        self.assertIn("'x1'", cm.exception.remark)
        self.assertEqual(cm.exception.code, 1)


class ShortWireNameTests(SynchronousTestCase):
    def test_short_wire_name_error_names_the_field(self) -> None:
        """SEND_MESSAGE_V2's one-letter fields are reported with their Java names too."""
        from rmq.headers import SendMessageRequestHeaderV2

        ext = {"a": "g", "b": "t", "c": "TBW102", "d": "4", "e": "abc", "f": "0", "g": "0"}
        ext["h"] = "0"
        with self.assertRaises(HeaderFieldError) as cm:
            SendMessageRequestHeaderV2.from_ext(ext)
        self.assertEqual(cm.exception.field, "e")
        self.assertIn("'e' (queueId) must be an integer, got 'abc'", cm.exception.remark)
