#!/usr/bin/env python3
"""Drive the official RocketMQ C++ client (PyPI ``rocketmq==0.4.4``) from a child process.

One scenario per run: ``produce``, ``push``, ``pull`` (plus ``bodycheck``, an offline check of
the binary-body reader).  Each event is one JSON object on its own stdout line; the run ends with
a ``{"event": "summary", ...}`` line and exit code 0.  Failures print ``{"event": "error", ...}``
and exit with a non-zero code.  A global ``--deadline`` always ends the process with
``os._exit`` so a hung native client can never hang a test.

The C++ library writes its log under ``$HOME/logs/rocketmq-cpp/`` (its ``Set*LogPath`` functions
are no-ops in this build), and broadcasting consumers keep offsets in ``$HOME/.rocketmq_offsets``.
So ``HOME`` is pointed at ``--log-dir`` *before* the library is loaded.

Arguments are argparse options, or a single JSON object, e.g.
``cppdriver.py '{"scenario": "produce", "namesrv": "127.0.0.1:9876", "count": 3, ...}'``.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_DEADLINE = 3
EXIT_USAGE = 64
EXIT_SHUTDOWN_ABORT = 6  # the native shutdown called abort() after the summary was printed

# Properties read back from every received message (user names come from --show-prop).
STANDARD_PROPS = (
    "KEYS",
    "TAGS",
    "UNIQ_KEY",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "TRAN_MSG",
    "PGROUP",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "ORIGIN_MESSAGE_ID",
    "CONSUME_START_TIME",
    "MAX_RECONSUME_TIMES",
    "TRACE_ON",
    "MSG_REGION",
    "CLUSTER",
)
LOG_LEVELS = {"fatal": 1, "error": 2, "warn": 3, "info": 4, "debug": 5, "trace": 6}
_MAX_BODY = 64 * 1024 * 1024
_COW_REP_SIZE = 24  # libstdc++ pre-C++11 std::string: length, capacity, refcount before data

_out_lock = threading.Lock()
_state: dict[str, Any] = {"scenario": None}
_keep_alive: list[object] = []


# ----------------------------------------------------------------------------- output


def emit(obj: dict[str, Any]) -> None:
    """Write one JSON line straight to fd 1 (no Python buffering, safe from native threads)."""
    data = memoryview((json.dumps(obj, sort_keys=True) + "\n").encode())
    locked = _out_lock.acquire(timeout=2.0)
    try:
        while data:
            written = os.write(1, data)
            data = data[written:]
    finally:
        if locked:
            _out_lock.release()


def fail(stage: str, error: BaseException | str, code: int = EXIT_ERROR, **extra: Any) -> NoReturn:
    """Print an error line and leave at once (no atexit, no ctypes ``__del__`` shutdowns)."""
    kind = type(error).__name__ if isinstance(error, BaseException) else "DriverError"
    emit({"event": "error", "stage": stage, "error_type": kind, "message": str(error), **extra})
    os._exit(code)


def _on_deadline() -> None:
    fail("deadline", "global deadline reached", EXIT_DEADLINE, state=dict(_state))


def run_guarded(fn: Callable[[], object], timeout: float) -> bool:
    """Run ``fn`` (e.g. a native shutdown) in a daemon thread; False if it did not finish."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # reported, not fatal: we are on the way out
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        emit({"event": "warning", "stage": "shutdown", "message": "shutdown did not return"})
        return False
    if errors:
        emit({"event": "warning", "stage": "shutdown", "message": repr(errors[0])})
        return False
    return True


def _exit_on_abort() -> None:
    """Make SIGABRT call libc ``_exit(6)`` directly (async-signal-safe, no Python involved).

    The push consumer's native shutdown can die with ``terminate ... boost::thread_interrupted``
    when it races its own timer thread; the results are already printed by then.
    """
    libc = ctypes.CDLL(None)
    libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.signal.restype = ctypes.c_void_p
    libc.signal(signal.SIGABRT, ctypes.cast(libc._exit, ctypes.c_void_p))


