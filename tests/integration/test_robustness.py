"""Integration: real daemons survive bad input and a broker crash loses nothing acknowledged.

The project rule under test: bad input (malformed frames, missing or mistyped header fields,
oversized messages, unknown codes, corrupt files) gets a clear error response or message, the
daemon and every other connection go on, and nothing acknowledged is lost. Everything runs on
127.0.0.1 with OS-chosen ports; every process is stopped by PID in cleanups.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from rmq.common.message import decode_messages
from rmq.remoting.client import RemotingClient, split_address
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.protocol import RemotingConnection
from tests.integration.cluster import (
    TEST_BROKER_KEYS,
    start_broker,
    start_cluster,
    start_namesrv,
    write_file,
)
from tests.integration.crash_sender import body_of
from tests.integration.daemons import Daemon, spawn_twistd

TIMEOUT = 5.0
SENDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_sender.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(SENDER)))


def send_ext(topic: str, queue_id: str = "0") -> dict[str, str]:
    """A complete SEND_MESSAGE_V2 header (one-letter wire names)."""
    return {
        "a": "RobustPG", "b": topic, "c": "TBW102", "d": "4", "e": queue_id,
        "f": "0", "g": "0", "h": "0", "i": "TAGS\x01T\x02",
    }  # fmt: skip


def send_v2(topic: str, body: bytes = b"ok", **changes: str | None) -> RemotingCommand:
    """SEND_MESSAGE_V2 with header fields replaced (a None value drops the field)."""
    ext = send_ext(topic)
    for key, value in changes.items():
        if value is None:
            del ext[key]
        else:
            ext[key] = value
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body)


def pull_request(topic: str, queue_id: int, offset: int, sql: str | None = None) -> RemotingCommand:
    """PULL_MESSAGE without suspension, subscribing to ``*`` or to a SQL92 expression."""
    ext = {
        "consumerGroup": "RobustCG", "topic": topic, "queueId": str(queue_id),
        "queueOffset": str(offset), "maxMsgNums": "32", "sysFlag": "4", "commitOffset": "0",
        "suspendTimeoutMillis": "0", "subscription": sql or "*", "subVersion": "0",
        "expressionType": "SQL92" if sql else "TAG",
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.PULL_MESSAGE, ext)


# --- raw garbage -----------------------------------------------------------------------------


def frame(header_word: int, payload: bytes, length: int | None = None) -> bytes:
    """A frame prefix (length, serialize type and header length) followed by ``payload``."""
    return struct.pack(">II", 4 + len(payload) if length is None else length, header_word) + payload


GARBAGE = {
    "bad serialize type": frame((7 << 24) | 2, b"{}"),
    "length above 16 MiB": frame(16, b"x" * 16, length=32 * 1024 * 1024),
    "header beyond frame": frame(100, b'{"c'),
}


class RawProbe(protocol.Protocol):
    """A bare TCP connection: records what arrives and fires ``lost`` when it closes."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.lost: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self.lost.callback(None)


async def connect_raw(addr: str) -> RawProbe:
    host, port = split_address(addr)
    probe: RawProbe = await connectProtocol(TCP4ClientEndpoint(reactor, host, port), RawProbe())
    return probe


async def within(d: defer.Deferred[Any], seconds: float = TIMEOUT) -> Any:
    """Wait for ``d``, failing the test after ``seconds`` instead of hanging."""
    return await d.addTimeout(seconds, reactor)


