"""Broker throughput beside a minimal Twisted server (the practical ceiling), same run.

Usage: ``python benchmarks/broker_bench.py [--seconds 3]``. Starts ``twistd rmq-broker``
(ASYNC_FLUSH, temp store) and a minimal server in child processes on 127.0.0.1, drives both
with sync SEND_MESSAGE calls of 1 KiB bodies from 1, 16 and 64 concurrent connections, then
measures the broker's consume rate (PULL_MESSAGE, 32 per call, one queue after another).
Prints rates and rmq/ceiling ratios. Every child is stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MINIMAL_SERVER = r"""
import mmap, os, sys
from twisted.internet import reactor, protocol, endpoints
from rmq.remoting.codec import FrameDecoder, encode
size = 1 << 30
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, size)
mm = mmap.mmap(fd, size)
pos = [0]
class P(protocol.Protocol):
    def connectionMade(self):
        self.dec = FrameDecoder(16 << 20)
    def dataReceived(self, data):
        for cmd in self.dec.feed(data):
            body = cmd.body or b""
            p = pos[0]
            if p + len(body) > size:
                p = 0
            mm[p:p + len(body)] = body
            pos[0] = p + len(body)
            ext = {"msgId": "0", "queueId": "0", "queueOffset": str(p)}
            self.transport.write(encode(cmd.make_response(0, None, ext)))
f = protocol.Factory.forProtocol(P)
def up(port):
    open(sys.argv[2], "w").write("127.0.0.1:%d\n" % port.getHost().port)
endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(f).addCallback(up)
reactor.run()
"""


def _wait_file(path: str, timeout: float = 20.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text.splitlines()[0]
        time.sleep(0.05)
    raise RuntimeError(f"no address in {path}")


def start_children(tmp: str) -> tuple[list[subprocess.Popen[bytes]], str, str]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = []
    mport = os.path.join(tmp, "minimal.port")
    procs.append(
        subprocess.Popen(
            [sys.executable, "-c", MINIMAL_SERVER, os.path.join(tmp, "minimal.data"), mport],
            env=env, cwd=ROOT,
        )
    )  # fmt: skip
    bport = os.path.join(tmp, "broker.port")
    procs.append(
        subprocess.Popen(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
             "--pidfile=", f"--logfile={tmp}/broker.log", "rmq-broker",
             "--config", os.path.join(ROOT, "etc", "broker.yaml"),
             "--listen", "tcp:0:interface=127.0.0.1", "--namesrv", "",
             "--store", os.path.join(tmp, "store"), "--port-file", bport],
            env=env, cwd=ROOT,
        )
    )  # fmt: skip
    return procs, _wait_file(mport), _wait_file(bport)


def run_load(addr: str, conns: int, seconds: float, topic: str) -> float:
    """Sync sends of 1 KiB from ``conns`` connections for ``seconds``; returns msgs/s."""
    from twisted.internet import defer, reactor

    from rmq.remoting.client import RemotingClient
    from rmq.remoting.codes import RequestCode
    from rmq.remoting.command import RemotingCommand

    body = b"x" * 1024
    ext = {
        "producerGroup": "BenchPG", "topic": topic, "defaultTopic": "TBW102",
        "defaultTopicQueueNums": "8", "queueId": "-1", "sysFlag": "0", "bornTimestamp": "0",
        "flag": "0", "properties": "TAGS\x01bench\x02",
    }  # fmt: skip
    count = [0]
    result: list[float] = []

    async def worker(client: RemotingClient, stop_at: float) -> None:
        while reactor.seconds() < stop_at:  # type: ignore[attr-defined]
            cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, body)
            resp = await client.invoke(addr, cmd, 10)
            if resp.code == 0:
                count[0] += 1

    async def main() -> None:
        clients = [RemotingClient(reactor) for _ in range(conns)]
        for c in clients:  # connect + warm up
            await c.invoke(addr, RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, body), 10)
        start = reactor.seconds()  # type: ignore[attr-defined]
        await defer.gatherResults(
            [defer.ensureDeferred(worker(c, start + seconds)) for c in clients]
        )
        result.append(count[0] / (reactor.seconds() - start))  # type: ignore[attr-defined]
        for c in clients:
            await c.close()

    d = defer.ensureDeferred(main())
    d.addBoth(lambda r: reactor.stop())  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return result[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--addr", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--conns", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "send":
        print(run_load(args.addr, args.conns, args.seconds, "BenchTopic"))
        return
    if args.mode == "consume":
        print(run_consume(args.addr))
        return
    tmp = tempfile.mkdtemp(prefix="rmq-bench-")
    procs, minimal, broker = start_children(tmp)
    try:
        rows = []
        for conns in (1, 16, 64):
            rates = []
            for addr in (minimal, broker):
                out = subprocess.run(
                    [sys.executable, __file__, "--mode", "send", "--addr", addr,
                     "--conns", str(conns), "--seconds", str(args.seconds)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                rates.append(float(out.stdout.strip().splitlines()[-1]))
            rows.append((conns, rates[0], rates[1]))
        consume = subprocess.run(
            [sys.executable, __file__, "--mode", "consume", "--addr", broker],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        crate = float(consume.stdout.strip().splitlines()[-1])
        print("1 KiB sync sends, ASYNC_FLUSH, loopback (msgs/s)")
        print(f"{'conns':>6} {'ceiling':>10} {'rmq':>10} {'ratio':>6}")
        for conns, ceil, rmq in rows:
            print(f"{conns:>6} {ceil:>10.0f} {rmq:>10.0f} {rmq / ceil:>6.2f}")
        best = max(r[1] for r in rows)
        print(
            f"consume (pull 32/call): {crate:.0f} msgs/s; ratio to best ceiling send rate "
            f"{crate / best:.2f}"
        )
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)


def run_consume(addr: str) -> float:
    """Pull every BenchTopic queue from 0 to its end (32 per call); returns msgs/s."""
    from twisted.internet import defer, reactor

    from rmq.remoting.client import RemotingClient
    from rmq.remoting.codes import RequestCode
    from rmq.remoting.command import RemotingCommand

    result: list[float] = []

    async def main() -> None:
        client = RemotingClient(reactor)
        total = 0
        start = reactor.seconds()  # type: ignore[attr-defined]
        for q in range(8):
            offset = 0
            while True:
                ext = {
                    "consumerGroup": "BenchCG", "topic": "BenchTopic", "queueId": str(q),
                    "queueOffset": str(offset), "maxMsgNums": "32", "sysFlag": "4",
                    "commitOffset": "0", "suspendTimeoutMillis": "0", "subscription": "*",
                    "subVersion": "0",
                }  # fmt: skip
                resp = await client.invoke(
                    addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), 10
                )
                if resp.code != 0:
                    break
                n = 0
                body = resp.body or b""
                pos = 0
                while pos < len(body):
                    pos += int.from_bytes(body[pos : pos + 4], "big")
                    n += 1
                total += n
                offset = int(resp.ext_fields["nextBeginOffset"])
        result.append(total / (reactor.seconds() - start))  # type: ignore[attr-defined]
        await client.close()

    d = defer.ensureDeferred(main())
    d.addBoth(lambda r: reactor.stop())  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return result[0]


if __name__ == "__main__":
    main()