def finish(
    summary: dict[str, Any], problem: str | None, shutdown: Callable[[], object], timeout: float
) -> NoReturn:
    """Print the summary (and error), then shut the client down and exit.

    Results are printed first so that a hanging or crashing native shutdown cannot lose them;
    a ``shutdown`` event reports how the shutdown went.
    """
    emit({"event": "summary", **summary})
    code = EXIT_OK
    if problem is not None:
        emit(
            {
                "event": "error",
                "stage": summary.get("scenario", "?"),
                "error_type": "DriverError",
                "message": problem,
            }
        )
        code = EXIT_ERROR
    emit({"event": "shutting_down", "planned_exit": code})
    _exit_on_abort()
    clean = run_guarded(shutdown, timeout)
    emit({"event": "shutdown", "clean": clean})
    os._exit(code)


# ----------------------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    """Argument parser: one sub-command per scenario, common options on each."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--namesrv", default="127.0.0.1:9876", help="name server host:port")
    common.add_argument("--group", default="InteropGroup")
    common.add_argument("--topic", default="InteropTopic")
    common.add_argument("--log-dir", required=True, help="becomes $HOME of the C++ client")
    common.add_argument("--log-level", choices=sorted(LOG_LEVELS), default="info")
    common.add_argument("--deadline", type=float, default=60.0, help="seconds, then os._exit")
    common.add_argument("--shutdown-timeout", type=float, default=10.0)
    common.add_argument("--instance-name", default=None)

    parser = argparse.ArgumentParser(prog="cppdriver", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)

    prod = sub.add_parser("produce", parents=[common], help="send messages")
    prod.add_argument("--count", type=int, default=1)
    prod.add_argument(
        "--mode", choices=("sync", "async", "oneway", "orderly-by-key"), default="sync"
    )
    prod.add_argument("--batch", type=int, default=0, help="sync only: send_batch of N")
    prod.add_argument("--tags", default=None, help="'{i}' is replaced by the index")
    prod.add_argument("--keys", default=None, help="'{i}' is replaced by the index")
    prod.add_argument("--prop", action="append", default=[], metavar="NAME=VALUE")
    prod.add_argument("--body-size", type=int, default=0, help="pad the body to this size")
    prod.add_argument("--body-prefix", default="body-")
    prod.add_argument("--body-binary", action="store_true", help="pad with bytes 0..255")
    prod.add_argument("--delay-level", type=int, default=0)
    prod.add_argument("--order-keys", type=int, default=4, help="orderly: shard = i %% N")
    prod.add_argument("--retry-times", type=int, default=3, help="orderly retries")
    prod.add_argument("--send-timeout", type=int, default=3000, help="ms")
    prod.add_argument("--compress-level", type=int, default=None)
    prod.add_argument("--compress-over", type=int, default=None, help="body size threshold")
    prod.add_argument("--max-message-size", type=int, default=None)
    prod.add_argument("--interval-ms", type=int, default=0)
    prod.add_argument("--keep-going", action="store_true", help="continue after send errors")

    push = sub.add_parser("push", parents=[common], help="push consumer")
    push.add_argument("--expression", default="*")
    push.add_argument("--model", choices=("clustering", "broadcasting"), default="clustering")
    push.add_argument("--orderly", action="store_true")
    push.add_argument("--expect", type=int, default=0, help="stop after N successful consumes")
    push.add_argument("--idle-timeout", type=float, default=0.0, help="stop after N s idle")
    push.add_argument("--linger", type=float, default=0.0, help="keep running N s after done")
    push.add_argument("--fail-first", type=int, default=0, help="RECONSUME_LATER first N")
    push.add_argument("--fail-match", default=None, help="regex on tags/keys/body text")
    push.add_argument(
        "--fail-times", type=int, default=1, help="fail each matching id's first N deliveries"
    )
    push.add_argument("--thread-count", type=int, default=None)
    push.add_argument("--batch-max-size", type=int, default=None)
    push.add_argument("--show-prop", action="append", default=[], metavar="NAME")

    pull = sub.add_parser("pull", parents=[common], help="pull every queue until no new msg")
    pull.add_argument("--expression", default="*")
    pull.add_argument("--max-num", type=int, default=32)
    pull.add_argument("--from-offset", type=int, default=0)
    pull.add_argument("--timeout-retries", type=int, default=3)
    pull.add_argument("--show-prop", action="append", default=[], metavar="NAME")

    sub.add_parser("bodycheck", parents=[common], help="offline: binary body round trip")
    return parser