class HostileClientTests(TestCase):
    """Bad requests get error answers on a connection that goes on; garbage closes only its own."""

    timeout = 60

    async def _client(self) -> RemotingClient:
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        return client

    async def _garbage_closes_only_its_connection(
        self, addr: str, other: RemotingConnection, valid: Callable[[], RemotingCommand]
    ) -> None:
        """Each kind of garbage on a fresh raw connection: closed, while ``other`` still works."""
        for what, data in GARBAGE.items():
            probe = await connect_raw(addr)
            probe.transport.write(data)  # type: ignore[union-attr]
            try:
                await within(probe.lost)
            except defer.TimeoutError:
                self.fail(f"{what}: the daemon kept the connection open")
            self.assertEqual(bytes(probe.received), b"", what)
            resp = await other.invoke(valid(), TIMEOUT)
            self.assertEqual(resp.code, 0, (what, resp.remark))
        self.assertTrue(other.connected)
        # ... and the daemon still accepts new connections.
        fresh = RemotingClient(reactor)
        try:
            resp = await fresh.invoke(addr, valid(), TIMEOUT)
            self.assertEqual(resp.code, 0, resp.remark)
        finally:
            await fresh.close()

    async def test_broker_answers_bad_requests_and_survives_garbage(self) -> None:
        """Unknown code, bad header fields, oversized body and bad SQL92 get errors; garbage
        closes only its own connection and the broker serves on."""
        cluster = await start_cluster(
            self, broker_extra="maxMessageSize: 1024\nenablePropertyFilter: true\n"
        )
        addr = cluster.broker.address
        client = await self._client()
        bystander = await client.connection(addr)  # opened before any garbage
        conn = await RemotingClient(reactor).connection(addr)
        self.addCleanup(conn.close)
        topic = "RobustTopic"

        async def still_works() -> None:
            resp = await conn.invoke(send_v2(topic), TIMEOUT)
            self.assertEqual(resp.code, 0, resp.remark)
            self.assertTrue(conn.connected)

        await still_works()  # creates the topic
        unknown = await conn.invoke(RemotingCommand.request(9999, {}), TIMEOUT)
        self.assertEqual(unknown.code, 3)
        self.assertIn("9999", unknown.remark or "")
        await still_works()
        missing = await conn.invoke(send_v2(topic, e=None), TIMEOUT)
        self.assertNotEqual(missing.code, 0)
        self.assertIn("'e'", missing.remark or "")
        self.assertIn("missing", missing.remark or "")
        await still_works()
        mistyped = await conn.invoke(send_v2(topic, e="abc"), TIMEOUT)
        self.assertNotEqual(mistyped.code, 0)
        self.assertIn("'e'", mistyped.remark or "")
        self.assertIn("abc", mistyped.remark or "")
        await still_works()
        big = await conn.invoke(send_v2(topic, b"x" * 1025), TIMEOUT)
        self.assertEqual(big.code, 13, big.remark)
        self.assertIn("1025", big.remark or "")
        await still_works()
        bad_sql = await conn.invoke(pull_request(topic, 0, 0, "a >>> (("), TIMEOUT)
        self.assertEqual(bad_sql.code, 23, bad_sql.remark)
        await still_works()
        good = await conn.invoke(pull_request(topic, 0, 0), TIMEOUT)
        self.assertEqual(good.code, 0, good.remark)
        self.assertEqual({m.body for m in decode_messages(good.body or b"")}, {b"ok"})

        await self._garbage_closes_only_its_connection(addr, bystander, lambda: send_v2(topic))

    async def test_namesrv_answers_bad_requests_and_survives_garbage(self) -> None:
        """The name server answers unknown codes and bad fields with errors and outlives
        garbage on other connections."""
        tmp = os.path.abspath(self.mktemp())
        os.makedirs(tmp)
        ns = await start_namesrv(self, tmp)
        client = await self._client()
        bystander = await client.connection(ns.address)
        conn = await RemotingClient(reactor).connection(ns.address)
        self.addCleanup(conn.close)

        def put_kv(**ext: str) -> RemotingCommand:
            return RemotingCommand.request(RequestCode.PUT_KV_CONFIG, ext)

        def get_kv() -> RemotingCommand:
            ext = {"namespace": "robust", "key": "k"}
            return RemotingCommand.request(RequestCode.GET_KV_CONFIG, ext)

        async def still_works() -> None:
            resp = await conn.invoke(get_kv(), TIMEOUT)
            self.assertEqual(resp.code, 0, resp.remark)
            self.assertEqual(resp.ext_fields.get("value"), "v")

        ok = await conn.invoke(put_kv(namespace="robust", key="k", value="v"), TIMEOUT)
        self.assertEqual(ok.code, 0, ok.remark)
        await still_works()
        unknown = await conn.invoke(RemotingCommand.request(9999, {}), TIMEOUT)
        self.assertEqual(unknown.code, 3)
        self.assertIn("9999", unknown.remark or "")
        await still_works()
        missing = await conn.invoke(put_kv(namespace="robust", key="k2"), TIMEOUT)
        self.assertNotEqual(missing.code, 0)
        self.assertIn("'value'", missing.remark or "")
        await still_works()
        register = {
            "brokerName": "b", "brokerAddr": "127.0.0.1:1", "clusterName": "c",
            "haServerAddr": "127.0.0.1:2", "brokerId": "abc", "compressed": "false",
        }  # fmt: skip
        mistyped = await conn.invoke(
            RemotingCommand.request(RequestCode.REGISTER_BROKER, register, b"{}"), TIMEOUT
        )
        self.assertNotEqual(mistyped.code, 0)
        self.assertIn("'brokerId'", mistyped.remark or "")
        await still_works()
        await self._garbage_closes_only_its_connection(ns.address, bystander, get_kv)

    async def test_full_disk_refuses_sends_and_serves_on(self) -> None:
        """A store disk over its limit: sends get SERVICE_NOT_AVAILABLE saying why; the same
        connection and the broker go on answering."""
        cluster = await start_cluster(self, broker_extra="diskSpaceWarningLevelRatio: 0.01\n")
        conn = await RemotingClient(reactor).connection(cluster.broker.address)
        self.addCleanup(conn.close)
        for _ in range(2):
            refused = await conn.invoke(send_v2("FullTopic"), TIMEOUT)
            self.assertEqual(refused.code, 14, refused.remark)
            self.assertIn("disk is full", refused.remark or "")
        info = await conn.invoke(
            RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO, {}), TIMEOUT
        )
        self.assertEqual(info.code, 0, info.remark)
        self.assertIn(b'"storeWritable":"false"', (info.body or b"").replace(b" ", b""))


