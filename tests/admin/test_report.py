"""Table rendering, value formatting and time parsing of rmq-admin reports."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from rmq.admin.report import Report, Table, format_ms, parse_time, render_table
from rmq.common.errors import MQClientError


class RenderTableTest(SynchronousTestCase):
    def test_columns_align_to_widest_cell(self) -> None:
        """Every column starts at the same position on every line."""
        text = render_table(["Name", "Addr"], [["a", "127.0.0.1:1"], ["longer-name", "x"]])
        lines = text.splitlines()
        self.assertEqual(lines[0], "#Name        #Addr")
        self.assertEqual(lines[1], "a            127.0.0.1:1")
        self.assertEqual(lines[2], "longer-name  x")

    def test_numbers_right_aligned(self) -> None:
        """Integers and floats are right-aligned; floats get two decimals."""
        text = render_table(["Q", "Rate"], [[1, 2.5], [100, 10.0]])
        self.assertEqual(text.splitlines()[1:], ["  1   2.50", "100  10.00"])

    def test_none_and_bool_cells(self) -> None:
        """None prints as '-' and booleans as Java's true/false."""
        text = render_table(["A", "B"], [[None, True]])
        self.assertEqual(text.splitlines()[1], "-   true")

    def test_empty_table_is_header_only(self) -> None:
        """A table without rows prints just its header line."""
        self.assertEqual(Table(["Topic"]).render(), "#Topic")


class ReportTest(SynchronousTestCase):
    def test_render_joins_tables_and_lines(self) -> None:
        """Tables are separated by a blank line, lines come last, output ends in newline."""
        r = Report({}, [Table(["A"], [[1]]), Table(["B"], [[2]])], ["done."])
        self.assertEqual(r.render(), "#A\n 1\n\n#B\n 2\n\ndone.\n")

    def test_to_json_is_sorted_and_parseable(self) -> None:
        """--json output is the data, sorted keys."""
        text = Report({"b": 1, "a": [1, 2]}).to_json()
        self.assertEqual(json.loads(text), {"a": [1, 2], "b": 1})
        self.assertLess(text.index('"a"'), text.index('"b"'))


class TimeTest(SynchronousTestCase):
    def test_parse_epoch_ms_and_now(self) -> None:
        """Digits are epoch ms; 'now' is the given clock reading."""
        self.assertEqual(parse_time("1700000000000", 5), 1700000000000)
        self.assertEqual(parse_time("now", 42), 42)

    def test_parse_mqadmin_format_round_trips(self) -> None:
        """yyyy-MM-dd#HH:mm:ss:SSS parses to the local time format_ms prints."""
        ms = parse_time("2024-03-05#06:07:08:009", 0)
        self.assertEqual(format_ms(ms), "2024-03-05 06:07:08,009")

    def test_parse_rejects_garbage(self) -> None:
        """An unparseable time is an MQClientError naming it."""
        with self.assertRaises(MQClientError) as ctx:
            parse_time("yesterday", 0)
        self.assertIn("yesterday", ctx.exception.remark)

    def test_format_zero_is_dash(self) -> None:
        """A zero timestamp (never updated) prints as '-'."""
        self.assertEqual(format_ms(0), "-")
