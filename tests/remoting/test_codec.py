"""Codec tests: golden vectors, round trips (hypothesis) and malformed frames."""

from __future__ import annotations

import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import FrameError
from rmq.remoting import codec
from rmq.remoting.codes import LanguageCode, SerializeType
from rmq.remoting.command import RemotingCommand
from tests.vectors import read_vector, vector_names


def _split(frame: bytes) -> tuple[int, bytes, bytes]:
    (length, word) = struct.unpack_from(">II", frame)
    hlen = word & 0xFFFFFF
    return word >> 24, frame[8 : 8 + hlen], frame[8 + hlen : 4 + length]


class GoldenVectorTests(SynchronousTestCase):
    def test_every_vector_decodes_whole(self) -> None:
        """Every captured frame decodes to exactly one command with nothing left over."""
        names = vector_names()
        self.assertGreater(len(names), 50)
        for name in names:
            dec = codec.FrameDecoder()
            cmds = dec.feed(read_vector(name))
            self.assertEqual(len(cmds), 1, name)
            self.assertEqual(dec.buffered, 0, name)
            # Every file named "...-request.bin" is a request; all others are responses.
            self.assertEqual(cmds[0].is_response, not name.endswith("-request.bin"), name)

    def test_requests_reencode_equivalently(self) -> None:
        """Each client request re-encodes to a frame that decodes to the same command."""
        for name in vector_names():
            if not name.startswith(("cpp-", "alions-")) or "response" in name:
                continue
            raw = read_vector(name)
            cmd = codec.decode_frame(raw[4:])
            again = codec.decode_frame(codec.encode(cmd)[4:])
            self.assertEqual(again, cmd, name)
            stype, header, body = _split(raw)
            self.assertEqual(stype, 0, name)
            self.assertEqual(cmd.body or b"", body, name)
            # Same header content (the vectors' key order and types differ from ours).
            original = json.loads(header)
            self.assertEqual(original["code"], cmd.code)
            self.assertEqual(original["opaque"], cmd.opaque)

    def test_cpp_header_newline_counted_in_length(self) -> None:
        """The C++ client's header ends with a newline that counts in headerLen."""
        raw = read_vector("cpp-get_routeinfo_by_topic-request.bin")
        _, header, _ = _split(raw)
        self.assertTrue(header.endswith(b"\n"))
        cmd = codec.decode_frame(raw[4:])
        self.assertEqual(cmd.ext_fields["topic"], "CapTopic")
        self.assertEqual(cmd.language, "CPP")
        self.assertEqual(cmd.version, 63)

    def test_mixed_ext_field_types_become_strings(self) -> None:
        """ali-ons sends numbers and booleans in extFields; they decode as strings."""
        cmd = codec.decode_frame(read_vector("alions-send_message_v2-request.bin")[4:])
        self.assertEqual(cmd.code, 310)
        self.assertEqual(
            cmd.ext_fields["e"],
            str(
                json.loads(_split(read_vector("alions-send_message_v2-request.bin"))[1])[
                    "extFields"
                ]["e"]
            ),
        )
        self.assertEqual(cmd.ext_fields["k"], "false")
        self.assertTrue(all(isinstance(v, str) for v in cmd.ext_fields.values()))

    def test_oneway_sent_without_bit(self) -> None:
        """The C++ 'oneway' send arrives with flag 0, i.e. as a two-way request."""
        cmd = codec.decode_frame(read_vector("cpp-send_message-oneway-request.bin")[4:])
        self.assertFalse(cmd.is_oneway)
        self.assertFalse(cmd.is_response)

    def test_binary_header_vector(self) -> None:
        """The ROCKETMQ-serialized route response decodes with the binary layout."""
        cmd = codec.decode_frame(
            read_vector("nameserver-route-response-rocketmq-serialized-rejected-by-cpp.bin")[4:]
        )
        self.assertEqual(cmd.serialize_type, SerializeType.ROCKETMQ)
        self.assertTrue(cmd.is_response)
        self.assertIn(b"brokerDatas", cmd.body or b"")

    def test_response_shape_matches_accepted(self) -> None:
        """Our responses use a JSON header, string extFields and the keys clients read."""
        req = codec.decode_frame(read_vector("cpp-send_message-request.bin")[4:])
        resp = req.make_response(
            0,
            None,
            {"msgId": "7F00000100002A9F0000000000000000", "queueId": "1", "queueOffset": "5"},
        )
        frame = codec.encode(resp)
        stype, header, _ = _split(frame)
        self.assertEqual(stype, 0)
        h = json.loads(header)
        accepted = json.loads(
            _split(read_vector("broker-send_message-response-accepted-by-cpp.bin"))[1]
        )
        self.assertLessEqual({"code", "flag", "language", "opaque", "version"}, set(h))
        self.assertEqual(h["flag"], accepted["flag"])
        self.assertEqual(h["opaque"], req.opaque)
        self.assertTrue(all(isinstance(v, str) for v in h["extFields"].values()))