def json_to_argv(text: str) -> list[str]:
    """Turn ``{"scenario": s, "opt_name": v, ...}`` into ``[s, "--opt-name", str(v), ...]``."""
    spec = json.loads(text)
    if not isinstance(spec, dict) or "scenario" not in spec:
        raise ValueError("JSON arguments must be an object with a 'scenario' key")
    argv = [str(spec.pop("scenario"))]
    for key, value in spec.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse argparse options or one JSON object."""
    args = list(argv)
    if len(args) == 1 and args[0].lstrip().startswith("{"):
        args = json_to_argv(args[0])
    return build_parser().parse_args(args)


def make_body(index: int, size: int, prefix: str, binary: bool = False) -> bytes:
    """Deterministic body ``<prefix><index>:`` padded to ``size`` (tests rebuild it to compare)."""
    head = f"{prefix}{index}:".encode()
    if size <= len(head):
        return head
    unit = bytes(range(256)) if binary else b"0123456789abcdefghijklmnopqrstuvwxyz"
    fill = size - len(head)
    return head + (unit * (fill // len(unit) + 1))[:fill]


def expand(template: str | None, index: int) -> str | None:
    """Substitute ``{i}`` in a per-message template."""
    return None if template is None else template.replace("{i}", str(index))


# ----------------------------------------------------------------------------- library access


def load_library(log_dir: str) -> Any:
    """Point $HOME at the log dir, then import the wrapper (its logger starts at load time)."""
    os.makedirs(log_dir, exist_ok=True)
    os.environ["HOME"] = os.path.abspath(log_dir)
    import rocketmq.client as client
    from rocketmq import ffi

    # Exported but not declared by the wrapper.
    ffi.dll.SetProducerCompressMsgBodyOverHowmuch.argtypes = [ctypes.c_void_p, ctypes.c_int]
    ffi.dll.SetProducerCompressMsgBodyOverHowmuch.restype = ctypes.c_int
    return client


class MessageReader:
    """Reads a received message (``CMessageExt*``) into a JSON-able dict.

    ``GetMessageBody`` returns ``std::string::c_str()``; the wrapper reads it as a C string,
    which truncates at the first NUL.  This build uses the old libstdc++ string ABI, whose
    length sits 24 bytes before the data, so the exact length is recovered (and checked).
    """

    def __init__(self, dll: Any, show_props: Sequence[str] = ()) -> None:
        self._dll = dll
        raw = ctypes.CDLL(dll._name)
        self._get_body = raw.GetMessageBody
        self._get_body.argtypes = [ctypes.c_void_p]
        self._get_body.restype = ctypes.c_void_p
        self._props = [p.encode() for p in (*STANDARD_PROPS, *show_props)]

    def body(self, handle: int) -> tuple[bytes, bool]:
        """Return (body, exact): exact is False when only the C-string prefix was readable."""
        ptr = self._get_body(handle)
        if not ptr:
            return b"", False
        visible = ctypes.string_at(ptr)
        length = ctypes.c_size_t.from_address(ptr - _COW_REP_SIZE).value
        capacity = ctypes.c_size_t.from_address(ptr - _COW_REP_SIZE + 8).value
        plausible = len(visible) <= length <= min(capacity, _MAX_BODY)
        if plausible and ctypes.string_at(ptr + length, 1) == b"\0":
            return ctypes.string_at(ptr, length), True
        return visible, False

    def read(self, handle: int) -> dict[str, Any]:
        """All visible fields of one received message."""
        dll = self._dll
        body, exact = self.body(handle)
        props: dict[str, str] = {}
        for name in self._props:
            value = dll.GetMessageProperty(handle, name)
            if value:
                props[name.decode()] = value.decode("utf-8", "replace")
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "id": _text(dll.GetMessageId(handle)),
            "topic": _text(dll.GetMessageTopic(handle)),
            "tags": _text(dll.GetMessageTags(handle)),
            "keys": _text(dll.GetMessageKeys(handle)),
            "body_b64": base64.b64encode(body).decode(),
            "body_text": text,
            "body_len": len(body),
            "body_len_exact": exact,
            "properties": props,
            "reconsume_times": dll.GetMessageReconsumeTimes(handle),
            "queue_id": dll.GetMessageQueueId(handle),
            "queue_offset": dll.GetMessageQueueOffset(handle),
            "commit_log_offset": dll.GetMessageCommitLogOffset(handle),
            "store_size": dll.GetMessageStoreSize(handle),
            "born_timestamp": dll.GetMessageBornTimestamp(handle),
            "store_timestamp": dll.GetMessageStoreTimestamp(handle),
            "delay_time_level": dll.GetMessageDelayTimeLevel(handle),
            "received_at": time.time(),
        }


def _text(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _started(client_kind: str, log_dir: str) -> None:
    log_file = os.path.join(
        os.path.abspath(log_dir), "logs", "rocketmq-cpp", f"{os.getpid()}_rocketmq-cpp.log.0"
    )
    emit({"event": "started", "client": client_kind, "pid": os.getpid(), "log_file": log_file})


# ----------------------------------------------------------------------------- produce


def build_message(client: Any, args: argparse.Namespace, index: int) -> Any:
    """One Message for send index ``index`` per the produce options."""
    msg = client.Message(args.topic)
    tags, keys = expand(args.tags, index), expand(args.keys, index)
    if tags is not None:
        msg.set_tags(tags)
    if keys is not None:
        msg.set_keys(keys)
    for item in args.prop:
        name, _, value = item.partition("=")
        msg.set_property(name, expand(value, index))
    if args.delay_level:
        msg.set_delay_time_level(args.delay_level)
    body = make_body(index, args.body_size, args.body_prefix, args.body_binary)
    client.dll.SetByteMessageBody(msg, body, len(body))
    return msg


def _exc_text(exc: BaseException) -> str:
    """Exception text; the async failure carries raw bytes from the C struct."""
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(exc)


def _result(res: Any) -> dict[str, Any]:
    return {"msg_id": res.msg_id, "offset": res.offset, "status": res.status.name}


def scenario_produce(args: argparse.Namespace) -> NoReturn:
    """Send ``--count`` messages in the chosen mode; one ``sent`` line per send."""
    client = load_library(args.log_dir)
    dll = client.dll
    producer = client.Producer(args.group, timeout=args.send_timeout)
    dll.SetProducerLogLevel(producer._handle, LOG_LEVELS[args.log_level])
    producer.set_namesrv_addr(args.namesrv)
    if args.instance_name:
        dll.SetProducerInstanceName(producer._handle, args.instance_name.encode())
    if args.compress_level is not None:
        producer.set_compress_level(args.compress_level)
    if args.compress_over is not None:
        dll.SetProducerCompressMsgBodyOverHowmuch(producer._handle, args.compress_over)
    if args.max_message_size is not None:
        producer.set_max_message_size(args.max_message_size)
    _started("producer", args.log_dir)
    try:
        producer.start()
    except Exception as exc:
        fail("start", exc)
    emit({"event": "client_started"})

    begin = time.monotonic()
    counts = {"sent": 0, "failed": 0}
    lock = threading.Lock()
    all_done = threading.Event()

    finished: set[int] = set()

    def record(index: int, ok: bool) -> None:
        """Count each index once (async failures may be reported twice by the client)."""
        with lock:
            if index in finished:
                return
            finished.add(index)
            counts["sent" if ok else "failed"] += 1
            _state.update(counts)
            if len(finished) >= args.count:
                all_done.set()

    def send_error(index: int | list[int], exc: BaseException) -> None:
        emit(
            {
                "event": "send_error",
                "index": index,
                "error_type": type(exc).__name__,
                "message": _exc_text(exc),
            }
        )
        if not args.keep_going:
            fail("send", exc, index=index)

    index = 0
    while index < args.count:
        if args.batch > 0 and args.mode == "sync":
            indexes = list(range(index, min(index + args.batch, args.count)))
            msgs = [build_message(client, args, i) for i in indexes]
            try:
                res = producer.send_batch(msgs)
            except Exception as exc:
                for i in indexes:
                    record(i, False)
                send_error(indexes, exc)
            else:
                emit({"event": "sent_batch", "indexes": indexes, **_result(res)})
                for i in indexes:
                    record(i, True)
            index += len(indexes)
        else:
            _send_one(producer, args, client, index, record, send_error)
            index += 1
        if args.interval_ms:
            time.sleep(args.interval_ms / 1000.0)

    if args.mode == "async":
        all_done.wait()  # the global deadline bounds this
    summary = {
        "scenario": "produce",
        "mode": args.mode,
        "requested": args.count,
        **counts,
        "elapsed": round(time.monotonic() - begin, 3),
    }
    problem = f"{counts['failed']} of {args.count} sends failed" if counts["failed"] else None
    finish(summary, problem, producer.shutdown, args.shutdown_timeout)


def _send_one(
    producer: Any,
    args: argparse.Namespace,
    client: Any,
    index: int,
    record: Callable[[int, bool], None],
    send_error: Callable[[int, BaseException], None],
) -> None:
    msg = build_message(client, args, index)
    try:
        if args.mode == "sync":
            res = producer.send_sync(msg)
            emit({"event": "sent", "index": index, **_result(res)})
        elif args.mode == "oneway":
            producer.send_oneway(msg)
            emit({"event": "sent", "index": index, "status": "ONEWAY"})
        elif args.mode == "orderly-by-key":
            shard = index % args.order_keys
            chosen: dict[str, int] = {}

            def select(mq_size: int, _msg: Any, _arg: Any) -> int:
                chosen["queue_id"] = shard % mq_size
                return chosen["queue_id"]

            res = producer.send_orderly(msg, shard, args.retry_times, select)
            emit({"event": "sent", "index": index, "shard": shard, **chosen, **_result(res)})
        else:  # async

            def ok(res: Any) -> None:
                emit({"event": "sent", "index": index, **_result(res)})
                record(index, True)

            def bad(exc: BaseException) -> None:
                record(index, False)
                send_error(index, exc)

            producer.send_async(msg, ok, bad)
            return
    except Exception as exc:
        record(index, False)
        send_error(index, exc)
        return
    record(index, True)


# ----------------------------------------------------------------------------- push


def scenario_push(args: argparse.Namespace) -> NoReturn:
    """Run a push consumer until ``--expect`` consumes, idleness, SIGTERM or the deadline."""
    client = load_library(args.log_dir)
    dll = client.dll
    from rocketmq.ffi import MSG_CALLBACK_FUNC, MessageModel

    model = MessageModel.BROADCASTING if args.model == "broadcasting" else MessageModel.CLUSTERING
    consumer = client.PushConsumer(args.group, orderly=args.orderly, message_model=model)
    handle = consumer._handle
    dll.SetPushConsumerLogLevel(handle, LOG_LEVELS[args.log_level])
    consumer.set_namesrv_addr(args.namesrv)
    if args.instance_name:
        consumer.set_instance_name(args.instance_name)
    if args.thread_count:
        consumer.set_thread_count(args.thread_count)
    if args.batch_max_size:
        consumer.set_message_batch_max_size(args.batch_max_size)
    reader = MessageReader(dll, args.show_prop)
    matcher = re.compile(args.fail_match) if args.fail_match else None

    lock = threading.Lock()
    done = threading.Event()
    stats = {"delivered": 0, "consumed": 0, "later": 0}
    ids: set[str | None] = set()
    failed_by_id: dict[str | None, int] = {}  # counted here: orderly retries keep reconsume 0
    last_activity = [time.monotonic()]

    def decide(event: dict[str, Any]) -> bool:
        """True = consume now; False = RECONSUME_LATER."""
        if stats["delivered"] <= args.fail_first:
            return False
        if matcher is not None and failed_by_id.get(event["id"], 0) < args.fail_times:
            haystack = " ".join(str(event[k] or "") for k in ("tags", "keys", "body_text", "topic"))
            if matcher.search(haystack):
                failed_by_id[event["id"]] = failed_by_id.get(event["id"], 0) + 1
                return False
        return True

    def on_message(_consumer: Any, msg: Any) -> int:
        try:
            event = reader.read(msg)
            with lock:
                stats["delivered"] += 1
                ok = decide(event)
                stats["consumed" if ok else "later"] += 1
                ids.add(event["id"])
                _state.update(stats)
                last_activity[0] = time.monotonic()
                event.update(event="message", n=stats["delivered"], result=_verdict(ok))
                emit(event)
                if args.expect and stats["consumed"] >= args.expect:
                    done.set()
            return 0 if ok else 1
        except Exception as exc:  # never let an exception cross into C (returns 0 there)
            emit({"event": "warning", "stage": "callback", "message": repr(exc)})
            return 1

    callback = MSG_CALLBACK_FUNC(on_message)
    check(dll.Subscribe(handle, args.topic.encode(), args.expression.encode()))
    register = dll.RegisterMessageCallbackOrderly if args.orderly else dll.RegisterMessageCallback
    check(register(handle, callback))

    reason = _wait_push(args, done, last_activity, consumer)
    with lock:
        summary = {"scenario": "push", **stats, "distinct_ids": len(ids), "reason": reason}
    problem = None
    if args.expect and summary["consumed"] < args.expect:
        problem = f"expected {args.expect} consumes, got {summary['consumed']}"
    _keep_alive.append(callback)  # the native side may call it until shutdown returns
    finish(summary, problem, consumer.shutdown, args.shutdown_timeout)


def _verdict(ok: bool) -> str:
    return "success" if ok else "later"


def check(status: int) -> None:
    """Raise the wrapper's exception for a non-OK status code."""
    from rocketmq.exceptions import ffi_check

    ffi_check(status)