# --- crash -----------------------------------------------------------------------------------


class AckReader(protocol.ProcessProtocol):
    """Reads the crash sender's ``ACK`` lines; ``reached(n)`` fires once ``n`` have arrived."""

    def __init__(self) -> None:
        self.acks: list[tuple[int, int, int, str]] = []
        self.lines: list[str] = []
        self.ended: defer.Deferred[None] = defer.Deferred()
        self._buffer = b""
        self._wanted: list[tuple[int, defer.Deferred[None]]] = []

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode()
            self.lines.append(line)
            parts = line.split()
            if parts[:1] == ["ACK"]:
                self.acks.append((int(parts[1]), int(parts[2]), int(parts[3]), parts[4]))
        self._wake()

    def errReceived(self, data: bytes) -> None:
        self.lines.append(data.decode(errors="replace"))

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(None)
        self._wake(ended=True)

    def _wake(self, ended: bool = False) -> None:
        waiting, self._wanted = self._wanted, []
        for n, d in waiting:
            if len(self.acks) >= n:
                d.callback(None)
            elif ended:
                d.errback(AssertionError(f"sender ended after {len(self.acks)} acks"))
            else:
                self._wanted.append((n, d))

    def reached(self, n: int) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self._wanted.append((n, d))
        self._wake(ended=self.ended.called)
        return d


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class CrashTests(TestCase):
    """A SYNC_FLUSH broker killed mid-stream keeps every message it acknowledged."""

    timeout = 90

    async def _read_queue(self, client: RemotingClient, addr: str, topic: str, q: int) -> list[Any]:
        """Every message of one queue, pulled from offset 0 to the end."""
        got: list[Any] = []
        offset = 0
        while True:
            resp = await client.invoke(addr, pull_request(topic, q, offset), TIMEOUT)
            if resp.code != 0:
                self.assertIn(resp.code, (19, 20), resp.remark)  # no (more) messages
                return got
            msgs = decode_messages(resp.body or b"")
            self.assertTrue(msgs)
            got += msgs
            offset = int(resp.ext_fields["nextBeginOffset"])

    async def test_sigkill_loses_nothing_acknowledged(self) -> None:
        """Kill -9 the broker after 300 sync acks; after restart each acked message is
        there exactly once with its body, at its acknowledged queue offset."""
        cluster = await start_cluster(self, broker_extra="flushDiskType: SYNC_FLUSH\n")
        addr, topic, queues = cluster.broker.address, "CrashTopic", 4
        reader = AckReader()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
        argv = [sys.executable, SENDER, addr, topic, str(queues), "100000", "8"]
        child = reactor.spawnProcess(reader, sys.executable, argv, env=env, path=ROOT)
        self.addCleanup(lambda: reader.ended)
        self.addCleanup(_kill, child.pid)
        await within(reader.reached(300), 30)
        _kill(cluster.broker.pid)
        await within(cluster.broker.proto.ended, 10)
        await within(reader.ended, 15)  # the sender stops at its first failure
        acked = list(reader.acks)
        self.assertGreaterEqual(len(acked), 300)
        self.assertTrue(any(line.startswith("ERR") for line in reader.lines), reader.lines[-3:])

        port = int(addr.rpartition(":")[2])
        broker = await start_broker(self, cluster.tmp, cluster.ns.address, port=port)
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        stored: dict[tuple[int, int], bytes] = {}
        for q in range(queues):
            for msg in await self._read_queue(client, broker.address, topic, q):
                self.assertEqual(msg.queue_id, q)
                self.assertNotIn((q, msg.queue_offset), stored, "one offset twice")
                stored[(q, msg.queue_offset)] = msg.body
        bodies = list(stored.values())
        for i, q, offset, _msg_id in acked:
            self.assertEqual(stored.get((q, offset)), body_of(i), f"acked message {i} lost")
            self.assertEqual(bodies.count(body_of(i)), 1, f"message {i} stored twice")
        # Nothing half-written: whatever else survived is a whole message of the stream.
        sent = {body_of(i) for i in range(len(acked) + 16)}
        self.assertTrue(set(bodies) <= sent)
        self.assertLessEqual(len(stored) - len(acked), 8)  # at most the in-flight window


