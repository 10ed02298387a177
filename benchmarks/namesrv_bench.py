#!/usr/bin/env python3
"""Name-server benchmark: codec rates, and pipelined route lookups next to a Twisted echo.

1. Encode and decode rates of a SEND_MESSAGE_V2 request with a 1 KiB body (one core, in-process).
2. Pipelined GET_ROUTEINFO_BY_TOPIC against a real ``twistd rmq-namesrv`` child process, and the
   same request frames against two minimal Twisted echo servers (a byte echo, and one that splits
   frames and writes each back), measured in the same run by the same client keeping
   ``--window`` requests in flight (a sliding window). Prints the ratios per window.

The window matters: the echo servers do almost nothing per frame, so their rate grows with the
window until the client saturates, while the name server is bound by its own ~3 µs of Python per
lookup; by default the script prints windows 1, 16, 64 and 256 so the ratio is seen across them.

Usage: ``python benchmarks/namesrv_bench.py [--seconds 3] [--window 1 16 64 256]``. Figures only;
nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from rmq.common.route import DataVersion, RegisterBrokerBody, TopicConfig  # noqa: E402
from rmq.headers import RegisterBrokerRequestHeader  # noqa: E402
from rmq.namesrv.processor import body_crc32  # noqa: E402
from rmq.remoting.codec import decode_frame, encode  # noqa: E402
from rmq.remoting.codes import RequestCode  # noqa: E402
from rmq.remoting.command import RemotingCommand  # noqa: E402

ECHO_SERVER = """
import sys
from twisted.internet import protocol, reactor
class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)
f = protocol.Factory.forProtocol(Echo)
port = reactor.listenTCP(0, f, interface="127.0.0.1")
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write("127.0.0.1:%d\\n" % port.getHost().port)
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
reactor.run()
"""


FRAMED_ECHO_SERVER = """
import struct, sys
from twisted.internet import protocol, reactor
class FramedEcho(protocol.Protocol):
    # Splits the stream into remoting frames by their length prefix and writes each back.
    def connectionMade(self):
        self.buf = b""
    def dataReceived(self, data):
        buf = self.buf + data
        pos = 0
        out = []
        while len(buf) - pos >= 4:
            (n,) = struct.unpack_from(">I", buf, pos)
            if len(buf) - pos - 4 < n:
                break
            out.append(buf[pos : pos + 4 + n])
            pos += 4 + n
        self.buf = buf[pos:]
        self.transport.writeSequence(out)
f = protocol.Factory.forProtocol(FramedEcho)
port = reactor.listenTCP(0, f, interface="127.0.0.1")
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write("127.0.0.1:%d\\n" % port.getHost().port)
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
reactor.run()
"""


def send_v2_request() -> RemotingCommand:
    """A SEND_MESSAGE_V2 request shaped like the Java/JS clients' (1 KiB body)."""
    ext = {
        "a": "BenchProducerGroup",
        "b": "BenchTopic",
        "c": "TBW102",
        "d": "4",
        "e": "3",
        "f": "0",
        "g": "1700000000000",
        "h": "0",
        "i": "KEYS\x01k1\x02TAGS\x01TagA\x02WAIT\x01true\x02",
        "j": "0",
        "k": "false",
        "m": "false",
    }
    cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, b"x" * 1024)
    cmd.opaque = 12345
    return cmd