class ExampleFrameTests(SynchronousTestCase):
    def test_reference_json_example(self) -> None:
        """The REFERENCE §1.3 example header encodes to 123 bytes with the right prefix."""
        cmd = RemotingCommand(105, ext_fields={"topic": "T"}, opaque=0)
        frame = codec.encode(cmd)
        self.assertEqual(frame[:8], bytes.fromhex("0000007f0000007b"))
        self.assertEqual(
            frame[8:],
            b'{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":0,'
            b'"serializeTypeCurrentRPC":"JSON","version":409}',
        )

    def test_reference_binary_example(self) -> None:
        """The REFERENCE §1.4 binary example encodes byte for byte."""
        cmd = RemotingCommand(
            105, ext_fields={"topic": "T"}, serialize_type=SerializeType.ROCKETMQ, version=409
        )
        expected = bytes.fromhex(
            "000000250100002100690001990000000000000000000000000000000c0005746f7069630000000154"
        )
        self.assertEqual(codec.encode(cmd), expected)
        self.assertEqual(codec.decode_frame(expected[4:]), cmd)

    def test_prefix_struct_matches_construct(self) -> None:
        """The hot-path struct prefix and the construct declaration agree."""
        frame = codec.encode(RemotingCommand(10, body=b"abc"))
        parsed = codec.FRAME_PREFIX.parse(frame[:8])
        self.assertEqual(parsed.length, len(frame) - 4)
        self.assertEqual(parsed.header_word >> 24, 0)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_nonempty = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
_int32 = st.integers(-(2**31), 2**31 - 1)
_lang = st.sampled_from([v.name for v in LanguageCode])


def _commands(stype: int) -> st.SearchStrategy[RemotingCommand]:
    # The binary format drops empty strings (Java reads them as null), so they are not
    # generated there.
    value = _nonempty if stype == SerializeType.ROCKETMQ else _text
    remark = st.one_of(st.none(), _nonempty if stype == SerializeType.ROCKETMQ else _text)
    code = st.integers(0, 32767) if stype == SerializeType.ROCKETMQ else _int32
    version = st.integers(0, 32767) if stype == SerializeType.ROCKETMQ else _int32
    return st.builds(
        lambda c, lang, v, o, f, r, ext, body: RemotingCommand(
            c,
            language=lang,
            version=v,
            opaque=o,
            flag=f,
            remark=r,
            ext_fields=ext,
            body=body,
            serialize_type=stype,
        ),
        code,
        _lang,
        version,
        _int32,
        _int32,
        remark,
        st.dictionaries(_nonempty, value, max_size=8),
        st.one_of(st.none(), st.binary(min_size=1, max_size=200)),
    )


class RoundTripTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(_commands(SerializeType.JSON))
    def test_json_round_trip(self, cmd: RemotingCommand) -> None:
        """Any command survives encode/decode in the JSON serialization."""
        self.assertEqual(codec.decode_frame(codec.encode(cmd)[4:]), cmd)

    @settings(max_examples=300, deadline=None)
    @given(_commands(SerializeType.ROCKETMQ))
    def test_binary_round_trip(self, cmd: RemotingCommand) -> None:
        """Any command survives encode/decode in the ROCKETMQ serialization."""
        self.assertEqual(codec.decode_frame(codec.encode(cmd)[4:]), cmd)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(_commands(SerializeType.JSON), min_size=1, max_size=5), st.integers(1, 64))
    def test_split_stream(self, cmds: list[RemotingCommand], chunk: int) -> None:
        """Frames fed in arbitrary chunks come out whole and in order."""
        stream = b"".join(codec.encode(c) for c in cmds)
        dec = codec.FrameDecoder()
        out: list[RemotingCommand] = []
        for i in range(0, len(stream), chunk):
            out.extend(dec.feed(stream[i : i + chunk]))
        self.assertEqual(out, cmds)
        self.assertEqual(dec.buffered, 0)


class MalformedFrameTests(SynchronousTestCase):
    def test_oversized_frame(self) -> None:
        """A frame above the maximum is refused before it is buffered."""
        dec = codec.FrameDecoder(max_frame=1024)
        self.assertEqual(dec.feed(struct.pack(">I", 2000) + b"x" * 10), [])
        assert dec.error is not None
        self.assertIn("exceeds the maximum", dec.error.remark)
        self.assertEqual(dec.buffered, 0)

    def test_frames_before_bad_one_returned(self) -> None:
        """Frames before a malformed one are returned; nothing after it is decoded."""
        dec = codec.FrameDecoder()
        good = codec.encode(RemotingCommand(105, opaque=1))
        out = dec.feed(good + struct.pack(">I", 3) + b"\x00\x00\x00" + good)
        self.assertEqual([c.opaque for c in out], [1])
        self.assertIsNotNone(dec.error)
        self.assertEqual(dec.feed(good), [])

    def test_header_longer_than_frame(self) -> None:
        """A header length beyond the frame is refused."""
        with self.assertRaises(FrameError) as cm:
            codec.decode_frame(struct.pack(">I", 100) + b"{}")
        self.assertIn("exceeds the frame", cm.exception.remark)

    def test_unparsable_json(self) -> None:
        """A JSON header that does not parse is refused."""
        with self.assertRaises(FrameError):
            codec.decode_frame(struct.pack(">I", 5) + b"{nope")

    def test_json_without_code(self) -> None:
        """A JSON header without an integer code is refused."""
        with self.assertRaises(FrameError):
            codec.decode_frame(struct.pack(">I", 2) + b"{}")

    def test_unknown_serialize_type(self) -> None:
        """Serialize types other than 0 and 1 are refused."""
        with self.assertRaises(FrameError) as cm:
            codec.decode_frame(struct.pack(">I", (7 << 24) | 2) + b"{}")
        self.assertIn("unknown serialize type 7", cm.exception.remark)

    def test_truncated_binary_header(self) -> None:
        """A binary header cut short is refused."""
        with self.assertRaises(FrameError):
            codec.decode_frame(struct.pack(">I", (1 << 24) | 5) + b"\x00\x01\x00\x00\x01")

    def test_short_frame(self) -> None:
        """A frame with no room for the header-length word is refused."""
        dec = codec.FrameDecoder()
        self.assertEqual(dec.feed(struct.pack(">I", 2) + b"ab"), [])
        self.assertIsInstance(dec.error, FrameError)
