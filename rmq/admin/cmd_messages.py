"""Sub-commands that send, read, find or rewind messages (mqadmin's names and letters)."""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet.defer import Deferred

from rmq.admin import dataplane as dp
from rmq.admin.registry import Context, command
from rmq.admin.report import Report, Table, message_detail, message_json, parse_time
from rmq.client.model import MessageQueue, PullStatus
from rmq.common import message as m
from rmq.common.errors import MessageIllegal, MQClientError, RemoteError
from rmq.common.message import MessageExt, UniqueIdGenerator
from rmq.remoting.codes import ResponseCode

LONG_MAX = 2**63 - 1
PULL_BATCH = 32


def _detail_report(msgs: list[MessageExt]) -> Report:
    tables = [Table(["Key", "Value"], list(message_detail(msg))) for msg in msgs]
    return Report({"messages": [message_json(msg) for msg in msgs]}, tables)


def _list_report(msgs: list[MessageExt]) -> Report:
    table = Table(["Message ID", "Broker", "QID", "Offset", "Tags", "Body"])
    for msg in msgs:
        body = msg.body.decode("utf-8", "replace")
        table.rows.append(
            [
                msg.msg_id,
                f"{msg.store_host[0]}:{msg.store_host[1]}",
                msg.queue_id,
                msg.queue_offset,
                msg.tags,
                body if len(body) <= 60 else body[:57] + "...",
            ]
        )
    return Report({"messages": [message_json(msg) for msg in msgs]}, [table])


# --- queries ----------------------------------------------------------------------------------


def _by_id_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--msgId", required=True, help="offset message id(s), comma-separated")
    p.add_argument("-t", "--topic", help="topic, to look the id up as a unique key if needed")


@command("queryMsgById", "Show messages by offset message id.", _by_id_opts)
async def query_msg_by_id(ctx: Context, args: argparse.Namespace) -> Report:
    found: list[MessageExt] = []
    for raw in args.msgId.split(","):
        msg_id = raw.strip()
        try:
            found.append(await ctx.api.view_message(msg_id))
        except (MessageIllegal, RemoteError):
            if not args.topic:
                raise
            found.extend(await ctx.api.query_message(args.topic, msg_id, 32, 0, LONG_MAX, True))
    return _detail_report(found)


def _by_key_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-k", "--msgKey", required=True)
    p.add_argument("-b", "--beginTimestamp", default="0", help="epoch ms or yyyy-MM-dd#HH:mm:ss")
    p.add_argument("-e", "--endTimestamp", default=str(LONG_MAX))
    p.add_argument("-c", "--maxNum", type=int, default=64)


@command("queryMsgByKey", "Find messages of a topic by key.", _by_key_opts)
async def query_msg_by_key(ctx: Context, args: argparse.Namespace) -> Report:
    begin = parse_time(args.beginTimestamp, ctx.now_ms())
    end = parse_time(args.endTimestamp, ctx.now_ms())
    msgs = await ctx.api.query_message(args.topic, args.msgKey, args.maxNum, begin, end)
    return _list_report(msgs)


def _by_unique_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-i", "--msgId", required=True, help="the client (UNIQ_KEY) message id")


@command("queryMsgByUniqueKey", "Show a message by its client message id.", _by_unique_opts)
async def query_msg_by_unique_key(ctx: Context, args: argparse.Namespace) -> Report:
    msgs = await ctx.api.query_message(args.topic, args.msgId, 32, 0, LONG_MAX, True)
    if not msgs:
        raise RemoteError(ResponseCode.QUERY_NOT_FOUND, f"no message with id {args.msgId}")
    return _detail_report(msgs)


def _by_offset_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-b", "--brokerName", required=True)
    p.add_argument("-i", "--queueId", type=int, required=True)
    p.add_argument("-o", "--offset", type=int, required=True)


@command("queryMsgByOffset", "Show the message at a queue offset.", _by_offset_opts)
async def query_msg_by_offset(ctx: Context, args: argparse.Namespace) -> Report:
    addr = await ctx.api.broker_addr(args.brokerName)
    target = dp.Target(MessageQueue(args.topic, args.brokerName, args.queueId), addr)
    result = await dp.pull(ctx.api, target, dp.TOOLS_GROUP, args.offset, 1, ctx.now_ms())
    if result.status is not PullStatus.FOUND or not result.messages:
        raise RemoteError(
            ResponseCode.PULL_NOT_FOUND,
            f"no message at offset {args.offset} ({result.status.value}, "
            f"queue holds {result.min_offset}..{result.max_offset})",
        )
    return _detail_report(result.messages[:1])


# --- reading ranges ----------------------------------------------------------------------------


def _readable(
    ctx: Context, topic: str, broker: str | None, queue_id: int | None
) -> Deferred[list[dp.Target]]:
    def pick(route: Any) -> list[dp.Target]:
        targets = dp.queues(route, topic, write=False)
        if broker is not None:
            targets = [t for t in targets if t.mq.broker_name == broker]
        if queue_id is not None:
            targets = [t for t in targets if t.mq.queue_id == queue_id]
        if not targets:
            raise MQClientError(f"no readable queue of topic [{topic}] matches")
        return targets

    return ctx.api.topic_route(topic).addCallback(pick)