# --- corrupt files ---------------------------------------------------------------------------


class CorruptConfigTests(TestCase):
    """A damaged config file stops start-up with a message naming it."""

    timeout = 60

    async def _fails_naming(self, daemon: Daemon, path: str) -> None:
        self.addCleanup(daemon.stop)
        code = await within(daemon.proto.ended, 30)
        self.assertNotEqual(code, 0)
        self.assertIn(path, daemon.log_text())

    async def test_broker_garbage_topics_json(self) -> None:
        """topics.json holding garbage: the broker exits naming the file (no silent reset)."""
        tmp = os.path.abspath(self.mktemp())
        ns = await start_namesrv(self, tmp)
        base = os.path.join(tmp, "broker")
        topics = write_file(os.path.join(base, "store", "config", "topics.json"), "{garbage!")
        write_file(topics + ".bak", '{"topicConfigTable": {}}')
        config = write_file(
            os.path.join(base, "broker.yaml"),
            f"brokerName: broker\nbrokerIP1: 127.0.0.1\nnamesrvAddr: {ns.address}\n"
            f"storePathRootDir: {base}/store\n{TEST_BROKER_KEYS}",
        )
        daemon, _ = spawn_twistd(
            "rmq-broker", ["--config", config, "--listen", "tcp:0:interface=127.0.0.1"], base
        )
        await self._fails_naming(daemon, topics)
        with open(topics) as f:
            self.assertEqual(f.read(), "{garbage!", "the damaged file must be left for a human")

    async def test_namesrv_garbage_kvconfig(self) -> None:
        """kvConfig.json holding garbage: the name server exits naming the file."""
        tmp = os.path.abspath(self.mktemp())
        base = os.path.join(tmp, "ns")
        kv = write_file(os.path.join(base, "kvConfig.json"), "\x00\x01not json")
        config = write_file(
            os.path.join(base, "namesrv.yaml"),
            f"kvConfigPath: {kv}\nconfigStorePath: {base}/namesrv.properties\n",
        )
        daemon, _ = spawn_twistd(
            "rmq-namesrv", ["--config", config, "--listen", "tcp:0:interface=127.0.0.1"], base
        )
        await self._fails_naming(daemon, kv)
