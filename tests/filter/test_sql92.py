"""Tests for the SQL92 selector: grammar, Java value semantics, 3-valued logic, errors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import SubscriptionParseFailed
from rmq.filter.sql92 import CompiledExpression, clear_cache, compile_sql92

T, F, U = True, False, None


def ev(sql: str, **props: str) -> bool | None:
    return compile_sql92(sql).evaluate(props)


class GrammarTests(SynchronousTestCase):
    """Every construct of the 4.9.8 grammar parses and evaluates."""

    def test_comparisons(self) -> None:
        """= <> > >= < <= against an integer property."""
        cases = [
            ("a = 5", T),
            ("a <> 5", F),
            ("a > 4", T),
            ("a >= 5", T),
            ("a < 5", F),
            ("a <= 5", T),
            ("a > 5", F),
        ]
        for sql, want in cases:
            self.assertIs(ev(sql, a="5"), want, sql)

    def test_keywords_case_insensitive(self) -> None:
        """Keywords match in any case; property names keep theirs."""
        self.assertIs(ev("a between 1 and 3 AnD b is not null", a="2", b="x"), True)
        self.assertIs(ev("A = 'x'", a="x"), None)

    def test_between_and_not_between(self) -> None:
        """BETWEEN is inclusive; NOT BETWEEN is its complement for present values."""
        self.assertIs(ev("a BETWEEN 1 AND 3", a="1"), True)
        self.assertIs(ev("a BETWEEN 1 AND 3", a="3"), True)
        self.assertIs(ev("a BETWEEN 1 AND 3", a="4"), False)
        self.assertIs(ev("a NOT BETWEEN 1 AND 3", a="4"), True)
        self.assertIs(ev("a NOT BETWEEN 1 AND 3", a="2"), False)

    def test_in_and_not_in(self) -> None:
        """IN/NOT IN compare the property string with string literals."""
        self.assertIs(ev("a IN ('x', 'y')", a="y"), True)
        self.assertIs(ev("a IN ('x', 'y')", a="z"), False)
        self.assertIs(ev("a NOT IN ('x', 'y')", a="z"), True)
        self.assertIs(ev("a NOT IN ('x')", a="x"), False)

    def test_is_null(self) -> None:
        """IS NULL / IS NOT NULL test presence of a property."""
        self.assertIs(ev("a IS NULL"), True)
        self.assertIs(ev("a IS NULL", a=""), False)
        self.assertIs(ev("a IS NOT NULL", a="v"), True)
        self.assertIs(ev("a IS NOT NULL"), False)

    def test_string_literal_quote_escape(self) -> None:
        """Two single quotes inside a literal stand for one."""
        self.assertIs(ev("a = 'it''s'", a="it's"), True)

    def test_numbers(self) -> None:
        """Long suffix, decimals, exponents and unary signs."""
        self.assertIs(ev("a = 5L", a="5"), True)
        self.assertIs(ev("a = 5000000000", a="5000000000"), True)
        self.assertIs(ev("a > 1.5", a="2"), True)
        self.assertIs(ev("a = 1.5E1", a="15"), True)
        self.assertIs(ev("a = .5", a="0.5"), True)
        self.assertIs(ev("a = -3", a="-3"), True)
        self.assertIs(ev("a = +3", a="3"), True)
        self.assertIs(ev("a BETWEEN -5 AND -1", a="-2"), True)

    def test_booleans(self) -> None:
        """TRUE/FALSE literals; a property compares to them via Boolean.valueOf."""
        self.assertIs(ev("TRUE"), True)
        self.assertIs(ev("FALSE"), False)
        self.assertIs(ev("a = TRUE", a="True"), True)
        self.assertIs(ev("a = FALSE", a="yes"), True)

    def test_precedence_and_parentheses(self) -> None:
        """AND binds tighter than OR; parentheses override."""
        self.assertIs(ev("a = 1 OR a = 2 AND b = 3", a="1"), True)
        self.assertIs(ev("(a = 1 OR a = 2) AND b = 3", a="1", b="4"), False)

    def test_not(self) -> None:
        """NOT negates a parenthesised condition."""
        self.assertIs(ev("NOT (a = 1)", a="2"), True)
        self.assertIs(ev("NOT (a = 1)", a="1"), False)

    def test_not_is_unary(self) -> None:
        """NOT binds to its operand: NOT a = 'x' is (NOT a) = 'x', which never matches."""
        self.assertFalse(compile_sql92("NOT a = 'x'").matches({"a": "y"}))

    def test_comments(self) -> None:
        """Line comments (ended by a newline) and block comments are skipped."""
        self.assertIs(ev("-- pick\na = 1 /* block\n comment */ AND b = 2", a="1", b="2"), True)

    def test_system_property_tags(self) -> None:
        """TAGS is an ordinary property name."""
        self.assertIs(ev("TAGS IN ('TagA', 'TagB')", TAGS="TagB"), True)

    def test_property_alone_is_a_boolean_cast(self) -> None:
        """A bare property is a boolean cast: unknown when absent, false for any string."""
        self.assertIs(ev("a"), None)
        self.assertIs(ev("a", a="true"), False)


class SemanticsTests(SynchronousTestCase):
    """Java type conversions and three-valued logic."""

    def test_missing_property_is_unknown(self) -> None:
        """Comparisons with a missing property are unknown, and unknown never matches."""
        for sql in (
            "a = 1",
            "a <> 1",
            "a > 1",
            "a IN ('x')",
            "a NOT IN ('x')",
            "a BETWEEN 1 AND 2",
        ):
            self.assertIs(ev(sql), None, sql)
            self.assertFalse(compile_sql92(sql).matches({}), sql)

    def test_and_or_truth_tables(self) -> None:
        """AND/OR over TRUE, FALSE and unknown follow SQL's three-valued tables."""
        exprs = {T: "t = 1", F: "t = 2", U: "missing = 1"}
        and_table = {
            (T, T): T, (T, F): F, (T, U): U,
            (F, T): F, (F, F): F, (F, U): F,
            (U, T): U, (U, F): F, (U, U): U,
        }  # fmt: skip
        or_table = {
            (T, T): T, (T, F): T, (T, U): T,
            (F, T): T, (F, F): F, (F, U): U,
            (U, T): T, (U, F): U, (U, U): U,
        }  # fmt: skip
        for (a, b), want in and_table.items():
            self.assertIs(ev(f"({exprs[a]}) AND ({exprs[b]})", t="1"), want, (a, b))
        for (a, b), want in or_table.items():
            self.assertIs(ev(f"({exprs[a]}) OR ({exprs[b]})", t="1"), want, (a, b))

    def test_not_of_unknown(self) -> None:
        """NOT unknown is unknown."""
        self.assertIs(ev("NOT (a = 1)"), None)

    def test_numeric_string_comparison(self) -> None:
        """A numeric property compares numerically, not as text."""
        self.assertIs(ev("a > 9", a="10"), True)
        self.assertIs(ev("a = 5", a="05"), True)
        self.assertIs(ev("a = 5.0", a="5"), True)

    def test_non_numeric_property_never_matches(self) -> None:
        """A property that does not parse as the literal's number type fails the match."""
        self.assertFalse(compile_sql92("a > 5").matches({"a": "abc"}))
        self.assertFalse(compile_sql92("a = 5").matches({"a": "5.5"}))
        self.assertFalse(compile_sql92("a = 5").matches({"a": "5000000000"}))
        self.assertTrue(compile_sql92("a = 5000000000").matches({"a": "5000000000"}))

    def test_evaluation_error_fails_whole_expression(self) -> None:
        """As in Java, a conversion error inside OR makes the whole selector not match."""
        expr = compile_sql92("a > 5 OR b = 'x'")
        self.assertFalse(expr.matches({"a": "abc", "b": "x"}))
        self.assertTrue(expr.matches({"a": "1", "b": "x"}))

    def test_string_vs_string_ordering_is_numeric(self) -> None:
        """< and > between two properties compare them as doubles."""
        self.assertIs(ev("a < b", a="2", b="10"), True)
        self.assertFalse(compile_sql92("a < b").matches({"a": "x", "b": "y"}))

    def test_string_equality(self) -> None:
        """= on strings is exact and case-sensitive."""
        self.assertIs(ev("a = 'Abc'", a="Abc"), True)
        self.assertIs(ev("a = 'Abc'", a="abc"), False)

    def test_double_nan_and_infinity_strings(self) -> None:
        """Property strings use Java's Double spellings when compared with a decimal."""
        self.assertIs(ev("a > 1.5", a="Infinity"), True)
        self.assertIs(ev("a > 1.5", a="2d"), True)
        self.assertFalse(compile_sql92("a > 1.5").matches({"a": "inf"}))

    def test_boolean_literal_left_of_property_never_matches(self) -> None:
        """TRUE = a fails as Java's cast does; a = TRUE works."""
        self.assertFalse(compile_sql92("TRUE = a").matches({"a": "true"}))
        self.assertTrue(compile_sql92("a = TRUE").matches({"a": "true"}))

    def test_negated_property_is_null(self) -> None:
        """Unary minus of a string property is NULL."""
        self.assertIs(ev("-a = 1", a="-1"), None)