async def _scan_queue(
    ctx: Context,
    target: dp.Target,
    start: int,
    limit: int,
    end_ms: int,
    expression: str,
) -> tuple[list[MessageExt], int]:
    """Pull from ``start`` until ``limit`` messages, the queue end or ``end_ms``."""
    out: list[MessageExt] = []
    offset = start
    while len(out) < limit:
        want = min(PULL_BATCH, limit - len(out))
        result = await dp.pull(ctx.api, target, dp.TOOLS_GROUP, offset, want, 0, expression)
        if result.status is PullStatus.NO_NEW_MSG or result.next_begin_offset == offset:
            break
        if result.status is not PullStatus.FOUND:
            offset = result.next_begin_offset
            continue
        for msg in result.messages:
            if msg.store_timestamp > end_ms or len(out) >= limit:
                return out, offset
            out.append(msg)
            offset = msg.queue_offset + 1
        offset = max(offset, result.next_begin_offset) if len(out) < limit else offset
    return out, offset


def _consume_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)
    p.add_argument(
        "-g",
        "--consumerGroup",
        help="COMMITS this group's offsets, unlike mqadmin's consumeMessage (which never "
        "commits): without -o/-s each queue starts at the group's committed offset, and "
        "every queue read gets the offset after its last pulled message committed, so "
        "running the command again shows only newer messages",
    )
    p.add_argument("-b", "--brokerName")
    p.add_argument("-i", "--queueId", type=int)
    p.add_argument("-o", "--offset", type=int, help="start offset (one queue with -b and -i)")
    p.add_argument("-s", "--beginTimestamp", help="start from the first message stored then")
    p.add_argument("-e", "--endTimestamp", help="stop at messages stored after this")
    p.add_argument("-c", "--messageNumber", type=int, default=128)


@command(
    "consumeMessage",
    "Pull messages of a topic; with -g, also commit that group's offsets (mqadmin does not).",
    _consume_opts,
)
async def consume_message(ctx: Context, args: argparse.Namespace) -> Report:
    api = ctx.api
    now = ctx.now_ms()
    end = parse_time(args.endTimestamp, now) if args.endTimestamp else LONG_MAX
    targets = await _readable(ctx, args.topic, args.brokerName, args.queueId)
    msgs: list[MessageExt] = []
    committed: dict[str, int] = {}
    for target in targets:
        remaining = args.messageNumber - len(msgs)
        if remaining <= 0:
            break
        mq = target.mq
        if args.offset is not None:
            start = args.offset
        elif args.beginTimestamp:
            ts = parse_time(args.beginTimestamp, now)
            start = await api.client.search_offset(target.addr, mq, ts, api.timeout)
        else:
            start = -1
            if args.consumerGroup:
                start = await api.client.query_consumer_offset(
                    target.addr, args.consumerGroup, mq, api.timeout
                )
            if start < 0:
                start = await api.client.get_min_offset(target.addr, mq, api.timeout)
        got, next_offset = await _scan_queue(ctx, target, start, remaining, end, "*")
        msgs.extend(got)
        if args.consumerGroup:
            await api.client.update_consumer_offset(
                target.addr, args.consumerGroup, mq, next_offset, api.timeout
            )
            committed[f"{mq.broker_name}:{mq.queue_id}"] = next_offset
    report = _list_report(msgs)
    report.data["committed"] = committed
    report.lines.append(f"consumed {len(msgs)} message(s).")
    return report


def _print_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-s", "--subExpression", default="*", help="tag expression, e.g. 'a || b'")
    p.add_argument("-b", "--beginTimestamp", help="from the first message stored then")
    p.add_argument("-e", "--endTimestamp", help="up to messages stored then")
    p.add_argument("-d", "--printBody", type=str, default="true", help="true/false")
    p.add_argument("-l", "--limit", type=int, default=10_000, help="at most this many per queue")


@command(
    "printMsg", "Print every message of a topic (optionally within a time range).", _print_opts
)
async def print_msg(ctx: Context, args: argparse.Namespace) -> Report:
    api = ctx.api
    now = ctx.now_ms()
    end = parse_time(args.endTimestamp, now) if args.endTimestamp else LONG_MAX
    targets = await _readable(ctx, args.topic, None, None)
    msgs: list[MessageExt] = []
    for target in targets:
        if args.beginTimestamp:
            ts = parse_time(args.beginTimestamp, now)
            start = await api.client.search_offset(target.addr, target.mq, ts, api.timeout)
        else:
            start = await api.client.get_min_offset(target.addr, target.mq, api.timeout)
        got, _ = await _scan_queue(ctx, target, start, args.limit, end, args.subExpression)
        msgs.extend(got)
    report = _list_report(msgs)
    if args.printBody.lower() != "true":
        for row in report.tables[0].rows:
            row[-1] = "-"  # type: ignore[index]
    report.lines.append(f"{len(msgs)} message(s).")
    return report


