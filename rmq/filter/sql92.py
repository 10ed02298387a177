"""RocketMQ 4.9 SQL92 message selectors: lexer, recursive-descent parser, compiled evaluator.

The grammar, literal types and evaluation rules are those of the broker's selector parser
(REFERENCE §7.13): ``AND``/``OR``/``NOT``, ``= <> > >= < <=``, ``[NOT] BETWEEN``, ``[NOT] IN``
(string lists), ``IS [NOT] NULL``, unary ``+``/``-``, single-quoted strings (``''`` escapes a
quote), integers (``L`` suffix allowed; Integer when it fits, else Long), decimals with exponent,
``TRUE``/``FALSE``/``NULL``, identifiers naming message properties, ``--``/``/* */`` comments.
``LIKE``, arithmetic and ``CONTAINS``/``STARTSWITH``/``ENDSWITH`` are 5.x only and rejected.

Behaviours kept on purpose because clients see them on a real 4.9.8 broker:

* Precedence is OR < AND < equality (``=``, ``<>``, ``IS``) < comparison < unary, and ``NOT``
  is unary: ``NOT a = 'x'`` means ``(NOT a) = 'x'``; write ``NOT (a = 'x')``.
* A float literal must be in ``[Double.MIN_VALUE, Double.MAX_VALUE]``, so ``0.0`` is refused.
* Three-valued logic: a missing property is NULL, comparisons with NULL are unknown (None),
  AND/OR/NOT follow SQL; only a TRUE result matches.
* Property values are strings; compared with a number they are parsed as Integer/Long/Double
  (by the literal's type), and ``<``/``>`` between two strings parse both as doubles. A parse
  failure is an evaluation error, which makes the whole expression fail to match.

One deliberate difference: the Java parser stops after the first complete expression and
silently ignores the rest (``a LIKE 'x%'`` compiles there as the boolean cast of ``a`` and
never matches); here trailing input is refused with code 23 so a typo is reported, not lost.

Expressions compile once into nested closures; ``compile_sql92`` caches them by text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Final, TypeAlias

from rmq.common.errors import SubscriptionParseFailed

__all__ = ["CompiledExpression", "clear_cache", "compile_sql92"]

Value: TypeAlias = "str | int | float | bool | None"
Props: TypeAlias = Mapping[str, str]
_Fn: TypeAlias = Callable[[Props], Value]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_DOUBLE_MIN = 5e-324  # Java Double.MIN_VALUE
_DOUBLE_MAX = 1.7976931348623157e308


class _EvalError(Exception):
    """A runtime failure (bad number, bad cast): the message does not match."""


# --- lexer ---------------------------------------------------------------------------------

_KEYWORDS: Final = frozenset({"NOT", "AND", "OR", "BETWEEN", "IN", "TRUE", "FALSE", "NULL", "IS"})
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\n\r\f]+)
  | (?P<comment>--[^\n\r]*(?:\r\n|\n|\r)|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/)
  | (?P<float>[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?
              |[0-9]+[eE][+-]?[0-9]+)
  | (?P<int>0|[1-9][0-9]*[lL]?)
  | (?P<str>'(?:''|[^'])*')
  | (?P<id>[a-zA-Z_$][a-zA-Z0-9_$]*)
  | (?P<op><>|<=|>=|[=<>(),+-])
    """,
    re.VERBOSE,
)

EOF: Final = "<EOF>"
_NOT_IN_49: Final = frozenset({"LIKE", "CONTAINS", "STARTSWITH", "ENDSWITH", "ESCAPE"})


