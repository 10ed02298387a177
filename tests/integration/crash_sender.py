"""Child process for the crash test: sends numbered messages and prints each acknowledgement.

``python crash_sender.py BROKER_ADDR TOPIC QUEUES COUNT WINDOW`` keeps ``WINDOW`` SEND_MESSAGE
requests in flight (each one waited for, as a sync send), spreads them over ``QUEUES`` queues,
and prints ``ACK <i> <queueId> <queueOffset> <msgId>`` (flushed) for every success, so the
parent can kill the broker after a known number of acknowledgements. It exits at the first
failure (the broker going away) after printing ``ERR <i> <reason>``.
"""

from __future__ import annotations

import sys

from twisted.internet import defer, task

from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand


def body_of(i: int) -> bytes:
    """The body of message ``i``: distinctive and long enough to span several pages."""
    return (f"crash-{i:06d}-" * 40).encode()


async def run(reactor: object, addr: str, topic: str, queues: int, count: int, window: int) -> None:
    client = RemotingClient(reactor)
    numbers = iter(range(count))
    failed: list[str] = []

    async def worker() -> None:
        for i in numbers:
            if failed:
                return
            ext = {
                "producerGroup": "CrashPG", "topic": topic, "defaultTopic": "TBW102",
                "defaultTopicQueueNums": str(queues), "queueId": str(i % queues),
                "sysFlag": "0", "bornTimestamp": "0", "flag": "0",
                "properties": f"KEYS\x01k{i}\x02",
            }  # fmt: skip
            cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, body_of(i))
            try:
                resp = await client.invoke(addr, cmd, 5.0)
            except Exception as exc:  # the broker was killed
                failed.append(str(exc))
                print(f"ERR {i} {exc}", flush=True)
                return
            if resp.code != 0:
                failed.append(resp.remark or "")
                print(f"ERR {i} code={resp.code} {resp.remark}", flush=True)
                return
            e = resp.ext_fields
            print(f"ACK {i} {e['queueId']} {e['queueOffset']} {e['msgId']}", flush=True)

    await defer.gatherResults([defer.Deferred.fromCoroutine(worker()) for _ in range(window)])
    print("DONE", flush=True)
    await client.close()


def main() -> None:
    addr, topic, queues, count, window = sys.argv[1:6]
    task.react(
        lambda r: defer.Deferred.fromCoroutine(
            run(r, addr, topic, int(queues), int(count), int(window))
        )
    )


if __name__ == "__main__":
    main()