# --- offsets ------------------------------------------------------------------------------------


def _reset_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-t", "--topic", required=True)
    p.add_argument(
        "-s", "--timestamp", required=True, help="epoch ms, now, yyyy-MM-dd#HH:mm:ss:SSS"
    )
    p.add_argument("-f", "--force", default="true", help="true: also move offsets forward")


@command("resetOffsetByTime", "Move a group's offsets on a topic to a point in time.", _reset_opts)
async def reset_offset_by_time(ctx: Context, args: argparse.Namespace) -> Report:
    api = ctx.api
    ts = -1 if args.timestamp.strip() == "-1" else parse_time(args.timestamp, ctx.now_ms())
    force = str(args.force).lower() == "true"
    masters = await api.topic_masters(args.topic)
    table = Table(["Broker Name", "QID", "Offset"])
    rows: list[dict[str, Any]] = []
    mode = "broker"
    for name, addr in sorted(masters.items()):
        try:
            offsets = await api.reset_offset(addr, args.topic, args.group, ts, force)
        except RemoteError as exc:
            if exc.code not in (
                ResponseCode.CONSUMER_NOT_ONLINE,
                ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
            ):
                raise
            mode = "offline"
            offsets = await _reset_offline(ctx, name, addr, args.topic, args.group, ts, force)
        for mq, off in sorted(offsets.items()):
            table.rows.append([mq.broker_name, mq.queue_id, off])
            rows.append({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": off})
    data = {"group": args.group, "topic": args.topic, "timestamp": ts, "mode": mode, "queues": rows}
    return Report(data, [table], [f"reset offset of [{args.group}] on [{args.topic}] ({mode})."])


async def _reset_offline(
    ctx: Context, name: str, addr: str, topic: str, group: str, ts: int, force: bool
) -> dict[MessageQueue, int]:
    """Without online consumers: search each queue's offset by time and commit it directly."""
    api = ctx.api
    stats = await api.topic_stats(addr, topic)
    out: dict[MessageQueue, int] = {}
    for mq in sorted(stats):
        if ts < 0:
            target = await api.client.get_max_offset(addr, mq, api.timeout)
        else:
            target = await api.client.search_offset(addr, mq, ts, api.timeout)
        current = await api.client.query_consumer_offset(addr, group, mq, api.timeout)
        if not force and 0 <= current < target:
            target = current
        await api.client.update_consumer_offset(addr, group, mq, max(target, 0), api.timeout)
        out[mq] = max(target, 0)
    return out


# --- sending ---------------------------------------------------------------------------------


def _send_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-p", "--body", required=True, help="message body (UTF-8 text)")
    p.add_argument("-k", "--key", help="message keys (space-separated)")
    p.add_argument("-c", "--tags")
    p.add_argument("-b", "--broker", help="send to this broker name")
    p.add_argument("-i", "--qid", type=int, help="send to this queue id (needs -b)")
    p.add_argument("-g", "--producerGroup", default=dp.TOOLS_PRODUCER)


@command("sendMessage", "Send one message.", _send_opts)
async def send_message(ctx: Context, args: argparse.Namespace) -> Report:
    route = await dp.send_route(ctx.api, args.topic)
    targets = dp.queues(route, args.topic, write=True)
    targets = [
        dp.Target(MessageQueue(args.topic, t.mq.broker_name, t.mq.queue_id), t.addr)
        for t in targets
    ]
    if args.broker:
        targets = [t for t in targets if t.mq.broker_name == args.broker]
    if args.qid is not None:
        targets = [t for t in targets if t.mq.queue_id == args.qid]
    if not targets:
        raise MQClientError(f"no writable queue of topic [{args.topic}] matches")
    now = ctx.now_ms()
    target = targets[now % len(targets)]
    props = {m.UNIQ_KEY: UniqueIdGenerator(ctx.reactor.seconds).next_id(), m.WAIT: "true"}
    if args.tags:
        props[m.TAGS] = args.tags
    if args.key:
        props[m.KEYS] = args.key
    result = await dp.send(
        ctx.api, target, args.body.encode("utf-8"), props, now, args.producerGroup
    )
    mq = result.message_queue
    table = Table(["Broker Name", "QID", "Send Result", "MsgId", "OffsetMsgId", "Queue Offset"])
    table.rows.append(
        [
            mq.broker_name,
            mq.queue_id,
            result.status.value,
            result.msg_id,
            result.offset_msg_id,
            result.queue_offset,
        ]
    )
    data = {
        "brokerName": mq.broker_name,
        "queueId": mq.queue_id,
        "sendStatus": result.status.value,
        "msgId": result.msg_id,
        "offsetMsgId": result.offset_msg_id,
        "queueOffset": result.queue_offset,
    }
    return Report(data, [table])