class _Token:
    """One token: ``kind`` is a keyword, ``INT``/``FLOAT``/``STR``/``ID``, an operator or EOF."""

    __slots__ = ("kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = kind
        self.text = text
        self.pos = pos


def _where(source: str, pos: int) -> str:
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def _fail(source: str, pos: int, problem: str) -> SubscriptionParseFailed:
    return SubscriptionParseFailed(
        f"Invalid SQL92 expression: {problem} at {_where(source, pos)}: {source!r}"
    )


def _tokens(source: str) -> Iterator[_Token]:
    """Lazily yield tokens, so an error is reported at the first bad token reached."""
    pos, end = 0, len(source)
    match = _TOKEN_RE.match
    while pos < end:
        m = match(source, pos)
        if m is None:
            problem = f"lexical error, unexpected character {source[pos]!r}"
            if source.startswith("'", pos):
                problem = "unterminated string literal"
            elif source.startswith("/*", pos):
                problem = "unterminated block comment"
            raise _fail(source, pos, problem)
        group, text = m.lastgroup, m.group()
        if group == "id":
            upper = text.upper()
            yield _Token(upper if upper in _KEYWORDS else "ID", text, pos)
        elif group == "int":
            yield _Token("INT", text, pos)
        elif group == "float":
            yield _Token("FLOAT", text, pos)
        elif group == "str":
            yield _Token("STR", text, pos)
        elif group == "op":
            yield _Token(text, text, pos)
        pos = m.end()
    yield _Token(EOF, "", end)


# --- Java value semantics ------------------------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DOUBLE_TEXT = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)"
)

_JAVA_TRIM: Final = "".join(chr(c) for c in range(33))  # what String.trim() removes

# Java type tags of runtime values
_B, _I, _L, _D, _S = 0, 1, 2, 3, 4


def _jtype(v: str | int | float | bool) -> int:
    t = type(v)
    if t is bool:
        return _B
    if t is int:
        return _I if _INT_MIN <= v <= _INT_MAX else _L  # type: ignore[operator]
    if t is float:
        return _D
    return _S


def _parse_integral(text: str, lo: int, hi: int) -> int:
    """Integer.valueOf / Long.valueOf: optional sign and ASCII digits, in range."""
    if _INT_TEXT.fullmatch(text):
        n = int(text)
        if lo <= n <= hi:
            return n
    raise _EvalError(f"not a number in range: {text!r}")


def _parse_double(text: str) -> float:
    """Double.valueOf: surrounding control/space characters trimmed, Java spellings."""
    t = text.strip(_JAVA_TRIM)
    if _DOUBLE_TEXT.fullmatch(t):
        if t[-1] in "fFdD" and not t.endswith(("NaN", "Infinity")):
            t = t[:-1]
        return float(t.replace("Infinity", "inf"))
    raise _EvalError(f"not a number: {text!r}")


def _jbool(text: str) -> bool:
    return text.lower() == "true"


def _cmp_double(a: float, b: float) -> int:
    """Double.compare: NaN above everything and equal to itself, -0.0 below 0.0."""
    if a < b:
        return -1
    if a > b:
        return 1
    an, bn = a != a, b != b
    if an or bn:
        return int(an) - int(bn)
    sa, sb = math.copysign(1.0, a), math.copysign(1.0, b)
    return (sa > sb) - (sa < sb)


def _convert_to(tag: int, text: str) -> int | float | bool:
    if tag == _I:
        return _parse_integral(text, _INT_MIN, _INT_MAX)
    if tag == _L:
        return _parse_integral(text, _LONG_MIN, _LONG_MAX)
    if tag == _D:
        return _parse_double(text)
    return _jbool(text)


def _compare(lv: str | int | float | bool, rv: str | int | float | bool) -> int:
    """ComparisonExpression.__compare with string conversion on: the sign of lv vs rv.

    Mismatched types are promoted (Integer/Long/Double) or, against a string, the string is
    parsed as the other side's type; a boolean left of a string fails as Java's cast does;
    other mismatches compare as "less" (-1), which never equals.
    """
    tl, tr = _jtype(lv), _jtype(rv)
    if tl != tr:
        if tl == _B:
            if tr == _S:
                raise _EvalError("boolean cannot be compared with a string")
            return -1
        if tr == _B and tl != _S:
            return -1
        if tl == _S:
            lv = _convert_to(tr, lv)  # type: ignore[arg-type]
        elif tr == _S:
            rv = _convert_to(tl, rv)  # type: ignore[arg-type]
        elif tl == _D or tr == _D:
            lv, rv = float(lv), float(rv)
    if type(lv) is float or type(rv) is float:
        return _cmp_double(float(lv), float(rv))
    return (lv > rv) - (lv < rv)  # type: ignore[operator]