def rate(fn: object, seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    call = fn  # type: ignore[assignment]
    n = 0
    batch = 1000
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            call()  # type: ignore[operator]
        n += batch
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def bench_codec(seconds: float) -> tuple[float, float]:
    cmd = send_v2_request()
    frame = encode(cmd)
    payload = frame[4:]
    enc = rate(lambda: encode(cmd), seconds)
    dec = rate(lambda: decode_frame(payload), seconds)
    return enc, dec


def wait_port_file(path: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with code {proc.returncode}")
        time.sleep(0.05)
    raise SystemExit("server did not report its port")


def connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_frames(sock: socket.socket, buf: bytearray, count: int) -> list[bytes]:
    """Read until ``count`` whole frames are available; returns them (without prefix)."""
    frames: list[bytes] = []
    while len(frames) < count:
        while len(buf) >= 4:
            (size,) = struct.unpack_from(">I", buf, 0)
            if len(buf) < 4 + size:
                break
            frames.append(bytes(buf[4 : 4 + size]))
            del buf[: 4 + size]
            if len(frames) == count:
                return frames
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise SystemExit("server closed the connection")
        buf += chunk
    return frames


def pipelined(address: str, frame: bytes, window: int, seconds: float) -> float:
    """Requests per second with ``window`` requests kept in flight on one connection.

    A sliding window: every answer read is replaced by a new request at once, so the client
    and the server work at the same time (on two cores) and the slower side sets the rate.
    """
    sock = connect(address)
    sock.sendall(frame * window)
    buf = bytearray()
    pos = 0
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    unpack = struct.Struct(">I").unpack_from
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise SystemExit("server closed the connection")
        buf += chunk
        answered = 0
        end = len(buf)
        while end - pos >= 4:
            (size,) = unpack(buf, pos)
            if end - pos - 4 < size:
                break
            pos += 4 + size
            answered += 1
        if pos:
            del buf[:pos]
            pos = 0
        done += answered
        now = time.perf_counter()
        if now >= deadline:
            sock.close()
            return done / (now - start)
        if answered:
            sock.sendall(frame * answered)


def register_broker(address: str) -> None:
    body = RegisterBrokerBody({"BenchTopic": TopicConfig("BenchTopic", 8, 8, 6)}, DataVersion(1, 1))
    raw = body.to_json()
    header = RegisterBrokerRequestHeader(
        "broker-a", "127.0.0.1:10911", "DefaultCluster", "127.0.0.1:10912", 0, False,
        body_crc32(raw),
    )  # fmt: skip
    sock = connect(address)
    sock.sendall(encode(RemotingCommand.request(RequestCode.REGISTER_BROKER, header.to_ext(), raw)))
    resp = decode_frame(read_frames(sock, bytearray(), 1)[0])
    if resp.code != 0:
        raise SystemExit(f"REGISTER_BROKER failed: {resp.code} {resp.remark}")
    # Keep the registering connection open: closing it would drop the broker at once.
    register_broker.sock = sock  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--window",
        type=int,
        nargs="+",
        default=[1, 16, 64, 256],
        help="requests kept in flight; one line of figures per value",
    )
    args = parser.parse_args()

    enc, dec = bench_codec(args.seconds)
    print(f"codec SEND_MESSAGE_V2 (1 KiB body): encode {enc:,.0f}/s, decode {dec:,.0f}/s")

    tmp = tempfile.mkdtemp(prefix="rmq-bench-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    config = os.path.join(tmp, "namesrv.yaml")
    with open(config, "w") as f:
        f.write(f"kvConfigPath: {tmp}/kvConfig.json\n")
    ns_port = os.path.join(tmp, "ns.port")
    ns = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
         "--pidfile=", f"--logfile={tmp}/ns.log", "rmq-namesrv", "--config", config,
         "--listen", "tcp:0:interface=127.0.0.1", "--port-file", ns_port],
        cwd=tmp, env=env,
    )  # fmt: skip
    echo_port = os.path.join(tmp, "echo.port")
    echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, echo_port], cwd=tmp, env=env)
    framed_port = os.path.join(tmp, "framed.port")
    framed = subprocess.Popen(
        [sys.executable, "-c", FRAMED_ECHO_SERVER, framed_port], cwd=tmp, env=env
    )
    try:
        ns_addr = wait_port_file(ns_port, ns)
        echo_addr = wait_port_file(echo_port, echo)
        framed_addr = wait_port_file(framed_port, framed)
        register_broker(ns_addr)
        req = RemotingCommand.request(
            RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "BenchTopic"}, language="JAVA"
        )
        req.version = 409
        frame = encode(req)
        for window in args.window:
            route = pipelined(ns_addr, frame, window, args.seconds)
            echoed = pipelined(echo_addr, frame, window, args.seconds)
            framed_rate = pipelined(framed_addr, frame, window, args.seconds)
            print(
                f"pipelined GET_ROUTEINFO_BY_TOPIC (window {window}): {route:,.0f}/s\n"
                f"  Twisted byte echo of the same stream: {echoed:,.0f}/s; "
                f"ratio {route / echoed:.2f}\n"
                f"  Twisted echo frame by frame (length-prefix split): {framed_rate:,.0f}/s; "
                f"ratio {route / framed_rate:.2f}"
            )
    finally:
        for proc in (ns, echo, framed):
            proc.terminate()
        for proc in (ns, echo, framed):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
