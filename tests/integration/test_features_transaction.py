"""Integration: transactions at the wire level against real ``twistd rmq-namesrv``/``rmq-broker``.

A RemotingClient plays a transactional producer: it heartbeats its producer group, sends half
messages (SEND_MESSAGE_V2 with TRAN_MSG/PGROUP), commits one and rolls one back with
END_TRANSACTION (oneway, as Java does), and answers the broker's CHECK_TRANSACTION_STATE for the
third with a commit. A pull then sees exactly the committed two.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor, task
from twisted.trial.unittest import TestCase

from rmq.common.message import decode_messages, encode_properties
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from tests.integration.cluster import start_cluster

TOPIC = "TxTopic"
GROUP = "TxProducerGroup"
COMMIT, ROLLBACK = 8, 12
HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC"
SYS_TRANS_GROUP = "CID_RMQ_SYS_TRANS"


class TransactionDaemonTests(TestCase):
    timeout = 120

    async def start(self) -> None:
        cluster = await start_cluster(
            self, "transactionCheckInterval: 1000\ntransactionTimeOut: 1000\n"
        )
        self.ns, self.broker = cluster.ns, cluster.broker
        self.checks: list[RemotingCommand] = []
        dispatcher = Dispatcher()
        dispatcher.register(RequestCode.CHECK_TRANSACTION_STATE, self.on_check)
        self.client = RemotingClient(reactor, dispatcher)
        self.addCleanup(self.client.close)

    def on_check(self, ctx: Any, request: RemotingCommand) -> None:
        """The producer's check listener: commit whatever the broker asks about."""
        self.checks.append(request)
        ext = request.ext_fields
        end = self.end_request(
            int(ext["tranStateTableOffset"]), int(ext["commitLogOffset"]), COMMIT, True
        )
        ctx.invoke_oneway(end)

    def end_request(self, qoff: int, coff: int, state: int, from_check: bool) -> RemotingCommand:
        ext = {
            "producerGroup": GROUP,
            "tranStateTableOffset": str(qoff),
            "commitLogOffset": str(coff),
            "commitOrRollback": str(state),
            "fromTransactionCheck": "true" if from_check else "false",
            "msgId": "K",
        }
        return RemotingCommand.request(RequestCode.END_TRANSACTION, ext, oneway=True)

    async def send_half(self, key: str) -> tuple[int, int]:
        props = {"TRAN_MSG": "true", "PGROUP": GROUP, "UNIQ_KEY": key, "WAIT": "true"}
        ext = {
            "a": GROUP, "b": TOPIC, "c": "TBW102", "d": "4", "e": "0", "f": "4",
            "g": str(int(reactor.seconds() * 1000)), "h": "0",
            "i": encode_properties(props), "j": "0", "k": "false",
        }  # fmt: skip
        cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, key.encode())
        resp = await self.client.invoke(self.broker.address, cmd, 5.0)
        self.assertEqual(resp.code, 0, resp.remark)
        offset = int(resp.ext_fields["msgId"][-16:], 16)
        return int(resp.ext_fields["queueOffset"]), offset

    async def pull(self) -> list[bytes]:
        ext = {
            "consumerGroup": "TxConsumer", "topic": TOPIC, "queueId": "0", "queueOffset": "0",
            "maxMsgNums": "32", "sysFlag": "4", "commitOffset": "0",
            "suspendTimeoutMillis": "0", "subscription": "*", "subVersion": "0",
        }  # fmt: skip
        cmd = RemotingCommand.request(RequestCode.PULL_MESSAGE, ext)
        resp = await self.client.invoke(self.broker.address, cmd, 5.0)
        if resp.code != 0:
            return []
        return sorted(m.body for m in decode_messages(resp.body or b""))

    async def half_queue_resolved(self) -> bool:
        """The check progress of CID_RMQ_SYS_TRANS reached the end of the half queue, which
        holds the three halves and one check copy per check sent."""
        queue = {"topic": HALF_TOPIC, "queueId": "0"}
        query = dict(queue, consumerGroup=SYS_TRANS_GROUP)
        done = await self.client.invoke(
            self.broker.address,
            RemotingCommand.request(RequestCode.QUERY_CONSUMER_OFFSET, query),
            5.0,
        )
        end = await self.client.invoke(
            self.broker.address, RemotingCommand.request(RequestCode.GET_MAX_OFFSET, queue), 5.0
        )
        self.assertEqual(end.code, 0, end.remark)
        if done.code != 0:  # no progress committed yet
            return False
        half_max = int(end.ext_fields["offset"])
        self.assertLessEqual(int(done.ext_fields["offset"]), half_max)
        return int(done.ext_fields["offset"]) == half_max >= 3 + len(self.checks)

    async def test_commit_rollback_and_check(self) -> None:
        """Committed (directly or after a check-back) messages are pulled; rolled back never."""
        await self.start()
        heartbeat = {"clientID": "it-tx@1", "producerDataSet": [{"groupName": GROUP}]}
        hb = RemotingCommand.request(RequestCode.HEART_BEAT, body=json.dumps(heartbeat).encode())
        self.assertEqual((await self.client.invoke(self.broker.address, hb, 5.0)).code, 0)
        committed = await self.send_half("commit-me")
        rolled = await self.send_half("roll-me-back")
        await self.send_half("check-me")
        await self.client.invoke_oneway(
            self.broker.address, self.end_request(*committed, COMMIT, False)
        )
        await self.client.invoke_oneway(
            self.broker.address, self.end_request(*rolled, ROLLBACK, False)
        )
        bodies: list[bytes] = []
        for _ in range(60):
            await task.deferLater(reactor, 0.2, lambda: None)
            bodies = await self.pull()
            if len(bodies) >= 2 and self.checks:
                break
        self.assertEqual(bodies, [b"check-me", b"commit-me"])
        self.assertGreaterEqual(len(self.checks), 1)
        self.assertTrue(all(c.ext_fields.get("msgId") == "check-me" for c in self.checks))
        # Wait (bounded) until the check service has resolved every half message, check copies
        # included: nothing is left for a later pass to ask about or commit again.
        deadline = reactor.seconds() + 20.0
        while not await self.half_queue_resolved():
            self.assertLess(reactor.seconds(), deadline, "half queue never fully resolved")
            await task.deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(await self.pull(), [b"check-me", b"commit-me"])
        self.assertEqual({c.ext_fields["msgId"] for c in self.checks}, {"check-me"})