# --- AST nodes -----------------------------------------------------------------------------

# Node kinds, mirroring the Java classes the parse-time checks look at.
_CONST = 0  # ConstantExpression (number or string)
_BOOLCONST = 1  # BooleanConstantExpression: TRUE, FALSE, NULL
_PROP = 2  # PropertyExpression
_BOOL = 3  # any other BooleanExpression (comparison, logic, NOT, IN, boolean cast)
_VALUE = 4  # unary minus


class _Node:
    __slots__ = ("end", "fn", "kind", "start", "value")

    def __init__(self, kind: int, fn: _Fn, start: int, end: int, value: Value = None) -> None:
        self.kind = kind
        self.fn = fn
        self.start = start
        self.end = end
        self.value = value

    @property
    def is_constant(self) -> bool:
        return self.kind in (_CONST, _BOOLCONST)

    @property
    def is_boolean(self) -> bool:
        return self.kind in (_BOOLCONST, _BOOL)


def _const_fn(value: Value) -> _Fn:
    return lambda _p: value


def _prop_fn(name: str) -> _Fn:
    return lambda p: p.get(name)


def _negate_fn(inner: _Fn) -> _Fn:
    def negate(p: Props) -> Value:
        v = inner(p)
        if type(v) is int or type(v) is float:
            return -v
        return None

    return negate


def _cast_fn(inner: _Fn) -> _Fn:
    def cast(p: Props) -> Value:
        v = inner(p)
        if v is None:
            return None
        return v if type(v) is bool else False

    return cast


def _not_fn(inner: _Fn) -> _Fn:
    def not_(p: Props) -> Value:
        v = inner(p)
        if v is None:
            return None
        if type(v) is not bool:
            raise _EvalError("NOT of a non-boolean value")
        return not v

    return not_


def _junction(left: _Fn, right: _Fn, decisive: bool) -> _Fn:
    """Three-valued AND (``decisive`` False) or OR (True): the decisive value wins, else
    unknown (None) if either side is unknown."""

    def junction(p: Props) -> Value:
        lv = left(p)
        if lv is decisive:
            return decisive
        rv = right(p)
        if rv is decisive:
            return decisive
        if lv is None or rv is None:
            return None
        return not decisive

    return junction


def _and_fn(left: _Fn, right: _Fn) -> _Fn:
    return _junction(left, right, False)


def _or_fn(left: _Fn, right: _Fn) -> _Fn:
    return _junction(left, right, True)


def _eq_fn(left: _Fn, right: _Fn) -> _Fn:
    def eq(p: Props) -> Value:
        lv, rv = left(p), right(p)
        if lv is None:
            return True if rv is None else None
        if rv is None:
            return False
        t = type(lv)
        if t is type(rv) and t is not float:
            return lv == rv
        return _compare(lv, rv) == 0

    return eq


_ORDER_TESTS: Final[dict[str, Callable[[int], bool]]] = {
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
}


def _order_fn(op: str, left: _Fn, right: _Fn) -> _Fn:
    test = _ORDER_TESTS[op]

    def order(p: Props) -> Value:
        lv = left(p)
        if lv is None:
            return None
        rv = right(p)
        if rv is None:
            return None
        if type(lv) is str and type(rv) is str:
            return test(_cmp_double(_parse_double(lv), _parse_double(rv)))
        return test(_compare(lv, rv))

    return order


