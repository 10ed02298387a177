"""Sub-commands for topics, clusters, brokers, groups and name servers (mqadmin's names)."""

from __future__ import annotations

import argparse
from typing import Any

from rmq.admin.api import OffsetWrapper
from rmq.admin.registry import Context, command, masters_of, target_options
from rmq.admin.report import Report, Table, format_ms
from rmq.client.model import MessageQueue
from rmq.common.errors import MQClientError, RemoteError, RMQError
from rmq.remoting.codes import ResponseCode

ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return lowered == "true"


def _kv_rows(table: dict[str, Any]) -> list[tuple[str, Any]]:
    return sorted(table.items())


# --- topics ------------------------------------------------------------------------------


def _update_topic_opts(p: argparse.ArgumentParser) -> None:
    target_options(p)
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-r", "--readQueueNums", type=int, default=8)
    p.add_argument("-w", "--writeQueueNums", type=int, default=8)
    p.add_argument("-p", "--perm", type=int, default=6, help="2 write, 4 read, 6 both")
    p.add_argument("-o", "--order", type=_bool, default=False, help="true for an ordered topic")


@command(
    "updateTopic",
    "Create or update a topic on a broker or every master of a cluster.",
    _update_topic_opts,
)
async def update_topic(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await masters_of(ctx, args)
    table = Table(["Broker", "Addr", "Topic", "Read", "Write", "Perm", "Order"])
    for name, addr in sorted(masters.items()):
        await ctx.api.create_topic(
            addr, args.topic, args.readQueueNums, args.writeQueueNums, args.perm, args.order
        )
        table.rows.append(
            [name, addr, args.topic, args.readQueueNums, args.writeQueueNums, args.perm, args.order]
        )
    if args.order and args.clusterName:
        conf = ";".join(f"{n}:{args.writeQueueNums}" for n in sorted(masters))
        await ctx.api.put_kv_config(ORDER_TOPIC_CONFIG, args.topic, conf)
    data = {
        "topic": args.topic,
        "readQueueNums": args.readQueueNums,
        "writeQueueNums": args.writeQueueNums,
        "perm": args.perm,
        "order": args.order,
        "brokers": dict(sorted(masters.items())),
    }
    return Report(data, [table], [f"create topic to {len(masters)} broker(s) success."])


def _delete_topic_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-c", "--clusterName", required=True)


@command(
    "deleteTopic",
    "Delete a topic from every master of a cluster and the name servers.",
    _delete_topic_opts,
)
async def delete_topic(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await ctx.api.master_addrs(args.clusterName)
    for addr in sorted(masters.values()):
        await ctx.api.delete_topic_in_broker(addr, args.topic)
    await ctx.api.delete_topic_in_namesrv(args.topic, args.clusterName)
    data = {"topic": args.topic, "cluster": args.clusterName, "brokers": sorted(masters.values())}
    return Report(
        data, [], [f"delete topic [{args.topic}] from cluster [{args.clusterName}] success."]
    )


@command("topicList", "List every topic the name server knows.", lambda p: None)
async def topic_list(ctx: Context, args: argparse.Namespace) -> Report:
    topics = await ctx.api.topic_list()
    names = sorted(set(topics.topicList))
    return Report({"topics": names}, [Table(["Topic"], [[n] for n in names])])


def _topic_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True)


@command("topicRoute", "Show the brokers and queues of a topic.", _topic_opt)
async def topic_route(ctx: Context, args: argparse.Namespace) -> Report:
    route = await ctx.api.topic_route(args.topic)
    brokers = Table(["Cluster", "Broker Name", "BID", "Addr"])
    for b in sorted(route.brokerDatas, key=lambda b: b.brokerName):
        for bid, addr in sorted(b.brokerAddrs.items()):
            brokers.rows.append([b.cluster, b.brokerName, bid, addr])
    queues = Table(["Broker Name", "Read Queues", "Write Queues", "Perm", "SysFlag"])
    for q in sorted(route.queueDatas, key=lambda q: q.brokerName):
        queues.rows.append(
            [q.brokerName, q.readQueueNums, q.writeQueueNums, q.perm, q.topicSysFlag]
        )
    data = route.to_obj()
    data["brokerDatas"] = [
        {**b.to_obj(), "brokerAddrs": {str(k): v for k, v in b.brokerAddrs.items()}}
        for b in route.brokerDatas
    ]
    return Report(data, [brokers, queues])


@command(
    "topicStatus", "Show min/max offset and last update time of each queue of a topic.", _topic_opt
)
async def topic_status(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await ctx.api.topic_masters(args.topic)
    table = Table(["Broker Name", "QID", "Min Offset", "Max Offset", "Last Updated"])
    rows: list[dict[str, Any]] = []
    for name, addr in sorted(masters.items()):
        stats = await ctx.api.topic_stats(addr, args.topic)
        for mq, off in sorted(stats.items()):
            ts = off.last_update_timestamp
            table.rows.append([name, mq.queue_id, off.min_offset, off.max_offset, format_ms(ts)])
            rows.append(
                {
                    "brokerName": name,
                    "queueId": mq.queue_id,
                    "minOffset": off.min_offset,
                    "maxOffset": off.max_offset,
                    "lastUpdateTimestamp": ts,
                }
            )
    return Report({"topic": args.topic, "queues": rows}, [table])


# --- cluster and brokers ------------------------------------------------------------------


def _cluster_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--clusterName", help="only this cluster")


@command("clusterList", "List clusters, their brokers and each broker's figures.", _cluster_opts)
async def cluster_list(ctx: Context, args: argparse.Namespace) -> Report:
    info = await ctx.api.cluster_info()
    table = Table(["Cluster Name", "Broker Name", "BID", "Addr", "Version", "InTPS", "OutTPS"])
    rows: list[dict[str, Any]] = []
    for cluster, names in sorted(info.clusterAddrTable.items()):
        if args.clusterName and cluster != args.clusterName:
            continue
        for name in sorted(names):
            data = info.brokerAddrTable.get(name)
            if data is None:
                continue
            for bid, addr in sorted(data.brokerAddrs.items()):
                try:
                    stats = await ctx.api.broker_runtime_info(addr)
                except RMQError:
                    stats = {}
                version = stats.get("brokerVersionDesc")
                in_tps, out_tps = stats.get("putTps"), stats.get("getTransferedTps")
                table.rows.append([cluster, name, bid, addr, version, in_tps, out_tps])
                rows.append(
                    {
                        "cluster": cluster,
                        "brokerName": name,
                        "brokerId": bid,
                        "addr": addr,
                        "version": version,
                        "inTps": in_tps,
                        "outTps": out_tps,
                        "reachable": bool(stats),
                    }
                )
    return Report({"brokers": rows}, [table])


@command(
    "brokerStatus", "Show a broker's runtime figures (GET_BROKER_RUNTIME_INFO).", target_options
)
async def broker_status(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await masters_of(ctx, args)
    data: dict[str, dict[str, str]] = {}
    tables = []
    for _name, addr in sorted(masters.items()):
        stats = await ctx.api.broker_runtime_info(addr)
        data[addr] = stats
        tables.append(Table([f"{addr} Key", "Value"], _kv_rows(stats)))  # type: ignore[arg-type]
    return Report(data, tables)


@command("getBrokerConfig", "Show a broker's configuration.", target_options)
async def get_broker_config(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await masters_of(ctx, args)
    data: dict[str, dict[str, str]] = {}
    tables = []
    for _name, addr in sorted(masters.items()):
        props = await ctx.api.broker_config(addr)
        data[addr] = props
        tables.append(Table([f"{addr} Key", "Value"], _kv_rows(props)))  # type: ignore[arg-type]
    return Report(data, tables)


def _update_config_opts(p: argparse.ArgumentParser) -> None:
    target_options(p)
    p.add_argument("-k", "--key", required=True)
    p.add_argument("-v", "--value", required=True)


@command("updateBrokerConfig", "Change one broker.conf key at runtime.", _update_config_opts)
async def update_broker_config(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await masters_of(ctx, args)
    for addr in sorted(masters.values()):
        await ctx.api.update_broker_config(addr, {args.key: args.value})
    data = {"key": args.key, "value": args.value, "brokers": sorted(masters.values())}
    return Report(data, [], [f"update broker config success, {args.key}={args.value}"])


# --- subscription groups and consumers ------------------------------------------------------


def _sub_group_opts(p: argparse.ArgumentParser) -> None:
    target_options(p)
    p.add_argument("-g", "--groupName", required=True)
    p.add_argument("-s", "--consumeEnable", type=_bool, default=True)
    p.add_argument("-m", "--consumeFromMinEnable", type=_bool, default=False)
    p.add_argument("-d", "--consumeBroadcastEnable", type=_bool, default=False)
    p.add_argument("-q", "--retryQueueNums", type=int, default=1)
    p.add_argument("-r", "--retryMaxTimes", type=int, default=16)
    p.add_argument("-i", "--brokerId", type=int, default=0)
    p.add_argument("-w", "--whichBrokerWhenConsumeSlowly", type=int, default=1)
    p.add_argument("-a", "--notifyConsumerIdsChanged", type=_bool, default=True)


@command("updateSubGroup", "Create or update a subscription (consumer) group.", _sub_group_opts)
async def update_sub_group(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await masters_of(ctx, args)
    config = {
        "groupName": args.groupName,
        "consumeEnable": args.consumeEnable,
        "consumeFromMinEnable": args.consumeFromMinEnable,
        "consumeBroadcastEnable": args.consumeBroadcastEnable,
        "retryQueueNums": args.retryQueueNums,
        "retryMaxTimes": args.retryMaxTimes,
        "brokerId": args.brokerId,
        "whichBrokerWhenConsumeSlowly": args.whichBrokerWhenConsumeSlowly,
        "notifyConsumerIdsChangedEnable": args.notifyConsumerIdsChanged,
    }
    for addr in sorted(masters.values()):
        await ctx.api.create_subscription_group(addr, config)
    table = Table(["Key", "Value"], _kv_rows(config))  # type: ignore[arg-type]
    data = {"config": config, "brokers": sorted(masters.values())}
    return Report(
        data, [table], [f"create subscription group to {len(masters)} broker(s) success."]
    )


def _delete_group_opts(p: argparse.ArgumentParser) -> None:
    target_options(p)
    p.add_argument("-g", "--groupName", required=True)
    p.add_argument("-r", "--removeOffset", type=_bool, default=False)


@command(
    "deleteSubGroup",
    "Delete a subscription group (and optionally its offsets).",
    _delete_group_opts,
)
async def delete_sub_group(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await masters_of(ctx, args)
    for addr in sorted(masters.values()):
        await ctx.api.delete_subscription_group(addr, args.groupName, args.removeOffset)
    data = {"groupName": args.groupName, "brokers": sorted(masters.values())}
    return Report(data, [], [f"delete subscription group [{args.groupName}] success."])


def _progress_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--groupName", required=True)
    p.add_argument("-t", "--topic", help="only this topic")


@command("consumerProgress", "Show a consumer group's offsets and lag per queue.", _progress_opts)
async def consumer_progress(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await ctx.api.all_masters()
    merged: dict[MessageQueue, OffsetWrapper] = {}
    tps = 0.0
    for addr in sorted(masters.values()):
        got_tps, table = await ctx.api.consume_stats(addr, args.groupName, args.topic)
        tps += got_tps
        merged.update(table)
    table_out = Table(
        ["Topic", "Broker Name", "QID", "Broker Offset", "Consumer Offset", "Diff", "LastTime"]
    )
    rows: list[dict[str, Any]] = []
    total = 0
    for mq, ow in sorted(merged.items()):
        diff = ow.broker_offset - ow.consumer_offset
        total += diff
        table_out.rows.append(
            [
                mq.topic,
                mq.broker_name,
                mq.queue_id,
                ow.broker_offset,
                ow.consumer_offset,
                diff,
                format_ms(ow.last_timestamp),
            ]
        )
        rows.append(
            {
                "topic": mq.topic,
                "brokerName": mq.broker_name,
                "queueId": mq.queue_id,
                "brokerOffset": ow.broker_offset,
                "consumerOffset": ow.consumer_offset,
                "diff": diff,
                "lastTimestamp": ow.last_timestamp,
            }
        )
    data = {"group": args.groupName, "consumeTps": tps, "diffTotal": total, "queues": rows}
    return Report(data, [table_out], [f"Consume TPS: {tps:.2f}", f"Diff Total: {total}"])


def _group_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--consumerGroup", required=True)


@command(
    "consumerConnection",
    "Show the online clients and subscriptions of a consumer group.",
    _group_opt,
)
async def consumer_connection(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await ctx.api.all_masters()
    conns: dict[str, Any] = {}
    subs: dict[str, dict[str, Any]] = {}
    found: Any = None
    for addr in sorted(masters.values()):
        try:
            cc = await ctx.api.consumer_connection(addr, args.consumerGroup)
        except RemoteError as exc:
            if exc.code == ResponseCode.CONSUMER_NOT_ONLINE:
                continue
            raise
        found = cc
        for c in cc.connections:
            conns[c.client_id] = c
        subs.update(cc.subscriptions)
    if found is None:
        raise RemoteError(
            ResponseCode.CONSUMER_NOT_ONLINE, f"the consumer group[{args.consumerGroup}] not online"
        )
    table = Table(["ClientId", "ClientAddr", "Language", "Version"])
    for c in sorted(conns.values(), key=lambda c: c.client_id):
        table.rows.append([c.client_id, c.client_addr, c.language, c.version])
    sub_table = Table(["Topic", "SubExpression"])
    for topic, sub in sorted(subs.items()):
        sub_table.rows.append([topic, sub.get("subString", "*")])
    data = {
        "group": args.consumerGroup,
        "connections": [
            {
                "clientId": c.client_id,
                "clientAddr": c.client_addr,
                "language": c.language,
                "version": c.version,
            }
            for c in sorted(conns.values(), key=lambda c: c.client_id)
        ],
        "subscriptions": {t: s.get("subString", "*") for t, s in sorted(subs.items())},
        "consumeType": found.consume_type,
        "messageModel": found.message_model,
        "consumeFromWhere": found.consume_from_where,
    }
    lines = [
        f"ConsumeType: {found.consume_type}",
        f"MessageModel: {found.message_model}",
        f"ConsumeFromWhere: {found.consume_from_where}",
    ]
    return Report(data, [table, sub_table], lines)


def _producer_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--producerGroup", required=True)
    p.add_argument("-t", "--topic", required=True, help="a topic the group sends to")


@command("producerConnection", "Show the online clients of a producer group.", _producer_opts)
async def producer_connection(ctx: Context, args: argparse.Namespace) -> Report:
    masters = await ctx.api.topic_masters(args.topic)
    conns: dict[str, Any] = {}
    last_error: RMQError | None = None
    for addr in sorted(masters.values()):
        try:
            got = await ctx.api.producer_connection(addr, args.producerGroup)
        except RemoteError as exc:
            last_error = exc
            continue
        for c in got:
            conns[c.client_id] = c
    if not conns:
        raise last_error or MQClientError(f"producer group [{args.producerGroup}] not online")
    table = Table(["ClientId", "ClientAddr", "Language", "Version"])
    rows = []
    for c in sorted(conns.values(), key=lambda c: c.client_id):
        table.rows.append([c.client_id, c.client_addr, c.language, c.version])
        rows.append(
            {
                "clientId": c.client_id,
                "clientAddr": c.client_addr,
                "language": c.language,
                "version": c.version,
            }
        )
    return Report({"group": args.producerGroup, "connections": rows}, [table])


# --- name servers ---------------------------------------------------------------------------


def _broker_name_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("-b", "--brokerName", required=True)


def _perm_report(counts: dict[str, int], what: str, name: str) -> Report:
    table = Table(["Namesrv", f"Topics {what}"], [[a, n] for a, n in sorted(counts.items())])
    return Report({"brokerName": name, "counts": counts}, [table])


@command(
    "wipeWritePerm", "Drop a broker's write permission on every name server.", _broker_name_opt
)
async def wipe_write_perm(ctx: Context, args: argparse.Namespace) -> Report:
    counts: dict[str, int] = {}
    for ns in ctx.api.namesrv:
        counts[ns] = await ctx.api.wipe_write_perm(ns, args.brokerName)
    return _perm_report(counts, "wiped", args.brokerName)


@command(
    "addWritePerm", "Restore a broker's write permission on every name server.", _broker_name_opt
)
async def add_write_perm(ctx: Context, args: argparse.Namespace) -> Report:
    counts: dict[str, int] = {}
    for ns in ctx.api.namesrv:
        counts[ns] = await ctx.api.add_write_perm(ns, args.brokerName)
    return _perm_report(counts, "added", args.brokerName)


def _kv_opts(p: argparse.ArgumentParser, value: bool) -> None:
    p.add_argument("-s", "--namespace", required=True)
    p.add_argument("-k", "--key", required=True)
    if value:
        p.add_argument("-v", "--value", required=True)


@command(
    "updateKvConfig", "Put a KV config item on every name server.", lambda p: _kv_opts(p, True)
)
async def update_kv_config(ctx: Context, args: argparse.Namespace) -> Report:
    await ctx.api.put_kv_config(args.namespace, args.key, args.value)
    data = {"namespace": args.namespace, "key": args.key, "value": args.value}
    return Report(data, [], ["update kv config in namesrv success."])


@command(
    "deleteKvConfig", "Delete a KV config item on every name server.", lambda p: _kv_opts(p, False)
)
async def delete_kv_config(ctx: Context, args: argparse.Namespace) -> Report:
    await ctx.api.delete_kv_config(args.namespace, args.key)
    data = {"namespace": args.namespace, "key": args.key}
    return Report(data, [], ["delete kv config from namesrv success."])


@command("getNamesrvConfig", "Show the configuration of every name server.", lambda p: None)
async def get_namesrv_config(ctx: Context, args: argparse.Namespace) -> Report:
    data: dict[str, dict[str, str]] = {}
    tables = []
    for ns in ctx.api.namesrv:
        props = await ctx.api.get_namesrv_config(ns)
        data[ns] = props
        tables.append(Table([f"{ns} Key", "Value"], _kv_rows(props)))  # type: ignore[arg-type]
    return Report(data, tables)


def _ns_config_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--key", required=True)
    p.add_argument("-v", "--value", required=True)


@command(
    "updateNamesrvConfig", "Change one name-server setting on every name server.", _ns_config_opts
)
async def update_namesrv_config(ctx: Context, args: argparse.Namespace) -> Report:
    await ctx.api.update_namesrv_config({args.key: args.value})
    data = {"key": args.key, "value": args.value, "namesrv": list(ctx.api.namesrv)}
    return Report(data, [], [f"update name server config success, {args.key}={args.value}"])