def _wait_push(
    args: argparse.Namespace, done: threading.Event, last: list[float], consumer: Any
) -> str:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    _started("push_consumer", args.log_dir)
    try:
        consumer.start()
    except Exception as exc:
        fail("start", exc)
    emit({"event": "client_started"})
    last[0] = time.monotonic()
    reason = "sigterm"
    while not stop.is_set():
        if done.is_set():
            reason = "expect"
            break
        if args.idle_timeout and time.monotonic() - last[0] > args.idle_timeout:
            reason = "idle"
            break
        stop.wait(0.05)
    if reason != "sigterm" and args.linger:
        stop.wait(args.linger)
    return reason


# ----------------------------------------------------------------------------- pull


def scenario_pull(args: argparse.Namespace) -> NoReturn:
    """Read every queue of the topic from ``--from-offset`` until NO_NEW_MSG."""
    client = load_library(args.log_dir)
    dll = client.dll
    from rocketmq.ffi import _CMessageQueue, _CPullStatus

    consumer = client.PullConsumer(args.group)
    handle = consumer._handle
    dll.SetPullConsumerLogLevel(handle, LOG_LEVELS[args.log_level])
    consumer.set_namesrv_addr(args.namesrv)
    _started("pull_consumer", args.log_dir)
    try:
        consumer.start()
    except Exception as exc:
        fail("start", exc)
    emit({"event": "client_started"})
    reader = MessageReader(dll, args.show_prop)

    queues = ctypes.POINTER(_CMessageQueue)()
    size = ctypes.c_int()
    try:
        check(
            dll.FetchSubscriptionMessageQueues(
                handle, args.topic.encode(), ctypes.byref(queues), ctypes.byref(size)
            ),
        )
    except Exception as exc:
        fail("fetch_queues", exc)
    if size.value == 0:
        fail("fetch_queues", f"no message queues for topic {args.topic}")

    total = 0
    for i in range(size.value):
        mq = queues[i]
        total += _pull_queue(args, dll, handle, mq, reader, _CPullStatus, total)
    dll.ReleaseSubscriptionMessageQueue(queues)
    summary = {"scenario": "pull", "queues": size.value, "messages": total}
    finish(summary, None, consumer.shutdown, args.shutdown_timeout)