class ErrorTests(SynchronousTestCase):
    """Bad selectors raise SubscriptionParseFailed (23) naming problem and position."""

    def assertRefused(self, sql: str, *needles: str) -> str:
        with self.assertRaises(SubscriptionParseFailed) as ctx:
            compile_sql92(sql)
        err = ctx.exception
        self.assertEqual(err.code, 23)
        for needle in needles:
            self.assertIn(needle, err.remark)
        return err.remark

    def test_empty(self) -> None:
        """An empty selector is refused."""
        self.assertRefused("", "expected an expression", "column 1")

    def test_missing_operand_position(self) -> None:
        """The position of the unexpected end is reported."""
        self.assertRefused("a >", "end of expression", "line 1, column 4")

    def test_position_on_second_line(self) -> None:
        """Line and column count newlines."""
        self.assertRefused("a = 1 AND\n  b = ", "line 2, column 7")

    def test_trailing_input(self) -> None:
        """Text after a complete expression is refused with its position."""
        self.assertRefused("a = 1 b", "'b'", "column 7")

    def test_unsupported_5x_operators(self) -> None:
        """LIKE and the 5.x string functions are named as unsupported."""
        self.assertRefused("a LIKE 'x%'", "LIKE is not supported", "column 3")
        self.assertRefused("a CONTAINS 'x'", "CONTAINS is not supported")

    def test_lexical_errors(self) -> None:
        """Unknown characters, unterminated strings and comments."""
        self.assertRefused("a != 1", "'!'", "column 3")
        self.assertRefused("a = 'x", "unterminated string", "column 5")
        self.assertRefused("a = 1 /* x", "unterminated block comment")

    def test_line_comment_needs_newline(self) -> None:
        """A trailing line comment without a newline is not a comment (as in Java)."""
        self.assertRefused("a = 1 -- c")

    def test_null_comparison(self) -> None:
        """= NULL is refused in favour of IS NULL."""
        self.assertRefused("a = NULL", "IS NULL", "column 5")

    def test_string_ordering_literal(self) -> None:
        """String and boolean literals cannot be ordered."""
        self.assertRefused("a > 'x'", "cannot be compared")
        self.assertRefused("a < TRUE", "cannot be compared")
        self.assertRefused("(a = 1) > 2", "cannot be compared")

    def test_between_bounds(self) -> None:
        """Constant BETWEEN bounds must be ordered and non-null."""
        self.assertRefused("a BETWEEN 5 AND 1", "lower bound")
        self.assertRefused("a BETWEEN NULL AND 1", "NULL")

    def test_in_needs_property_and_strings(self) -> None:
        """IN needs a property on the left and string literals in the list."""
        self.assertRefused("5 IN ('a')", "needs a property")
        self.assertRefused("a IN (1, 2)", "string literal")
        self.assertRefused("a IN ()", "string literal")

    def test_non_boolean_selector(self) -> None:
        """A selector must be boolean."""
        self.assertRefused("5", "will not result in a boolean")
        self.assertRefused("a = 1 AND 'x'", "will not result in a boolean")

    def test_boolean_constant_against_other_constant(self) -> None:
        """TRUE = 5 is refused at compile time."""
        self.assertRefused("TRUE = 5", "cannot be compared")

    def test_float_literal_range(self) -> None:
        """Float literals outside [Double.MIN_VALUE, Double.MAX_VALUE] are refused (0.0 too)."""
        self.assertRefused("a > 0.0", "Double.MIN_VALUE")
        self.assertRefused("a > 1e400", "Double.MAX_VALUE")

    def test_long_literal_range(self) -> None:
        """Integer literals beyond the long range are refused."""
        self.assertRefused("a = 9223372036854775808", "long range")

    def test_missing_close_paren(self) -> None:
        """An unclosed parenthesis names the missing token."""
        self.assertRefused("(a = 1", "')'")

    def test_is_without_null(self) -> None:
        """IS must be followed by NULL or NOT NULL."""
        self.assertRefused("a IS 5", "NULL")


