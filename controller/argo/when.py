"""Argo's ``when`` conditions: govaluate expressions, evaluated after ``{{}}`` substitution.

Argo hands the substituted text to govaluate with no parameters and first turns every
*variable* token into a string, so bare words compare as strings: ``heads == heads`` is
true and ``Succeeded != Failed`` too. The rest is govaluate's language:

* values: numbers (always float64: ``1 == 1.0``; hex ``0x1F``), ``'single'`` or
  ``"double"`` quoted strings (a backslash escapes the next character), ``true`` and
  ``false``, bare words, ``[bracketed words]`` (also strings);
* a word containing a dot (``a.b``) is a parameter accessor in govaluate; with no
  parameters it always fails, so it is an error here too;
* operators, loosest first: ``,`` (builds the array for ``in``), ``? :`` and ``??``,
  ``||``, ``&&``, comparisons ``== != > >= < <= =~ !~ in``, bitwise ``& | ^``,
  shifts ``<< >>``, ``+ -``, ``* / %``, ``**``, prefixes ``- ! ~``; parentheses;
* ``==``/``!=`` never fail (a number never equals a string); ``< > <= >=`` need two
  numbers or two strings (strings compare lexically); ``+`` adds numbers or, when either
  side is a string, concatenates; ``&& || !`` need booleans; ``=~``/``!~`` match a
  regular expression; ``x in (a, b)`` tests membership;
* a quoted string that is a date/time (``'2024-01-02'``, RFC 3339, ...) becomes its Unix
  time in seconds, so dates compare in time order;
* the result must be a boolean.

An empty condition is true (the step always runs).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from .errors import ExpressionError
from .regex import RegexError, compile_pattern

__all__ = ["evaluate_when", "parse_when"]


@dataclass(frozen=True)
class _Tok:
    kind: str  # value | op | open | close | sep | accessor
    value: Any
    text: str


_SYMBOLS = {
    "==", "!=", ">", ">=", "<", "<=", "=~", "!~", "&&", "||", "^", "&", "|", ">>", "<<",
    "+", "-", "*", "/", "%", "**", "!", "~", "?", ":", "??",
}
_PREFIX = {"-", "!", "~"}
_DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z", "%a %b %d %H:%M:%S %Y", "%I:%M%p",
)


def _try_time(text: str) -> float | None:
    candidate = text.replace("Z", "+0000") if text.endswith("Z") else text
    for fmt in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(candidate, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return float(int(parsed.timestamp()))
    return None


def _is_word_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdigit() or ch in "_."


def _is_symbol_char(ch: str) -> bool:
    return not (ch.isalnum() or ch in "()[]'\"" or ch.isspace())


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or ch == ".":
            if text.startswith(("0x", "0X"), i):
                j = i + 2
                while j < n and text[j] in "0123456789abcdefABCDEF":
                    j += 1
                if j == i + 2:
                    raise ValueError(f"Unable to parse hex value '{text[i + 2:j]}' to uint64")
                tokens.append(_Tok("value", float(int(text[i + 2 : j], 16)), text[i:j]))
                i = j
                continue
            j = i
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            word = text[i:j]
            try:
                tokens.append(_Tok("value", float(word), word))
            except ValueError:
                raise ValueError(f"Unable to parse numeric value '{word}' to float64") from None
            i = j
            continue
        if ch == ",":
            tokens.append(_Tok("sep", ",", ","))
            i += 1
            continue
        if ch == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise ValueError("Unclosed parameter bracket")
            word = text[i + 1 : end]
            tokens.append(_Tok("value", word, word))  # a variable, turned into a string
            i = end + 1
            continue
        if ch.isalpha():
            j = i
            while j < n and _is_word_char(text[j]):
                j += 1
            word = text[i:j]
            i = j
            if word in {"true", "false"}:
                tokens.append(_Tok("value", word == "true", word))
            elif word in {"in", "IN"}:
                tokens.append(_Tok("op", "in", word))
            elif "." in word:
                if word.endswith("."):
                    raise ValueError(f"Hanging accessor on token '{word}'")
                tokens.append(_Tok("accessor", word, word))
            else:
                tokens.append(_Tok("value", word, word))  # a variable, turned into a string
            continue
        if ch in "'\"":
            out: list[str] = []
            j = i + 1
            while j < n and text[j] not in "'\"":
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(text[j])
                j += 1
            if j >= n:
                raise ValueError("Unclosed string literal")
            word = "".join(out)
            when = _try_time(word)
            tokens.append(_Tok("value", word if when is None else when, text[i : j + 1]))
            i = j + 1
            continue
        if ch == "(":
            tokens.append(_Tok("open", "(", "("))
            i += 1
            continue
        if ch == ")":
            tokens.append(_Tok("close", ")", ")"))
            i += 1
            continue
        j = i
        while j < n and _is_symbol_char(text[j]):
            j += 1
        symbol = text[i:j]
        if symbol not in _SYMBOLS:
            raise ValueError(f"Invalid token: '{symbol}'")
        tokens.append(_Tok("op", symbol, symbol))
        i = j
    return tokens


# Binary levels, loosest first; prefixes bind tightest.
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"?", ":", "??"}),
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"}),
    frozenset({"&", "|", "^"}),
    frozenset({"<<", ">>"}),
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%"}),
    frozenset({"**"}),
)

_Node = tuple[Any, ...]  # ("value", v) | ("accessor", name) | ("array", [...]) | (op, left, right) | ("prefix", op, node)


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> _Node:
        if not self.tokens:
            raise ValueError("empty expression")
        node = self.separated()
        tok = self.peek()
        if tok is not None:
            raise ValueError(f"unexpected token '{tok.text}'")
        return node

    def separated(self) -> _Node:
        first = self.level(0)
        if self.peek() is None or self.peek().kind != "sep":  # type: ignore[union-attr]
            return first
        items = [first]
        while (tok := self.peek()) is not None and tok.kind == "sep":
            self.i += 1
            items.append(self.level(0))
        return ("array", items)

    def level(self, depth: int) -> _Node:
        if depth == len(_LEVELS):
            return self.prefix()
        left = self.level(depth + 1)
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.value in _LEVELS[depth]:
            self.i += 1
            right = self.level(depth + 1)
            left = (tok.value, left, right)
        return left

    def prefix(self) -> _Node:
        tok = self.peek()
        if tok is None:
            raise ValueError("unexpected end of expression")
        if tok.kind == "op" and tok.value in _PREFIX:
            self.i += 1
            return ("prefix", tok.value, self.prefix())
        if tok.kind == "open":
            self.i += 1
            inner = self.separated()
            close = self.peek()
            if close is None or close.kind != "close":
                raise ValueError("Unbalanced parenthesis")
            self.i += 1
            return inner
        if tok.kind in {"value", "accessor"}:
            self.i += 1
            return (tok.kind, tok.value)
        raise ValueError(f"unexpected token '{tok.text}'")


def _go(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if value is None:
        return "<nil>"
    return str(value)


def _num(value: Any, op: str, kind: str = "modifier") -> float:
    if isinstance(value, float):
        return value
    raise ValueError(f"Value '{_go(value)}' cannot be used with the {kind} '{op}', it is not a number")


def _boolean(value: Any, op: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"Value '{_go(value)}' cannot be used with the logical operator '{op}', it is not a bool")


def _eval(node: _Node) -> Any:
    kind = node[0]
    if kind == "value":
        return node[1]
    if kind == "accessor":
        raise ValueError(f"No parameter '{node[1].split('.')[0]}' found.")
    if kind == "array":
        return [_eval(item) for item in node[1]]
    if kind == "prefix":
        value = _eval(node[2])
        if node[1] == "!":
            if not isinstance(value, bool):
                raise ValueError(f"Value '{_go(value)}' cannot be used with the prefix '!', it is not a bool")
            return not value
        number = _num(value, node[1], "prefix")
        return -number if node[1] == "-" else float(~int(number))
    op, left_node, right_node = node
    if op in {"&&", "||"}:
        left = _boolean(_eval(left_node), op)
        if op == "&&" and not left:
            return False
        if op == "||" and left:
            return True
        return _boolean(_eval(right_node), op)
    if op == "?":
        cond = _eval(left_node)
        if not isinstance(cond, bool):
            raise ValueError(f"Value '{_go(cond)}' cannot be used with the ternary operator '?', it is not a bool")
        return _eval(right_node) if cond else None
    if op in {":", "??"}:
        left = _eval(left_node)
        return left if left is not None else _eval(right_node)
    left, right = _eval(left_node), _eval(right_node)
    return _binary(op, left, right)


def _binary(op: str, left: Any, right: Any) -> Any:
    if op == "==":
        return _same(left, right)
    if op == "!=":
        return not _same(left, right)
    if op in {">", ">=", "<", "<="}:
        both_num = isinstance(left, float) and isinstance(right, float)
        both_str = isinstance(left, str) and isinstance(right, str)
        if not (both_num or both_str):
            raise ValueError(f"Value '{_go(left)}' cannot be used with the comparator '{op}', it is not a number")
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    if op in {"=~", "!~"}:
        if not isinstance(left, str) or not isinstance(right, str):
            raise ValueError(f"Value '{_go(left)}' cannot be used with the comparator '{op}', it is not a string")
        try:
            found = compile_pattern(right).search(left) is not None
        except RegexError as exc:
            raise ValueError(f"Unable to compile regexp pattern '{right}': {exc}") from None
        return found if op == "=~" else not found
    if op == "in":
        if not isinstance(right, list):
            raise ValueError(f"Value '{_go(right)}' cannot be used with the comparator 'in', it is not an array")
        return any(_same(left, item) for item in right)
    if op == "+":
        if isinstance(left, str) or isinstance(right, str):
            return _go(left) + _go(right)
        return _num(left, op) + _num(right, op)
    a, b = _num(left, op), _num(right, op)
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return math.copysign(math.inf, a) if a else math.nan
        return a / b
    if op == "%":
        return math.fmod(a, b) if b else math.nan
    if op == "**":
        try:
            return math.pow(a, b)
        except (OverflowError, ValueError):
            return math.inf
    ia, ib = int(a), int(b)
    results = {"&": ia & ib, "|": ia | ib, "^": ia ^ ib, "<<": ia << min(ib, 64), ">>": ia >> ib}
    return float(results[op])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if type(a) is not type(b):
        return False
    return bool(a == b)


def parse_when(text: str) -> None:
    """Check that ``text`` parses as a ``when`` condition; raise ExpressionError if not."""
    try:
        _Parser(_tokenize(text)).parse()
    except ValueError as exc:
        raise ExpressionError(f"invalid 'when' expression {text!r}: {exc}") from None


def evaluate_when(text: str) -> bool:
    """Evaluate an already substituted ``when`` condition the way Argo does.

    Raises ExpressionError naming the condition when it does not parse, fails (e.g.
    ``<`` between a number and a word) or does not give a boolean.
    """
    if text.strip() == "":
        return True
    try:
        tree = _Parser(_tokenize(text)).parse()
    except ValueError as exc:
        hint = " (hint: try wrapping the affected expression in quotes (\"))" if "Invalid token" in str(exc) else ""
        raise ExpressionError(f"invalid 'when' expression {text!r}: {exc}{hint}") from None
    try:
        result = _eval(tree)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ExpressionError(f"failed to evaluate 'when' expression {text!r}: {exc}") from None
    if not isinstance(result, bool):
        raise ExpressionError(f"expected boolean evaluation for 'when' expression {text!r}, got {_go(result)}")
    return result