def _pull_queue(
    args: argparse.Namespace,
    dll: Any,
    handle: int,
    mq: Any,
    reader: MessageReader,
    status_enum: Any,
    seen: int,
) -> int:
    """Pull one queue to its end; returns the number of messages printed."""
    offset = args.from_offset
    timeouts = 0
    count = 0
    expression = args.expression.encode()
    while True:
        res = dll.Pull(handle, ctypes.pointer(mq), expression, offset, args.max_num)
        status = status_enum(res.pullStatus)
        emit(
            {
                "event": "pull",
                "queue_id": mq.queueId,
                "broker": mq.brokerName.decode(),
                "status": status.name,
                "offset": offset,
                "next_offset": res.nextBeginOffset,
                "min_offset": res.minOffset,
                "max_offset": res.maxOffset,
                "size": res.size if status == status_enum.FOUND else 0,
            }
        )
        next_offset = res.nextBeginOffset
        if status == status_enum.FOUND:
            for j in range(res.size):
                event = reader.read(res.msgFoundList[j])
                count += 1
                event.update(event="message", n=seen + count)
                emit(event)
        dll.ReleasePullResult(res)
        _state["pulled"] = seen + count
        if status == status_enum.BROKER_TIMEOUT:
            timeouts += 1
            if timeouts > args.timeout_retries:
                fail("pull", "broker timeout", queue_id=mq.queueId, offset=offset)
            continue
        if status in (status_enum.NO_NEW_MSG, status_enum.OFFSET_ILLEGAL):
            return count
        if next_offset <= offset:  # no progress (e.g. offsets misread as 0): stop, don't spin
            emit(
                {
                    "event": "warning",
                    "stage": "pull",
                    "message": "no progress",
                    "queue": queue_name(mq),
                }
            )
            return count
        offset = next_offset