def _order_prop_int_fn(op: str, name: str, bound: int) -> _Fn:
    """Fast path of ``property <op> integer-literal`` (the common selector shape)."""
    test = _ORDER_TESTS[op]
    lo, hi = (_INT_MIN, _INT_MAX) if _INT_MIN <= bound <= _INT_MAX else (_LONG_MIN, _LONG_MAX)

    def order(p: Props) -> Value:
        v = p.get(name)
        if v is None:
            return None
        n = _parse_integral(v, lo, hi)
        return test((n > bound) - (n < bound))

    return order


def _in_fn(name: str, items: frozenset[str], negated: bool) -> _Fn:
    def in_(p: Props) -> Value:
        v = p.get(name)
        if v is None:
            return None
        return (v in items) != negated

    return in_


# --- parser --------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the 4.9.8 selector grammar, building closures as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lexer = _tokens(source)
        self._buf: list[_Token] = []

    # token access with up to two tokens of lookahead
    def _peek(self, k: int = 0) -> _Token:
        while len(self._buf) <= k:
            self._buf.append(next(self._lexer))
        return self._buf[k]

    def _next(self) -> _Token:
        tok = self._peek()
        del self._buf[0]
        return tok

    def _expect(self, kind: str, what: str) -> _Token:
        tok = self._peek()
        if tok.kind != kind:
            raise self._unexpected(tok, what)
        return self._next()

    def _unexpected(self, tok: _Token, what: str) -> SubscriptionParseFailed:
        found = "end of expression" if tok.kind == EOF else f"{tok.text!r}"
        return _fail(self.source, tok.pos, f"expected {what} but found {found}")

    def _error(self, node_or_pos: _Node | int, problem: str) -> SubscriptionParseFailed:
        pos = node_or_pos if isinstance(node_or_pos, int) else node_or_pos.start
        return _fail(self.source, pos, problem)

    def _text(self, node: _Node) -> str:
        return self.source[node.start : node.end]

    # grammar
    def selector(self) -> _Node:
        if self._peek().kind == EOF:
            raise self._unexpected(self._peek(), "an expression")
        node = self._as_boolean(self._or())
        tok = self._peek()
        if tok.kind != EOF:
            if tok.text.upper() in _NOT_IN_49:
                raise self._error(tok.pos, f"{tok.text.upper()} is not supported by RocketMQ 4.9")
            raise self._unexpected(tok, "AND, OR or the end of the expression")
        return node

    def _or(self) -> _Node:
        left = self._and()
        while self._peek().kind == "OR":
            self._next()
            right = self._and()
            left = self._logic(_or_fn, left, right)
        return left

    def _and(self) -> _Node:
        left = self._equality()
        while self._peek().kind == "AND":
            self._next()
            right = self._equality()
            left = self._logic(_and_fn, left, right)
        return left

    def _logic(self, make: Callable[[_Fn, _Fn], _Fn], left: _Node, right: _Node) -> _Node:
        lb, rb = self._as_boolean(left), self._as_boolean(right)
        return _Node(_BOOL, make(lb.fn, rb.fn), left.start, right.end)

    def _equality(self) -> _Node:
        left = self._comparison()
        while True:
            kind = self._peek().kind
            if kind in ("=", "<>"):
                self._next()
                right = self._comparison()
                left = self._equal(left, right, negated=kind == "<>")
            elif kind == "IS":
                self._next()
                negated = self._peek().kind == "NOT"
                if negated:
                    self._next()
                end = self._expect("NULL", "NULL" if negated else "NULL or NOT").pos + 4
                fn = _eq_fn(left.fn, _const_fn(None))
                left = _Node(_BOOL, _not_fn(fn) if negated else fn, left.start, end)
            else:
                return left

    def _equal(self, left: _Node, right: _Node, negated: bool) -> _Node:
        for side in (left, right):
            if side.is_constant and side.value is None:
                raise self._error(side, "NULL cannot be compared with = or <>, use IS NULL")
        if (
            left.is_constant
            and right.is_constant
            and left.kind == _BOOLCONST
            and right.kind != _BOOLCONST
        ):
            raise self._error(
                left, f"{self._text(left)} cannot be compared with {self._text(right)}"
            )
        fn = _eq_fn(left.fn, right.fn)
        return _Node(_BOOL, _not_fn(fn) if negated else fn, left.start, right.end)

    def _comparison(self) -> _Node:
        left = self._unary()
        while True:
            tok = self._peek()
            kind = tok.kind
            if kind in _ORDER_TESTS:
                self._next()
                left = self._order(kind, left, self._unary())
            elif kind == "BETWEEN" or (kind == "NOT" and self._peek(1).kind == "BETWEEN"):
                left = self._between(left)
            elif kind == "IN" or (kind == "NOT" and self._peek(1).kind == "IN"):
                left = self._in(left)
            else:
                return left

    def _check_orderable(self, node: _Node) -> None:
        if node.is_constant:
            v = node.value
            if type(v) is int or type(v) is float:
                return
            raise self._error(node, f"value {self._text(node)} cannot be compared with < > <= >=")
        if node.is_boolean:
            raise self._error(node, f"value {self._text(node)} cannot be compared with < > <= >=")

    def _order(self, op: str, left: _Node, right: _Node) -> _Node:
        self._check_orderable(left)
        self._check_orderable(right)
        if left.kind == _PROP and right.kind == _CONST and type(right.value) is int:
            fn = _order_prop_int_fn(op, str(left.value), right.value)
        else:
            fn = _order_fn(op, left.fn, right.fn)
        return _Node(_BOOL, fn, left.start, right.end)

    def _between(self, value: _Node) -> _Node:
        negated = self._next().kind == "NOT"
        if negated:
            self._next()
        low = self._unary()
        self._expect("AND", "AND of BETWEEN")
        high = self._unary()
        if not negated and low.is_constant and high.is_constant:
            lv, hv = low.value, high.value
            if lv is None or hv is None:
                raise self._error(low, "BETWEEN bounds cannot be NULL")
            try:
                bad = _compare(hv, lv) < 0
            except _EvalError as e:
                raise self._error(low, f"BETWEEN bounds cannot be compared: {e}") from None
            if bad:
                raise self._error(
                    low, f"BETWEEN lower bound {self._text(low)} is above {self._text(high)}"
                )
        if negated:
            lt = self._order("<", value, low)
            gt = self._order(">", value, high)
            return _Node(_BOOL, _or_fn(lt.fn, gt.fn), value.start, high.end)
        ge = self._order(">=", value, low)
        le = self._order("<=", value, high)
        return _Node(_BOOL, _and_fn(ge.fn, le.fn), value.start, high.end)

    def _in(self, value: _Node) -> _Node:
        negated = self._next().kind == "NOT"
        if negated:
            self._next()
        self._expect("(", "( after IN")
        items = [self._string()]
        while self._peek().kind == ",":
            self._next()
            items.append(self._string())
        end = self._expect(")", ", or ) in IN list").pos + 1
        if value.kind != _PROP:
            raise self._error(value, f"IN needs a property on its left, got {self._text(value)}")
        return _Node(_BOOL, _in_fn(str(value.value), frozenset(items), negated), value.start, end)

    def _string(self) -> str:
        tok = self._expect("STR", "a string literal")
        return tok.text[1:-1].replace("''", "'")

    def _unary(self) -> _Node:
        tok = self._peek()
        if tok.kind == "+":
            self._next()
            inner = self._unary()
            return _Node(inner.kind, inner.fn, tok.pos, inner.end, inner.value)
        if tok.kind == "-":
            self._next()
            inner = self._unary()
            return _Node(_VALUE, _negate_fn(inner.fn), tok.pos, inner.end)
        if tok.kind == "NOT":
            self._next()
            inner = self._as_boolean(self._unary())
            return _Node(_BOOL, _not_fn(inner.fn), tok.pos, inner.end)
        return self._primary()

    def _primary(self) -> _Node:
        tok = self._next()
        kind, pos, end = tok.kind, tok.pos, tok.pos + len(tok.text)
        if kind == "STR":
            text = tok.text[1:-1].replace("''", "'")
            return _Node(_CONST, _const_fn(text), pos, end, text)
        if kind == "INT":
            return self._integer(tok)
        if kind == "FLOAT":
            return self._float(tok)
        if kind in ("TRUE", "FALSE"):
            flag = kind == "TRUE"
            return _Node(_BOOLCONST, _const_fn(flag), pos, end, flag)
        if kind == "NULL":
            return _Node(_BOOLCONST, _const_fn(None), pos, end, None)
        if kind == "ID":
            return _Node(_PROP, _prop_fn(tok.text), pos, end, tok.text)
        if kind == "(":
            inner = self._or()
            close = self._expect(")", "')'")
            return _Node(inner.kind, inner.fn, pos, close.pos + 1, inner.value)
        raise self._unexpected(tok, "a literal, a property name or '('")

    def _integer(self, tok: _Token) -> _Node:
        n = int(tok.text.rstrip("lL"))
        if n > _LONG_MAX:
            raise self._error(tok.pos, f"integer {tok.text} is out of the long range")
        return _Node(_CONST, _const_fn(n), tok.pos, tok.pos + len(tok.text), n)

    def _float(self, tok: _Token) -> _Node:
        x = float(tok.text)
        if x > _DOUBLE_MAX:
            raise self._error(tok.pos, f"{tok.text} is greater than Double.MAX_VALUE")
        if x < _DOUBLE_MIN:
            raise self._error(tok.pos, f"{tok.text} is less than Double.MIN_VALUE (4.9E-324)")
        return _Node(_CONST, _const_fn(x), tok.pos, tok.pos + len(tok.text), x)

    def _as_boolean(self, node: _Node) -> _Node:
        if node.is_boolean:
            return node
        if node.kind == _PROP:
            return _Node(_BOOL, _cast_fn(node.fn), node.start, node.end)
        raise self._error(node, f"expression {self._text(node)} will not result in a boolean")


