"""Fast helpers of rmq.common.message agree with their plain definitions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rmq.common import message as m

# property text built from separators and a few names, so edge cases are frequent
_piece = st.sampled_from(["TAGS", "KEYS", "UNIQ_KEY", "XTAGS", "a", "b c", "", "\x01", "\x02"])


def _java_hash(text: str) -> int:
    """Reference Java String.hashCode over UTF-16 code units, unsigned."""
    raw = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(raw), 2):
        h = (31 * h + ((raw[i] << 8) | raw[i + 1])) & 0xFFFFFFFF
    return h


class PropertyValueTests(SynchronousTestCase):
    """property_value is decode_properties(...).get without the dict."""

    @given(st.lists(_piece, max_size=12), st.sampled_from(["TAGS", "KEYS", "UNIQ_KEY", ""]))
    def test_matches_decode(self, pieces: list[str], name: str) -> None:
        """Any mix of names, separators and empty values gives the dict's answer."""
        text = "".join(pieces)
        self.assertEqual(m.property_value(text, name), m.decode_properties(text).get(name))

    def test_last_non_empty_wins(self) -> None:
        """A later empty value does not hide an earlier one; a later value replaces it."""
        self.assertEqual(m.property_value("TAGS\x01a\x02TAGS\x01", "TAGS"), "a")
        self.assertEqual(m.property_value("TAGS\x01a\x02TAGS\x01b", "TAGS"), "b")
        self.assertIsNone(m.property_value("XTAGS\x01a", "TAGS"))


class JavaHashTests(SynchronousTestCase):
    """java_hash32 against a plain loop, across the cached-powers limit."""

    @given(st.text(max_size=300))
    def test_matches_reference(self, text: str) -> None:
        """Unsigned Java hash of any text, ASCII or not, short or long."""
        self.assertEqual(m.java_hash32(text), _java_hash(text))

    def test_long_ascii(self) -> None:
        """ASCII text longer than the cached powers takes the loop."""
        text = "k" * 1000
        self.assertEqual(m.java_hash32(text), _java_hash(text))
