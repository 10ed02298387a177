"""What a sub-command answers: JSON-ready data plus aligned tables and lines for people.

Also the small value formatters the tables share (timestamps, message detail) and the
time-argument parser mqadmin's options accept.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

import attrs

from rmq.common.errors import MQClientError

__all__ = ["Report", "Table", "format_ms", "parse_time", "render_table"]

_TIME_FORMATS = ("%Y-%m-%d#%H:%M:%S:%f", "%Y-%m-%d#%H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell (numbers right-aligned), ``#`` header line."""
    cells = [[_cell(v) for v in row] for row in rows]
    heads = [f"#{h}" for h in headers]
    widths = [len(h) for h in heads]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    for raw, row in zip(rows, cells, strict=True):
        parts = [
            text.rjust(w) if _numeric(v) else text.ljust(w)
            for v, text, w in zip(raw, row, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


@attrs.define
class Table:
    """Headers and rows of one aligned table."""

    headers: Sequence[str]
    rows: list[Sequence[object]] = attrs.field(factory=list)

    def render(self) -> str:
        return render_table(self.headers, self.rows)


@attrs.define
class Report:
    """A sub-command's answer: ``data`` for ``--json``, ``tables`` and ``lines`` for people."""

    data: Any
    tables: list[Table] = attrs.field(factory=list)
    lines: list[str] = attrs.field(factory=list)

    def render(self) -> str:
        """Tables (blank line between) then lines, ending in a newline."""
        parts = [t.render() for t in self.tables]
        if self.lines:
            parts.append("\n".join(self.lines))
        text = "\n\n".join(parts)
        return text + "\n" if text else ""

    def to_json(self) -> str:
        """``data`` as indented JSON (sorted keys, so scripts can diff it)."""
        return json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n"


def format_ms(ms: int) -> str:
    """Epoch milliseconds as local ``YYYY-mm-dd HH:MM:SS,mmm`` (``-`` for 0)."""
    if ms <= 0:
        return "-"
    dt = datetime.datetime.fromtimestamp(ms / 1000.0)
    return dt.strftime("%Y-%m-%d %H:%M:%S,") + f"{ms % 1000:03d}"


def parse_time(text: str, now_ms: int) -> int:
    """A time option: epoch ms, ``now``, or ``yyyy-MM-dd#HH:mm:ss:SSS`` (local time)."""
    value = text.strip()
    if value == "now":
        return now_ms
    if value.lstrip("-").isdigit():
        return int(value)
    for fmt in _TIME_FORMATS:
        try:
            dt = datetime.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return int(dt.timestamp() * 1000)
    raise MQClientError(f"bad time {text!r}: use epoch ms, 'now' or yyyy-MM-dd#HH:mm:ss:SSS")


def message_detail(msg: Any, body_text: bool = True) -> list[tuple[str, object]]:
    """Key/value rows describing one stored message (as mqadmin's queryMsgById prints)."""
    props = msg.properties_dict
    body: object = msg.body.decode("utf-8", "replace") if body_text else f"{len(msg.body)} bytes"
    return [
        ("OffsetID", msg.offset_msg_id),
        ("MsgId", msg.msg_id),
        ("Topic", msg.topic),
        ("Tags", props.get("TAGS")),
        ("Keys", props.get("KEYS")),
        ("Queue ID", msg.queue_id),
        ("Queue Offset", msg.queue_offset),
        ("CommitLog Offset", msg.commit_log_offset),
        ("Reconsume Times", msg.reconsume_times),
        ("Born Timestamp", format_ms(msg.born_timestamp)),
        ("Store Timestamp", format_ms(msg.store_timestamp)),
        ("Born Host", f"{msg.born_host[0]}:{msg.born_host[1]}"),
        ("Store Host", f"{msg.store_host[0]}:{msg.store_host[1]}"),
        ("System Flag", msg.sys_flag),
        ("Properties", props),
        ("Message Body", body),
    ]


def message_json(msg: Any) -> dict[str, Any]:
    """One stored message as a JSON object (body as UTF-8 text, replacement on bad bytes)."""
    return {
        "offsetMsgId": msg.offset_msg_id,
        "msgId": msg.msg_id,
        "topic": msg.topic,
        "queueId": msg.queue_id,
        "queueOffset": msg.queue_offset,
        "commitLogOffset": msg.commit_log_offset,
        "reconsumeTimes": msg.reconsume_times,
        "bornTimestamp": msg.born_timestamp,
        "storeTimestamp": msg.store_timestamp,
        "bornHost": f"{msg.born_host[0]}:{msg.born_host[1]}",
        "storeHost": f"{msg.store_host[0]}:{msg.store_host[1]}",
        "sysFlag": msg.sys_flag,
        "properties": msg.properties_dict,
        "body": msg.body.decode("utf-8", "replace"),
    }
