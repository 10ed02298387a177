"""Client benchmark: rmq client send/consume rates beside the official C++ client's, same run.

Starts a name server and a broker on 127.0.0.1 (OS-chosen ports, temporary store) unless
``--namesrv`` is given, then measures:

* rmq producer: messages/s with N sends in flight (``--in-flight 1,16,128``);
* rmq push consumer: messages/s draining everything sent (first to last delivery);
* C++ producer (rocketmq==0.4.4, child process): sync and async sends/s;
* C++ push consumer: messages/s over the same kind of backlog.

    python benchmarks/client_bench.py --messages 20000 --size 128
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any

from twisted.internet import defer, task
from twisted.internet.defer import Deferred

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from rmq.client import (  # noqa: E402
    ClientConfig,
    ConsumeFromWhere,
    ConsumeStatus,
    Message,
    Producer,
    ProducerConfig,
    PushConsumer,
    PushConsumerConfig,
)
from tests.integration.daemons import Daemon, start_twistd  # noqa: E402
from tests.interop.driver import run_cpp_driver  # noqa: E402


async def start_daemons(reactor: Any, tmp: str) -> tuple[Daemon, Daemon]:
    ns_conf = os.path.join(tmp, "namesrv.yaml")
    with open(ns_conf, "w") as f:
        f.write(f"kvConfigPath: {tmp}/kvConfig.json\nconfigStorePath: {tmp}/ns.properties\n")
    ns = await start_twistd(
        "rmq-namesrv", ["--config", ns_conf, "--listen", "tcp:0:interface=127.0.0.1"],
        os.path.join(tmp, "ns"), reactor,
    )  # fmt: skip
    conf = os.path.join(tmp, "broker.yaml")
    with open(conf, "w") as f:
        f.write("brokerName: bench\nbrokerIP1: 127.0.0.1\nmappedFileSizeCommitLog: 134217728\n")
    broker = await start_twistd(
        "rmq-broker",
        ["--config", conf, "--listen", "tcp:0:interface=127.0.0.1", "--namesrv", ns.address,
         "--store", os.path.join(tmp, "store")],
        os.path.join(tmp, "broker"), reactor,
    )  # fmt: skip
    return ns, broker


async def rmq_send(
    reactor: Any, namesrv: str, topic: str, n: int, size: int, inflight: int
) -> float:
    cfg = ProducerConfig(f"BenchP{inflight}", max_in_flight=inflight, default_topic_queue_nums=8)
    producer = Producer(reactor, cfg, ClientConfig(namesrv, instance_name=f"bp{inflight}"))
    await producer.start()
    body = b"x" * size
    await producer.send(Message(topic, body))  # route + connection warm-up
    begin = reactor.seconds()
    sends = [producer.send(Message(topic, body)) for _ in range(n)]
    await defer.gatherResults(sends, consumeErrors=True)
    elapsed: float = reactor.seconds() - begin
    await producer.shutdown()
    return n / elapsed


async def rmq_consume(reactor: Any, namesrv: str, topic: str, expected: int) -> float:
    times: list[float] = []
    done: Deferred[None] = Deferred()

    def listener(msgs: list[Any], ctx: Any) -> ConsumeStatus:
        times.append(reactor.seconds())
        if len(times) >= expected and not done.called:
            done.callback(None)
        return ConsumeStatus.CONSUME_SUCCESS

    cfg = PushConsumerConfig(
        "BenchC", consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        consume_concurrency=64,
    )  # fmt: skip
    consumer = PushConsumer(reactor, cfg, ClientConfig(namesrv, instance_name="bc"))
    consumer.subscribe(topic, "*")
    consumer.register_listener(listener)
    await consumer.start()
    await done
    await consumer.shutdown()
    return (len(times) - 1) / max(times[-1] - times[0], 1e-9)


async def cpp_rates(reactor: Any, namesrv: str, tmp: str, n: int, size: int) -> dict[str, float]:
    out: dict[str, float] = {}
    log_dir = os.path.join(tmp, "cpp")
    for mode in ("sync", "async"):
        r = await run_cpp_driver(
            reactor,
            ["produce", "--namesrv", namesrv, "--topic", "BenchCpp", "--group", f"CppP{mode}",
             "--mode", mode, "--count", str(n), "--body-size", str(size), "--log-level", "error"],
            log_dir, 600.0,
        )  # fmt: skip
        summary = r.summary or {}
        if r.ok and summary.get("elapsed"):
            out[f"cpp send {mode}"] = n / float(summary["elapsed"])
    r = await run_cpp_driver(
        reactor,
        ["push", "--namesrv", namesrv, "--topic", "BenchCpp", "--group", "CppC",
         "--expect", str(2 * n), "--idle-timeout", "20", "--log-level", "error"],
        log_dir, 600.0,
    )  # fmt: skip
    stamps = sorted(float(e["received_at"]) for e in r.messages)
    if len(stamps) > 1:
        out["cpp consume"] = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
    return out


async def main(reactor: Any, args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp(prefix="rmq-client-bench-")
    daemons: list[Daemon] = []
    try:
        namesrv = args.namesrv
        if not namesrv:
            ns, broker = await start_daemons(reactor, tmp)
            daemons = [broker, ns]
            namesrv = ns.address
        rows: list[tuple[str, float]] = []
        inflights = [int(x) for x in args.in_flight.split(",")]
        for n in inflights:
            rate = await rmq_send(reactor, namesrv, "BenchRmq", args.messages, args.size, n)
            rows.append((f"rmq send, {n} in flight", rate))
        total = len(inflights) * (args.messages + 1)
        rows.append(("rmq consume (push)", await rmq_consume(reactor, namesrv, "BenchRmq", total)))
        if not args.no_cpp:
            cpp = await cpp_rates(reactor, namesrv, tmp, args.cpp_messages, args.size)
            rows.extend(cpp.items())
        print(
            f"\nmessages={args.messages} (C++: {args.cpp_messages}) body={args.size} B, "
            f"broker on loopback"
        )
        print(f"{'measure':32} {'msgs/s':>10}")
        for name, rate in rows:
            print(f"{name:32} {rate:10.0f}")
    finally:
        for d in daemons:
            await d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", default="", help="use running daemons instead")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--cpp-messages", type=int, default=5000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--in-flight", default="1,16,128")
    parser.add_argument("--no-cpp", action="store_true")
    options = parser.parse_args()
    task.react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
