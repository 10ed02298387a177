"""Tests for rmq.common.fastjson: fastjson's dialect out, lenient reading in."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rmq.common import fastjson
from rmq.common.fastjson import ObjectKey
from tests.vectors import vectors_dir

_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.integers(-5, 1000), inner, max_size=4)
    ),
    max_leaves=12,
)


class DumpsTests(SynchronousTestCase):
    def test_int_keys_unquoted_by_default(self) -> None:
        """Integer map keys are written bare, as fastjson does."""
        self.assertEqual(fastjson.dumps({1: "b", 0: "a"}), '{0:"a",1:"b"}')

    def test_int_keys_quoted_when_standard(self) -> None:
        """standard=True quotes integer keys (BrowserCompatible)."""
        self.assertEqual(fastjson.dumps({1: "b", 0: "a"}, standard=True), '{"0":"a","1":"b"}')

    def test_keys_sorted(self) -> None:
        """String keys come out in alphabetical order like fastjson's bean fields."""
        self.assertEqual(fastjson.dumps({"b": 1, "a": [True, None]}), '{"a":[true,null],"b":1}')

    def test_int_keys_sorted_numerically(self) -> None:
        """Integer keys sort by value, not by text."""
        self.assertEqual(fastjson.dumps({10: 1, 2: 1}), "{2:1,10:1}")

    def test_non_ascii(self) -> None:
        """Default keeps UTF-8 text; standard escapes it."""
        self.assertEqual(fastjson.dumps("é"), '"é"')
        self.assertEqual(fastjson.dumps("é", standard=True), '"\\u00e9"')

    def test_object_keys(self) -> None:
        """Object keys are written as nested objects."""
        key = ObjectKey.of({"topic": "T", "queueId": 0})
        self.assertEqual(fastjson.dumps({key: 5}), '{{"queueId":0,"topic":"T"}:5}')

    def test_dumpb_is_utf8(self) -> None:
        """dumpb returns the UTF-8 bytes of dumps."""
        self.assertEqual(fastjson.dumpb({"k": "é"}), '{"k":"é"}'.encode())

    def test_unencodable(self) -> None:
        """Objects with no JSON form raise TypeError."""
        self.assertRaises(TypeError, fastjson.dumps, object())


class LoadsTests(SynchronousTestCase):
    def test_unquoted_int_keys(self) -> None:
        """Bare integer keys are read back as ints."""
        self.assertEqual(fastjson.loads('{0:"a",1:"b"}'), {0: "a", 1: "b"})

    def test_standard_json(self) -> None:
        """Standard JSON parses as with the stdlib."""
        self.assertEqual(fastjson.loads(b'{"0":"a","x":[1,2.5]}'), {"0": "a", "x": [1, 2.5]})

    def test_object_keys(self) -> None:
        """Object keys come back as ObjectKey."""
        value = fastjson.loads('{{"topic":"T","queueId":1}:{"n":-1}}')
        self.assertEqual(value, {ObjectKey.of({"queueId": 1, "topic": "T"}): {"n": -1}})

    def test_mixed_nested(self) -> None:
        """Unquoted keys deep inside standard structures, with whitespace and newline."""
        text = ' {"offsetTable" : {"T@g": {0 : 12, 1:34}}, "ok": true, "n": null}\n'
        self.assertEqual(
            fastjson.loads(text), {"offsetTable": {"T@g": {0: 12, 1: 34}}, "ok": True, "n": None}
        )

    def test_single_quotes_and_bare_words(self) -> None:
        """fastjson also accepts single-quoted strings and identifier keys."""
        self.assertEqual(fastjson.loads("{k: 'v', 1: 1e3}"), {"k": "v", 1: 1000.0})

    def test_rejects_garbage(self) -> None:
        """Malformed text raises JSONDecodeError."""
        for bad in ["{0:}", "{0:1", "[1,", "{0 1}", "{0:1} x", "", "{-:1}"]:
            self.assertRaises(fastjson.JSONDecodeError, fastjson.loads, bad)

    def test_route_vector(self) -> None:
        """The unquoted route body the C++ client accepted parses."""
        with open(
            vectors_dir() / "nameserver-route-response-unquoted-accepted-by-cpp.bin", "rb"
        ) as f:
            frame = f.read()
        header_len = int.from_bytes(frame[4:8], "big") & 0xFFFFFF
        body = frame[8 + header_len :]
        value = fastjson.loads(body)
        self.assertEqual(value["brokerDatas"][0]["brokerAddrs"], {0: "127.0.0.1:20911"})

    @given(_values)
    def test_round_trip(self, value: object) -> None:
        """Anything dumps writes, loads reads back equal (both key styles)."""
        self.assertEqual(fastjson.loads(fastjson.dumps(value)), value)
        standard = fastjson.dumps(value, standard=True)
        self.assertEqual(json.loads(standard), json.loads(json.dumps(value)))