class CacheTests(SynchronousTestCase):
    """Compilation results are cached by text."""

    def test_same_object_returned(self) -> None:
        """Compiling the same text twice gives the same compiled object."""
        clear_cache()
        first = compile_sql92("a = 1")
        self.assertIs(compile_sql92("a = 1"), first)
        self.assertIsInstance(first, CompiledExpression)

    def test_failures_cached_and_reraised(self) -> None:
        """A cached failure is raised again with the same remark."""
        clear_cache()
        with self.assertRaises(SubscriptionParseFailed) as one:
            compile_sql92("a >")
        with self.assertRaises(SubscriptionParseFailed) as two:
            compile_sql92("a >")
        self.assertEqual(one.exception.remark, two.exception.remark)


_ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)
_maybe = st.one_of(st.none(), _ints)


def _props(**values: int | None) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


class PropertyTests(SynchronousTestCase):
    """Algebraic properties checked with hypothesis."""

    @given(a=_ints, b=_ints)
    def test_not_is_negation_for_present_values(self, a: int, b: int) -> None:
        """NOT (a < b) equals not (a < b) when both properties are present."""
        props = _props(a=a, b=b)
        self.assertIs(ev("NOT (a < b)", **props), not (a < b))

    @given(x=_maybe, lo=_ints, hi=_ints)
    def test_between_equivalence(self, x: int | None, lo: int, hi: int) -> None:
        """x BETWEEN lo AND hi is x >= lo AND x <= hi, NULL included."""
        lo, hi = min(lo, hi), max(lo, hi)
        props = _props(x=x)
        self.assertIs(
            ev(f"x BETWEEN {lo} AND {hi}", **props), ev(f"x >= {lo} AND x <= {hi}", **props)
        )
        if x is not None:
            self.assertIs(ev(f"x NOT BETWEEN {lo} AND {hi}", **props), not lo <= x <= hi)

    @given(x=_maybe, y=_ints)
    def test_not_equal_is_not_of_equal(self, x: int | None, y: int) -> None:
        """a <> y is NOT (a = y) in three-valued logic."""
        props = _props(x=x)
        self.assertIs(ev(f"x <> {y}", **props), ev(f"NOT (x = {y})", **props))

    @given(a=_maybe, b=_maybe)
    def test_de_morgan(self, a: int | None, b: int | None) -> None:
        """NOT (p AND q) equals NOT p OR NOT q, unknowns included."""
        props = _props(a=a, b=b)
        self.assertIs(
            ev("NOT (a > 0 AND b > 0)", **props), ev("NOT (a > 0) OR NOT (b > 0)", **props)
        )

    @given(value=st.text(max_size=8), items=st.lists(st.text(max_size=8), min_size=1, max_size=6))
    def test_in_membership(self, value: str, items: list[str]) -> None:
        """IN is string membership; quotes in literals survive escaping."""
        lits = ", ".join("'" + i.replace("'", "''") + "'" for i in items)
        self.assertIs(ev(f"a IN ({lits})", a=value), value in items)
        self.assertIs(ev(f"a NOT IN ({lits})", a=value), value not in items)
