"""In-memory name server + brokers behind a fake IRemotingClient, for deterministic client tests.

``FakeCluster`` holds topics and stored messages; each client instance gets a ``FakeRemoting``
bound to it. Pulls with the suspend bit are held until a message arrives or the clock passes the
suspend timeout, like the broker's long polling. Broker->client requests go through the client's
dispatcher with a ``FakeConnection`` whose responses are recorded.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from zope.interface import implementer

from rmq import headers as h
from rmq.common import fastjson
from rmq.common import message as m
from rmq.common.errors import RemotingConnectError
from rmq.common.message import MessageExt
from rmq.common.route import BrokerData, QueueData, TopicRouteData
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.interfaces import IRemotingClient, IRemotingConnection

NAMESRV = "127.0.0.1:9876"


@implementer(IRemotingConnection)
class FakeConnection:
    """Stands in for the broker's channel when it calls the client; records responses."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.local_address = "127.0.0.1:50000"
        self.connected = True
        self.responses: list[RemotingCommand] = []

    def invoke(self, command: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
        return fail(RemotingConnectError("the fake broker channel takes no requests"))

    def invoke_oneway(self, command: RemotingCommand) -> Deferred[None]:
        return fail(RemotingConnectError("the fake broker channel takes no requests"))

    def send_response(self, cmd: RemotingCommand) -> None:
        self.responses.append(cmd)

    def close(self) -> None:
        self.connected = False


@implementer(IRemotingClient)
class FakeRemoting:
    """An IRemotingClient that hands every request to a FakeCluster."""

    def __init__(self, cluster: FakeCluster, dispatcher: Dispatcher | None = None) -> None:
        self.cluster = cluster
        self.dispatcher = dispatcher
        self.sent: list[tuple[str, RemotingCommand]] = []
        self.closed = False

    def invoke(
        self, addr: str, command: RemotingCommand, timeout: float
    ) -> Deferred[RemotingCommand]:
        if self.closed:
            return fail(RemotingConnectError("client is closed"))
        self.sent.append((addr, command))
        return self.cluster.handle(self, addr, command)

    def invoke_oneway(self, addr: str, command: RemotingCommand) -> Deferred[None]:
        if self.closed:
            return fail(RemotingConnectError("client is closed"))
        self.sent.append((addr, command))
        self.cluster.handle(self, addr, command).addErrback(lambda _: None)
        return succeed(None)

    def close(self) -> Deferred[None]:
        self.closed = True
        self.cluster.disconnect(self)
        return succeed(None)

    def codes(self, code: int) -> list[RemotingCommand]:
        """Requests of one code sent so far."""
        return [c for _, c in self.sent if c.code == code]


class FakeBroker:
    """One master broker: topics' queues, groups' offsets, consumers and locks."""

    def __init__(self, cluster: FakeCluster, name: str, addr: str) -> None:
        self.cluster = cluster
        self.name = name
        self.addr = addr
        self.queues: dict[tuple[str, int], list[MessageExt]] = {}
        self.offsets: dict[tuple[str, str, int], int] = {}
        self.consumers: dict[str, dict[str, FakeRemoting]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.locks: dict[tuple[str, tuple[str, str, int]], str] = {}
        self.held: dict[tuple[str, int], list[tuple[Deferred[RemotingCommand], Any]]] = {}
        self.commit_offset = 0
        self.sent_back: list[tuple[MessageExt, int]] = []
        self.end_tx: list[dict[str, str]] = []
        self.fail_codes: dict[int, int] = {}
        self.half: dict[int, MessageExt] = {}

    # --- storing --------------------------------------------------------------------------

    def store(
        self,
        topic: str,
        qid: int,
        body: bytes,
        props: str,
        sys_flag: int,
        flag: int = 0,
        born: int = 0,
        reconsume: int = 0,
    ) -> MessageExt:
        q = self.queues.setdefault((topic, qid), [])
        host, port = self.addr.split(":")
        msg = MessageExt(
            topic=topic,
            body=body,
            queue_id=qid,
            flag=flag,
            properties=props,
            queue_offset=len(q),
            commit_log_offset=self.commit_offset,
            sys_flag=sys_flag,
            born_timestamp=born,
            store_host=(host, int(port)),
            reconsume_times=reconsume,
            store_timestamp=born,
        )
        self.commit_offset += 100
        q.append(msg)
        self._wake(topic, qid)
        return msg

    def _wake(self, topic: str, qid: int) -> None:
        for d, req in self.held.pop((topic, qid), []):
            if not d.called:
                d.callback(self._read(req))

    # --- handlers ---------------------------------------------------------------------------

    def handle(self, remoting: FakeRemoting, cmd: RemotingCommand) -> Deferred[RemotingCommand]:
        forced = self.fail_codes.get(cmd.code)
        if forced is not None:
            return succeed(cmd.make_response(forced, "forced failure"))
        fn = getattr(self, f"on_{cmd.code}", None)
        if fn is None:
            return succeed(cmd.make_response(ResponseCode.REQUEST_CODE_NOT_SUPPORTED, "no"))
        out = fn(remoting, cmd)
        return out if isinstance(out, Deferred) else succeed(out)

    def _send(self, remoting: FakeRemoting, cmd: RemotingCommand, batch: bool) -> RemotingCommand:
        hd = h.SendMessageRequestHeaderV2.from_ext(cmd.ext_fields)
        qid = hd.queueId
        body = cmd.body or b""
        items = m.decode_batch(body) if batch else [(hd.flag, body, hd.properties or "")]
        ids, first = [], None
        for flag, mbody, props in items:
            if batch:
                props = m.join_properties(props, hd.properties or "")
            topic = hd.topic
            pd = m.decode_properties(props)
            if pd.get(m.TRAN_MSG) == "true":
                msg = self._store_half(hd, mbody, props)
            else:
                msg = self.store(topic, qid, mbody, props, hd.sysFlag, flag, hd.bornTimestamp)
            ids.append(msg.offset_msg_id)
            first = first or msg
        assert first is not None
        return cmd.make_response(
            ext_fields={
                "msgId": ",".join(ids),
                "queueId": str(first.queue_id),
                "queueOffset": str(first.queue_offset),
                "MSG_REGION": "DefaultRegion",
                "TRACE_ON": "true",
            }
        )

    def _store_half(self, hd: Any, body: bytes, props: str) -> MessageExt:
        msg = self.store("RMQ_SYS_TRANS_HALF_TOPIC", 0, body, props, 0, hd.flag, hd.bornTimestamp)
        self.half[msg.commit_log_offset] = (msg, hd.topic, hd.queueId)  # type: ignore[assignment]
        return msg

    def on_310(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        return self._send(remoting, cmd, batch=cmd.ext_fields.get("m") == "true")

    def on_320(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        return self._send(remoting, cmd, batch=True)

    def on_37(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        hd = h.EndTransactionRequestHeader.from_ext(cmd.ext_fields)
        self.end_tx.append(dict(cmd.ext_fields))
        entry: Any = self.half.pop(hd.commitLogOffset, None)
        if entry is not None and hd.commitOrRollback == m.TRANSACTION_COMMIT_TYPE:
            half, topic, qid = entry
            props = m.decode_properties(half.properties)
            props.pop(m.TRAN_MSG, None)
            self.store(
                topic, max(qid, 0), half.body, m.encode_properties(props), m.TRANSACTION_COMMIT_TYPE
            )
        return cmd.make_response()

    def _read(self, req: h.PullMessageRequestHeader) -> RemotingCommand:
        q = self.queues.get((req.topic, req.queueId), [])
        sub = self._sub_of(req)
        found = []
        off = req.queueOffset
        while off < len(q) and len(found) < req.maxMsgNums:
            msg = q[off]
            if sub is None or _tag_ok(sub, msg):
                found.append(msg)
            off += 1
        ext = {
            "nextBeginOffset": str(off),
            "minOffset": "0",
            "maxOffset": str(len(q)),
            "suggestWhichBrokerId": "0",
        }
        cmd = RemotingCommand(0)
        if found:
            body = b"".join(m.encode_message_ext(x) for x in found)
            return cmd.make_response(0, "FOUND", ext, body)
        code = ResponseCode.PULL_NOT_FOUND if off >= len(q) else ResponseCode.PULL_RETRY_IMMEDIATELY
        if req.queueOffset > len(q):
            ext["nextBeginOffset"] = str(len(q))
            code = ResponseCode.PULL_OFFSET_MOVED
        return cmd.make_response(code, "NO_MESSAGE", ext)

    def _sub_of(self, req: h.PullMessageRequestHeader) -> dict[str, Any] | None:
        if req.sysFlag & 0x4:
            return {
                "subString": req.subscription or "*",
                "tagsSet": [
                    t.strip()
                    for t in (req.subscription or "*").split("||")
                    if t.strip() and t.strip() != "*"
                ],
            }
        return self.subscriptions.get(req.consumerGroup, {}).get(req.topic)

    def on_11(self, remoting: FakeRemoting, cmd: RemotingCommand) -> Deferred[RemotingCommand]:
        req = h.PullMessageRequestHeader.from_ext(cmd.ext_fields)
        if req.sysFlag & 0x1:
            self.offsets[(req.consumerGroup, req.topic, req.queueId)] = req.commitOffset
        resp = self._read(req)
        resp.opaque = cmd.opaque
        if resp.code == ResponseCode.PULL_NOT_FOUND and req.sysFlag & 0x2:
            d: Deferred[RemotingCommand] = Deferred()
            self.held.setdefault((req.topic, req.queueId), []).append((d, req))
            call = self.cluster.clock.callLater(
                req.suspendTimeoutMillis / 1000.0,
                lambda: None if d.called else d.callback(self._read(req)),
            )
            d.addBoth(lambda r: (call.active() and call.cancel(), r)[1])
            return d
        return succeed(resp)

    def on_14(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        hd = h.QueryConsumerOffsetRequestHeader.from_ext(cmd.ext_fields)
        off = self.offsets.get((hd.consumerGroup, hd.topic, hd.queueId))
        if off is None:
            return cmd.make_response(ResponseCode.QUERY_NOT_FOUND, "Not found")
        return cmd.make_response(ext_fields={"offset": str(off)})

    def on_15(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        hd = h.UpdateConsumerOffsetRequestHeader.from_ext(cmd.ext_fields)
        self.offsets[(hd.consumerGroup, hd.topic, hd.queueId)] = hd.commitOffset
        return cmd.make_response()

    def on_30(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        hd = h.QueueOffsetRequestHeader.from_ext(cmd.ext_fields)
        n = len(self.queues.get((hd.topic, hd.queueId), []))
        return cmd.make_response(ext_fields={"offset": str(n)})

    def on_31(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.make_response(ext_fields={"offset": "0"})

    def on_29(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.make_response(ext_fields={"offset": "0"})

    def on_34(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        data = fastjson.loads(cmd.body or b"{}")
        cid = data["clientID"]
        for cd in data.get("consumerDataSet") or []:
            group = cd["groupName"]
            members = self.consumers.setdefault(group, {})
            new = cid not in members
            members[cid] = remoting
            subs = self.subscriptions.setdefault(group, {})
            for sd in cd.get("subscriptionDataSet") or []:
                subs[sd["topic"]] = sd
                if sd["topic"].startswith("%RETRY%"):
                    self.cluster.ensure_topic(sd["topic"], 1)
            if new:
                self.notify(group)
        resp = cmd.make_response()
        return resp

    def notify(self, group: str) -> None:
        for remoting in list(self.consumers.get(group, {}).values()):
            if remoting.dispatcher is not None and not remoting.closed:
                req = RemotingCommand.request(
                    RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {"consumerGroup": group}, oneway=True
                )
                remoting.dispatcher.dispatch(FakeConnection(self.addr), req)  # type: ignore[arg-type]

    def on_35(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        group = cmd.ext_fields.get("consumerGroup")
        cid = cmd.ext_fields["clientID"]
        if group and cid in self.consumers.get(group, {}):
            del self.consumers[group][cid]
            self.notify(group)
        return cmd.make_response()

    def drop_client(self, remoting: FakeRemoting) -> None:
        for group, members in self.consumers.items():
            for cid, r in list(members.items()):
                if r is remoting:
                    del members[cid]
                    self.notify(group)

    def on_38(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        group = cmd.ext_fields["consumerGroup"]
        ids = sorted(self.consumers.get(group, {}))
        if not ids:
            return cmd.make_response(
                ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {group}"
            )
        return cmd.make_response(body=fastjson.dumpb({"consumerIdList": ids}))

    def on_36(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        hd = h.ConsumerSendMsgBackRequestHeader.from_ext(cmd.ext_fields)
        orig = self.find(hd.offset)
        assert orig is not None
        self.sent_back.append((orig, hd.delayLevel))
        props = m.decode_properties(orig.properties)
        props.setdefault(m.RETRY_TOPIC, orig.topic)
        if hd.delayLevel < 0 or orig.reconsume_times + 1 > (hd.maxReconsumeTimes or 16):
            topic = "%DLQ%" + hd.group
        else:
            topic = "%RETRY%" + hd.group
        self.cluster.ensure_topic(topic, 1)
        self.store(
            topic,
            0,
            orig.body,
            m.encode_properties(props),
            orig.sys_flag,
            orig.flag,
            orig.born_timestamp,
            orig.reconsume_times + 1,
        )
        return cmd.make_response()

    def find(self, commit_offset: int) -> MessageExt | None:
        for q in self.queues.values():
            for msg in q:
                if msg.commit_log_offset == commit_offset:
                    return msg
        return None

    def on_33(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        msg = self.find(int(cmd.ext_fields["offset"]))
        if msg is None:
            return cmd.make_response(ResponseCode.SYSTEM_ERROR, "can not find message")
        return cmd.make_response(body=m.encode_message_ext(msg))

    def _lock_body(self, cmd: RemotingCommand) -> tuple[str, str, list[dict[str, Any]]]:
        data = fastjson.loads(cmd.body or b"{}")
        return data["consumerGroup"], data["clientId"], data["mqSet"]

    def on_41(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        group, cid, mqs = self._lock_body(cmd)
        ok = []
        for q in mqs:
            key = (group, (q["topic"], q["brokerName"], int(q["queueId"])))
            if self.locks.get(key, cid) == cid:
                self.locks[key] = cid
                ok.append(q)
        return cmd.make_response(body=fastjson.dumpb({"lockOKMQSet": ok}))

    def on_42(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        group, cid, mqs = self._lock_body(cmd)
        for q in mqs:
            key = (group, (q["topic"], q["brokerName"], int(q["queueId"])))
            if self.locks.get(key) == cid:
                del self.locks[key]
        return cmd.make_response()

    def on_46(self, remoting: FakeRemoting, cmd: RemotingCommand) -> RemotingCommand:
        data = fastjson.loads(cmd.body or b"{}")
        if "BAD" in data["subscriptionData"]["subString"]:
            return cmd.make_response(ResponseCode.SUBSCRIPTION_PARSE_FAILED, "bad sql")
        return cmd.make_response()

    def messages(self, topic: str) -> list[MessageExt]:
        """Every stored message of a topic, queue by queue."""
        return [x for (t, _), q in sorted(self.queues.items()) if t == topic for x in q]


def _tag_ok(sub: dict[str, Any], msg: MessageExt) -> bool:
    tags = sub.get("tagsSet") or []
    if not tags or sub.get("expressionType") == "SQL92":
        return True
    return msg.tags in tags


class FakeCluster:
    """A name server and some master brokers sharing one clock."""

    def __init__(self, clock: Clock, brokers: int = 1, queues: int = 4) -> None:
        self.clock = clock
        self.default_queues = queues
        self.brokers = {
            f"broker-{chr(97 + i)}": FakeBroker(
                self, f"broker-{chr(97 + i)}", f"127.0.0.1:{10911 + i * 10}"
            )
            for i in range(brokers)
        }
        self.topics: dict[str, int] = {}
        self.down: set[str] = set()
        self.auto_create = True

    def ensure_topic(self, topic: str, queues: int | None = None) -> None:
        self.topics.setdefault(topic, queues or self.default_queues)

    def route(self, topic: str) -> TopicRouteData:
        n = self.topics[topic]
        return TopicRouteData(
            [QueueData(b.name, n, n, 6) for b in self.brokers.values()],
            [BrokerData("DefaultCluster", b.name, {0: b.addr}) for b in self.brokers.values()],
        )

    def remoting(self, dispatcher: Dispatcher | None = None) -> FakeRemoting:
        return FakeRemoting(self, dispatcher)

    def disconnect(self, remoting: FakeRemoting) -> None:
        for b in self.brokers.values():
            b.drop_client(remoting)

    def handle(
        self, remoting: FakeRemoting, addr: str, cmd: RemotingCommand
    ) -> Deferred[RemotingCommand]:
        if addr in self.down:
            return fail(RemotingConnectError(f"connect to {addr} failed"))
        if addr == NAMESRV:
            topic = cmd.ext_fields["topic"]
            if topic == "TBW102" and self.auto_create:
                return succeed(cmd.make_response(body=self.route_default().to_json()))
            if topic not in self.topics:
                return succeed(
                    cmd.make_response(ResponseCode.TOPIC_NOT_EXIST, "No topic route info")
                )
            return succeed(cmd.make_response(body=self.route(topic).to_json()))
        for b in self.brokers.values():
            if b.addr == addr:
                if cmd.code in (310, 320) and cmd.ext_fields.get("b") not in self.topics:
                    self.ensure_topic(cmd.ext_fields["b"], min(int(cmd.ext_fields["d"]), 8))
                return b.handle(remoting, cmd)
        return fail(RemotingConnectError(f"no such address {addr}"))

    def route_default(self) -> TopicRouteData:
        return TopicRouteData(
            [QueueData(b.name, 8, 8, 7) for b in self.brokers.values()],
            [BrokerData("DefaultCluster", b.name, {0: b.addr}) for b in self.brokers.values()],
        )
