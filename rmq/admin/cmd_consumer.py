"""``consumerStatus``: a consumer group's clients as they describe themselves (mqadmin's name).

The online clients come from GET_CONSUMER_CONNECTION_LIST on every master; each one is then
asked for its ConsumerRunningInfo with GET_CONSUMER_RUNNING_INFO (307), which the broker
forwards to the client. Without ``-i`` one row per client; with ``-i`` the running info of
that client (properties, subscriptions, queues).
"""

from __future__ import annotations

import argparse
from typing import Any

from rmq.admin.registry import Context, command
from rmq.admin.report import Report, Table, format_ms
from rmq.common import fastjson
from rmq.common.errors import MQClientError, RemoteError
from rmq.headers import GetConsumerRunningInfoRequestHeader
from rmq.remoting.codes import RequestCode, ResponseCode

__all__ = ["consumer_status", "plain", "running_info_of"]


def plain(value: Any) -> Any:
    """A fastjson value made JSON-ready: object map keys become their compact JSON text."""
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else fastjson.dumps(_key(k)): plain(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _key(key: Any) -> Any:
    return key.as_dict() if isinstance(key, fastjson.ObjectKey) else key


def running_info_of(body: bytes | None) -> Any:
    """The parsed ConsumerRunningInfo (object keys allowed), or the raw text when unreadable."""
    text = (body or b"").decode("utf-8", "replace")
    try:
        return fastjson.loads(text)
    except ValueError:
        return text


def _queue_rows(info: Any) -> list[dict[str, Any]]:
    """mqTable as rows: the queue's topic, broker and id next to its process-queue state."""
    table = info.get("mqTable") if isinstance(info, dict) else None
    rows: list[dict[str, Any]] = []
    for key, state in (table or {}).items():
        mq = _key(key) if isinstance(key, fastjson.ObjectKey) else {}
        row = {"topic": mq.get("topic"), "brokerName": mq.get("brokerName")}
        row["queueId"] = mq.get("queueId")
        row.update(state if isinstance(state, dict) else {})
        rows.append(row)
    rows.sort(key=lambda r: (str(r["topic"]), str(r["brokerName"]), int(r["queueId"] or 0)))
    return rows


def _opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--consumerGroup", required=True)
    p.add_argument("-i", "--clientId", default=None, help="show this client's running info")
    p.add_argument("-s", "--jstackEnable", action="store_true", help="ask for a thread dump")


@command("consumerStatus", "Ask a consumer group's clients for their running info.", _opts)
async def consumer_status(ctx: Context, args: argparse.Namespace) -> Report:
    group = args.consumerGroup
    masters = await ctx.api.all_masters()
    online: dict[str, tuple[str, Any]] = {}
    for addr in sorted(masters.values()):
        try:
            cc = await ctx.api.consumer_connection(addr, group)
        except RemoteError as exc:
            if exc.code == ResponseCode.CONSUMER_NOT_ONLINE:
                continue
            raise
        for c in cc.connections:
            online.setdefault(c.client_id, (addr, c))
    if not online:
        raise RemoteError(
            ResponseCode.CONSUMER_NOT_ONLINE, f"the consumer group[{group}] not online"
        )
    targets = sorted(online)
    if args.clientId is not None:
        if args.clientId not in online:
            raise MQClientError(f"client {args.clientId} of {group} is not online")
        targets = [args.clientId]
    clients: list[dict[str, Any]] = []
    for cid in targets:
        addr, conn = online[cid]
        header = GetConsumerRunningInfoRequestHeader(group, cid, bool(args.jstackEnable))
        resp = await ctx.api.invoke(addr, RequestCode.GET_CONSUMER_RUNNING_INFO, header)
        info = running_info_of(resp.body) if resp.code == ResponseCode.SUCCESS else None
        clients.append(
            {
                "clientId": cid,
                "brokerAddr": addr,
                "language": conn.language,
                "version": conn.version,
                "code": resp.code,
                "remark": resp.remark,
                "runningInfo": info,
            }
        )
    data = {
        "group": group,
        "clients": [{**c, "runningInfo": plain(c["runningInfo"])} for c in clients],
    }
    if args.clientId is None:
        return _summary(data, clients)
    return _detail(data, clients[0])


def _summary(data: dict[str, Any], clients: list[dict[str, Any]]) -> Report:
    table = Table(["ClientId", "Language", "Version", "Subscriptions", "Queues", "Status"])
    for c in clients:
        info = c["runningInfo"]
        subs = info.get("subscriptionSet") if isinstance(info, dict) else None
        status = "OK" if c["code"] == ResponseCode.SUCCESS else f"CODE {c['code']}: {c['remark']}"
        table.rows.append(
            [
                c["clientId"],
                c["language"],
                c["version"],
                len(subs or []),
                len(_queue_rows(info)),
                status,
            ]
        )
    return Report(data, [table])


def _detail(data: dict[str, Any], client: dict[str, Any]) -> Report:
    if client["code"] != ResponseCode.SUCCESS:
        raise RemoteError(client["code"], client["remark"] or "")
    info = client["runningInfo"]
    if not isinstance(info, dict):
        return Report(data, [], [str(info)])
    props = Table(["Property", "Value"])
    props.rows.extend([k, v] for k, v in sorted((info.get("properties") or {}).items()))
    subs = Table(["Topic", "SubExpression", "ExpressionType"])
    for s in info.get("subscriptionSet") or []:
        subs.rows.append([s.get("topic"), s.get("subString"), s.get("expressionType")])
    queues = Table(
        ["Topic", "Broker Name", "QID", "CommitOffset", "CachedMsgs", "Locked", "LastPull"]
    )
    for r in _queue_rows(info):
        queues.rows.append(
            [
                r["topic"],
                r["brokerName"],
                r["queueId"],
                r.get("commitOffset"),
                r.get("cachedMsgCount"),
                r.get("locked"),
                format_ms(int(r.get("lastPullTimestamp") or 0)),
            ]
        )
    lines = [f"jstack:\n{info['jstack']}"] if info.get("jstack") else []
    return Report(data, [props, subs, queues], lines)