def queue_name(mq: Any) -> str:
    """Readable queue name ``topic@broker#id``."""
    return f"{mq.topic.decode()}@{mq.brokerName.decode()}#{mq.queueId}"


# ----------------------------------------------------------------------------- bodycheck


def scenario_bodycheck(args: argparse.Namespace) -> int:
    """Offline: set binary bodies on messages and read them back with MessageReader."""
    client = load_library(args.log_dir)
    reader = MessageReader(client.dll)
    samples = [b"", b"abc", b"a\x00b", bytes(range(256)) * 40, make_body(7, 5000, "p-")]
    results = []
    for sample in samples:
        msg = client.Message(args.topic)
        client.dll.SetByteMessageBody(msg, sample, len(sample))
        got, exact = reader.body(msg._handle)
        results.append({"len": len(sample), "ok": got == sample, "exact": exact})
    ok = all(r["ok"] for r in results)
    emit({"event": "summary", "scenario": "bodycheck", "ok": ok, "results": results})
    if not ok:
        fail("bodycheck", "binary body round trip failed")
    return EXIT_OK


SCENARIOS: dict[str, Callable[[argparse.Namespace], int]] = {
    "produce": scenario_produce,
    "push": scenario_push,
    "pull": scenario_pull,
    "bodycheck": scenario_bodycheck,
}


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Parse, arm the deadline, run the scenario, and always leave through ``os._exit``."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if code:
            emit(
                {
                    "event": "error",
                    "stage": "args",
                    "error_type": "Usage",
                    "message": "bad arguments, see stderr",
                }
            )
        sys.stdout.flush()
        os._exit(EXIT_USAGE if code else EXIT_OK)
    except ValueError as exc:
        fail("args", exc, EXIT_USAGE)
    _state["scenario"] = args.scenario
    timer = threading.Timer(args.deadline, _on_deadline)
    timer.daemon = True
    timer.start()
    try:
        code = SCENARIOS[args.scenario](args)
    except Exception as exc:
        fail(args.scenario, exc)
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
