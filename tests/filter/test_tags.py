"""Tests for tag expressions and SubscriptionData's two heartbeat forms."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import BodyError, SubscriptionParseFailed
from rmq.common.message import tag_hash_code
from rmq.filter.tags import (
    SQL92,
    SUB_ALL,
    TAG,
    SubscriptionData,
    build_subscription,
    is_tag_type,
    parse_tags,
    tag_matches,
)
from tests.vectors import vectors_dir

VECTORS = vectors_dir()


def _heartbeat_subs(name: str) -> list[dict[str, object]]:
    frame = (VECTORS / name).read_bytes()
    header_len = int.from_bytes(frame[4:8], "big") & 0xFFFFFF
    body = json.loads(frame[8 + header_len :])
    subs: list[dict[str, object]] = body["consumerDataSet"][0]["subscriptionDataSet"]
    return subs


class ParseTagsTests(SynchronousTestCase):
    """FilterAPI's tag splitting."""

    def test_all(self) -> None:
        """None, empty and * subscribe to everything."""
        for text in (None, "", "*"):
            self.assertEqual(parse_tags(text), (SUB_ALL, (), ()))

    def test_split_and_trim(self) -> None:
        """Tags are split on ||, trimmed, empties dropped, hashed with String.hashCode."""
        text, tags, codes = parse_tags(" TagA ||TagB|| ||TagA")
        self.assertEqual(text, " TagA ||TagB|| ||TagA")
        self.assertEqual(tags, ("TagA", "TagB"))
        self.assertEqual(codes, (2598919, 2598920))

    def test_spaced_star_is_a_tag(self) -> None:
        """Only an exact * means all; ' * ' is the tag '*' (as in Java)."""
        self.assertEqual(parse_tags(" * ")[1], ("*",))

    @given(st.lists(st.text(alphabet="abcXYZ_09 ", min_size=1, max_size=6), max_size=5))
    def test_codes_are_hashes_of_tags(self, pieces: list[str]) -> None:
        """Each code is the Java hash of the tag at the same index."""
        _, tags, codes = parse_tags("||".join(pieces))
        self.assertEqual(codes, tuple(tag_hash_code(t) for t in tags))
        self.assertTrue(all(t == t.strip() and t for t in tags))


class BuildTests(SynchronousTestCase):
    """FilterAPI.build for TAG and SQL92."""

    def test_tag(self) -> None:
        """A TAG subscription carries tags and codes."""
        sub = build_subscription("T", "a||b", None, 7)
        self.assertEqual((sub.tags_set, sub.sub_version, sub.expression_type), (("a", "b"), 7, TAG))
        self.assertEqual(sub.code_set, frozenset({97, 98}))

    def test_sql92(self) -> None:
        """An SQL92 subscription keeps the text and has no tags."""
        sub = build_subscription("T", "a > 1", SQL92)
        self.assertEqual((sub.sub_string, sub.tags_set, sub.is_tag), ("a > 1", (), False))

    def test_sql92_needs_text(self) -> None:
        """An empty SQL92 expression is refused with code 23."""
        with self.assertRaises(SubscriptionParseFailed) as ctx:
            build_subscription("T", "", SQL92)
        self.assertEqual(ctx.exception.code, 23)

    def test_is_tag_type(self) -> None:
        """None, empty and TAG are tag types; SQL92 is not."""
        self.assertEqual([is_tag_type(t) for t in (None, "", TAG, SQL92)], [1, 1, 1, 0])


class JsonTests(SynchronousTestCase):
    """Heartbeat JSON in the C++ and Java forms."""

    def test_cpp_vector(self) -> None:
        """The C++ heartbeat's subscription (string subVersion, no tags) is read."""
        subs = [
            SubscriptionData.from_json(s)
            for s in _heartbeat_subs("cpp-heart_beat-consumer-request.bin")
        ]
        self.assertEqual([s.topic for s in subs], ["%RETRY%CapPushGroup", "CapTopic"])
        self.assertEqual(subs[1].sub_version, 1795628262624)
        self.assertTrue(subs[1].is_all)

    def test_alions_vector(self) -> None:
        """The Java-form heartbeat's tags, codes and numeric subVersion are kept."""
        (sub,) = [
            SubscriptionData.from_json(s) for s in _heartbeat_subs("alions-heart_beat-request.bin")
        ]
        self.assertEqual(sub.tags_set, ("TagA", "TagB"))
        self.assertEqual(sub.codes, (2598919, 2598920))
        self.assertEqual(sub.sub_version, 1795628279143)

    def test_cpp_tags_rebuilt(self) -> None:
        """Without tagsSet, tags and codes are rebuilt from subString."""
        sub = SubscriptionData.from_json({"topic": "T", "subString": "x || y", "subVersion": "1"})
        self.assertEqual(sub.tags_set, ("x", "y"))
        self.assertEqual(sub.code_set, frozenset({120, 121}))

    def test_round_trip_java_form(self) -> None:
        """to_json then from_json gives the same subscription."""
        sub = build_subscription("T", "a || b", None, 99)
        self.assertEqual(SubscriptionData.from_json(sub.to_json()), sub)
        sql = build_subscription("T", "a > 1", SQL92, 5)
        self.assertEqual(SubscriptionData.from_json(sql.to_json()), sql)

    def test_cpp_form(self) -> None:
        """The C++ form has only topic, subString and a string subVersion."""
        sub = build_subscription("T", "a", None, 12)
        self.assertEqual(
            sub.to_json(cpp=True), {"subString": "a", "subVersion": "12", "topic": "T"}
        )

    def test_bad_fields(self) -> None:
        """Missing topic or mistyped fields raise BodyError naming them."""
        for obj, needle in (
            ({"subString": "*"}, "topic"),
            ({"topic": "T", "subVersion": "x"}, "subVersion"),
            ({"topic": "T", "tagsSet": [1]}, "tagsSet"),
            ({"topic": "T", "tagsSet": ["a"], "codeSet": "no"}, "codeSet"),
        ):
            with self.assertRaises(BodyError) as ctx:
                SubscriptionData.from_json(obj)
            self.assertIn(needle, ctx.exception.remark)


class TagMatchesTests(SynchronousTestCase):
    """The tag-string double check."""

    def test_rules(self) -> None:
        """* and SQL92 keep all; a tag list keeps only its tags; no tag is dropped."""
        tags = build_subscription("T", "a || b")
        self.assertTrue(tag_matches(tags, "a"))
        self.assertFalse(tag_matches(tags, "c"))
        self.assertFalse(tag_matches(tags, None))
        self.assertTrue(tag_matches(build_subscription("T", "*"), None))
        self.assertTrue(tag_matches(build_subscription("T", "x = 1", SQL92), "zzz"))
        self.assertTrue(tag_matches(None, "zzz"))
