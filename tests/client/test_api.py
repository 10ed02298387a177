"""MQClientAPI against real captured frames (../shared/vectors) and its error mapping."""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface import implementer

from rmq import headers as h
from rmq.client.api import MQClientAPI
from rmq.client.model import MessageQueue, PullStatus, SendStatus
from rmq.common import message as m
from rmq.common.errors import RemoteError
from rmq.filter.tags import build_subscription
from rmq.remoting.codec import decode_frame, encode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.interfaces import IRemotingClient

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "vectors")
VECTORS = os.environ.get("RMQ_VECTORS", os.path.abspath(VECTORS))


def frame(name: str) -> RemotingCommand:
    path = os.path.join(VECTORS, name)
    if not os.path.exists(path):
        raise SkipTest(f"vector {name} not available at {VECTORS}")
    with open(path, "rb") as f:
        return decode_frame(f.read()[4:])


@implementer(IRemotingClient)
class Canned:
    """Answers every request with one canned response; records requests."""

    def __init__(self, response: RemotingCommand) -> None:
        self.response = response
        self.requests: list[RemotingCommand] = []

    def invoke(
        self, addr: str, command: RemotingCommand, timeout: float
    ) -> Deferred[RemotingCommand]:
        self.requests.append(command)
        return succeed(self.response)

    def invoke_oneway(self, addr: str, command: RemotingCommand) -> Deferred[None]:
        self.requests.append(command)
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)


def pull_header(topic: str = "CapTopic") -> h.PullMessageRequestHeader:
    return h.PullMessageRequestHeader("G", topic, 0, 0, 32, 2, 0, 15000, 0)


class VectorTests(SynchronousTestCase):
    def test_pull_found(self) -> None:
        """A real broker pull answer decodes into FOUND with three messages and offsets."""
        api = MQClientAPI(Canned(frame("broker-pull_message-found-response-accepted-by-cpp.bin")))
        r = self.successResultOf(api.pull_message("b:1", pull_header(), 3))
        self.assertEqual(r.status, PullStatus.FOUND)
        self.assertEqual((r.next_begin_offset, r.min_offset, r.max_offset), (3, 0, 3))
        self.assertEqual(len(r.messages), 3)
        self.assertTrue(all(x.topic == "CapTopic" for x in r.messages))

    def test_pull_compressed(self) -> None:
        """Compressed stored bodies are inflated and lose the COMPRESSED bit."""
        resp = frame("broker-pull_message-found-compressed-response-accepted-by-cpp.bin")
        r = self.successResultOf(MQClientAPI(Canned(resp)).pull_message("b:1", pull_header(), 3))
        big = [x for x in r.messages if len(x.body) >= 4096]
        self.assertTrue(big)
        self.assertEqual(big[0].sys_flag & m.COMPRESSED_FLAG, 0)

    def test_pull_tag_refilter(self) -> None:
        """Tags are re-filtered on the client by exact string."""
        resp = frame("broker-pull_message-found-response-accepted-by-cpp.bin")
        sub = build_subscription("CapTopic", "NoSuchTag", sub_version=0)
        r = self.successResultOf(
            MQClientAPI(Canned(resp)).pull_message("b:1", pull_header(), 3, sub)
        )
        self.assertEqual(r.messages, [])

    def test_send_result(self) -> None:
        """A real send answer builds SEND_OK with the offset id, queue and region."""
        resp = frame("broker-send_message-response-accepted-by-cpp.bin")
        api = MQClientAPI(Canned(resp))
        hd = h.SendMessageRequestHeaderV2("G", "CapTopic", "TBW102", 4, 0, 0, 0, 0)
        mq = MessageQueue("CapTopic", "broker-a", 0)
        r = self.successResultOf(api.send_message("b:1", mq, hd, b"x", "UNIQ", 3))
        self.assertEqual(r.status, SendStatus.SEND_OK)
        self.assertEqual(r.msg_id, "UNIQ")
        self.assertEqual(r.offset_msg_id, "7F000001000051AF0000000000000000")
        self.assertEqual(r.region_id, "DefaultRegion")
        self.assertTrue(r.trace_on)

    def test_v2_header_matches_captured_client(self) -> None:
        """Our V2 header reads a captured client's request and writes the same keys back."""
        req = frame("alions-send_message_v2-request.bin")
        hd = h.SendMessageRequestHeaderV2.from_ext(req.ext_fields)
        self.assertEqual(
            (hd.producerGroup, hd.topic, hd.queueId), ("CapAlionsProducerGroup", "CapTopic", 3)
        )
        again = hd.to_ext()
        for key, value in req.ext_fields.items():
            self.assertEqual(again[key], value)

    def test_query_offset_not_found(self) -> None:
        """QUERY_NOT_FOUND (22) reads as offset -1, not an error."""
        resp = frame("broker-query_consumer_offset-not-found-response.bin")
        api = MQClientAPI(Canned(resp))
        self.assertEqual(
            self.successResultOf(
                api.query_consumer_offset("b:1", "G", MessageQueue("T", "b", 0), 3)
            ),
            -1,
        )

    def test_error_carries_code_and_remark(self) -> None:
        """Any other code raises RemoteError(code, remark)."""
        resp = RemotingCommand(17, remark="No topic route info", flag=1)
        f = self.failureResultOf(MQClientAPI(Canned(resp)).get_route("n:1", "T", 3), RemoteError)
        self.assertEqual((f.value.code, f.value.remark), (17, "No topic route info"))

    def test_requests_encode(self) -> None:
        """Every request the API builds encodes as a JSON-header frame saying JAVA/409."""
        canned = Canned(RemotingCommand(0, flag=1, ext_fields={"offset": "1"}))
        api = MQClientAPI(canned)
        mq = MessageQueue("T", "b", 0)
        api.get_max_offset("b:1", mq, 3)
        api.update_consumer_offset("b:1", "G", mq, 5, 3)
        api.heartbeat("b:1", {"clientID": "c", "consumerDataSet": [], "producerDataSet": []}, 3)
        for req in canned.requests:
            raw = encode(req)
            back = decode_frame(raw[4:])
            self.assertEqual((back.language, back.version), ("JAVA", 409))
            self.assertEqual(back.ext_fields, req.ext_fields)