# --- compiled expressions and the cache ----------------------------------------------------


class CompiledExpression:
    """A parsed selector: ``evaluate`` gives TRUE/FALSE/None (unknown), ``matches`` a bool."""

    __slots__ = ("_fn", "source")

    def __init__(self, source: str, fn: _Fn) -> None:
        self.source = source
        self._fn = fn

    def evaluate(self, properties: Props) -> bool | None:
        """Three-valued result over string properties; an evaluation error counts as unknown."""
        try:
            v = self._fn(properties)
        except _EvalError:
            return None
        return v if type(v) is bool else None

    def matches(self, properties: Props) -> bool:
        """True only when the selector evaluates to TRUE (what the broker delivers)."""
        try:
            return self._fn(properties) is True
        except _EvalError:
            return False

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


_CACHE_MAX = 1024
_cache: dict[str, CompiledExpression | SubscriptionParseFailed] = {}


def _compile(source: str) -> CompiledExpression:
    node = _Parser(source).selector()
    return CompiledExpression(source, node.fn)


def compile_sql92(source: str) -> CompiledExpression:
    """Compile ``source`` (cached, failures too); raises SubscriptionParseFailed (code 23)."""
    hit = _cache.get(source)
    if hit is None:
        try:
            hit = _compile(source)
        except SubscriptionParseFailed as e:
            hit = e
        if len(_cache) >= _CACHE_MAX:
            del _cache[next(iter(_cache))]
        _cache[source] = hit
    if isinstance(hit, SubscriptionParseFailed):
        raise SubscriptionParseFailed(hit.remark)
    return hit


def clear_cache() -> None:
    """Forget every cached compilation (tests, config reloads)."""
    _cache.clear()
