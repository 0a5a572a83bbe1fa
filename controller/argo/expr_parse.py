"""Parse the expr-lang dialect Argo uses into a Python ``ast`` tree.

The tree is never compiled nor handed to ``eval``: :mod:`hookbus.controller.argo.expr`
walks it with ``simpleeval``, whose node whitelist and limits are the sandbox. Every
operator becomes a call of a helper named ``$...`` (a name no expression can spell), so
the evaluation rules are expr-lang's (typed comparisons, integer arithmetic, nil
handling), not Python's.

Supported syntax (expr-lang v1.17): literals (ints incl. hex/octal/binary and ``_``,
floats, ``'...'``/``"..."``/backtick strings, ``true``/``false``/``nil``), arrays and
maps, member access ``a.b``, ``a?.b``, ``a[x]``, ``a?.[x]``, slices ``a[i:j]``, calls
and method calls, unary ``! not - +``, binary ``|| or && and == != < <= > >= in
not in matches contains startsWith endsWith .. + - * / % ** ^ ??`` with expr-lang's
precedences, chained comparisons (``1 < x < 3``), the ternary ``c ? a : b``, the pipe
``x | f(y)``, and closures ``{...}`` with ``#``, ``#index`` and ``.field`` as the
predicate of the builtins ``all any none one filter map count find findIndex findLast
findLastIndex sum``, and ``//`` / ``/* */`` comments. Not supported: ``let``, ``if``/``else`` blocks, ``reduce``,
``sortBy``, ``groupBy``; they fail with a clear message.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CLOSURE_BUILTINS", "ParseError", "ParsedExpression", "parse_expression"]


class ParseError(ValueError):
    """The text is not a valid expression; ``position`` is a 0-based offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at offset {position})")
        self.position = position


@dataclass(frozen=True)
class _Token:
    kind: str  # number | string | ident | op | bracket | pointer | eof
    value: str
    pos: int
    literal: object = None


_OPERATOR_WORDS = {"in", "or", "and", "matches", "contains", "startsWith", "endsWith", "not", "let"}
_TWO_CHAR = {"&&", "||", "==", "!=", "<=", ">=", "**", "??", "?.", ".."}
_ONE_CHAR = set("+-*/%^<>!?:.,|")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:[0-9][0-9_]*)?(?:\.[0-9][0-9_]*)?(?:[eE][+-]?[0-9_]+)?"
)


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if text.startswith("//", i):  # comments, as in expr-lang
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ParseError("unclosed comment", i)
            i = end + 2
            continue
        if ch in "'\"":
            value, i2 = _scan_string(text, i)
            tokens.append(_Token("string", text[i:i2], i, value))
            i = i2
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ParseError("unterminated raw string", i)
            tokens.append(_Token("string", text[i : end + 1], i, text[i + 1 : end]))
            i = end + 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            assert m is not None
            word = m.group(0)
            if word.endswith(".") or (i + len(word) < n and text[i + len(word) : i + len(word) + 2] == ".."):
                # "1..3" is a range, not the float "1."
                word = word.rstrip(".")
            end = i + len(word)
            if end < n and _is_ident_char(text[end]):
                raise ParseError(f"bad number syntax: {text[i:end + 1]!r}", i)
            tokens.append(_Token("number", word, i, _number_value(word, i)))
            i = end
            continue
        if ch == "#":
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            tokens.append(_Token("pointer", text[i + 1 : j], i))
            i = j
            continue
        if _is_ident_char(ch):
            j = i
            while j < n and _is_ident_char(text[j]):
                j += 1
            word = text[i:j]
            kind = "op" if word in _OPERATOR_WORDS else "ident"
            tokens.append(_Token(kind, word, i))
            i = j
            continue
        if ch in "([{)]}":
            tokens.append(_Token("bracket", ch, i))
            i += 1
            continue
        two = text[i : i + 2]
        if two in _TWO_CHAR:
            if two == "?." and i + 2 < n and text[i + 2].isdigit():
                # "a ?.5 : b" is a ternary with a float, not optional chaining
                tokens.append(_Token("op", "?", i))
                i += 1
                continue
            tokens.append(_Token("op", two, i))
            i += 2
            continue
        if ch in _ONE_CHAR:
            tokens.append(_Token("op", ch, i))
            i += 1
            continue
        raise ParseError(f"unrecognized character {ch!r}", i)
    tokens.append(_Token("eof", "", n))
    return tokens


def _scan_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            esc = text[i + 1]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
                continue
            if esc in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[esc]
                digits = text[i + 2 : i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise ParseError(f"invalid escape \\{esc}{digits}", i)
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            raise ParseError(f"invalid escape \\{esc}", i)
        out.append(ch)
        i += 1
    raise ParseError("literal not terminated", start)


def _number_value(word: str, pos: int) -> int | float:
    clean = word.replace("_", "")
    try:
        lower = clean.lower()
        if lower.startswith(("0x", "0o", "0b")):
            return int(clean, 0)
        if any(c in lower for c in ".e"):
            return float(clean)
        return int(clean, 10)
    except ValueError:
        raise ParseError(f"bad number syntax: {word!r}", pos) from None


# Binary operators: precedence and right associativity, as in expr-lang.
_BINARY: dict[str, tuple[int, bool]] = {
    "|": (0, False), "or": (10, False), "||": (10, False), "and": (15, False),
    "&&": (15, False), "==": (20, False), "!=": (20, False), "<": (20, False),
    ">": (20, False), ">=": (20, False), "<=": (20, False), "in": (20, False),
    "matches": (20, False), "contains": (20, False), "startsWith": (20, False),
    "endsWith": (20, False), "..": (25, False), "+": (30, False), "-": (30, False),
    "*": (60, False), "/": (60, False), "%": (60, False), "**": (100, True),
    "^": (100, True), "??": (500, False),
}
_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_COMPARISONS = {"<", ">", "<=", ">="}
_NEGATABLE = {"in", "matches", "contains", "startsWith", "endsWith"}
_NAMED = {"or": "||", "and": "&&"}

#: Builtins whose second argument is a predicate evaluated per element.
CLOSURE_BUILTINS = frozenset(
    {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex",
     "findLast", "findLastIndex", "sum"}
)
_UNSUPPORTED = {"reduce", "sortBy", "groupBy", "let"}


def _name(ident: str) -> ast.Name:
    return ast.Name(id=ident, ctx=ast.Load())


def _helper(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name("$" + name), args=list(args), keywords=[])


def _const(value: Any) -> ast.Constant:
    return ast.Constant(value=value)


@dataclass(frozen=True)
class ParsedExpression:
    """A parsed expression: the tree to evaluate and the variables it reads.

    ``identifiers`` are the root names read from the environment; ``paths`` the dotted
    member paths of plain ``a.b['c']`` chains (``"inputs.parameters.c"``), as Argo
    lists them to decide whether a tag can be resolved yet.
    """

    text: str
    tree: ast.expr
    identifiers: frozenset[str]
    paths: frozenset[str] = field(default_factory=frozenset)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.closure_depth = 0
        self.identifiers: set[str] = set()
        self.paths: set[str] = set()

    # -- token helpers -------------------------------------------------------------------
    @property
    def cur(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.cur
        self.index += 1
        return tok

    def is_(self, kind: str, value: str | None = None) -> bool:
        tok = self.cur
        return tok.kind == kind and (value is None or tok.value == value)

    def expect(self, kind: str, value: str | None = None) -> _Token:
        if not self.is_(kind, value):
            want = value if value is not None else kind
            got = self.cur.value or "end of expression"
            raise ParseError(f"expected {want!r}, got {got!r}", self.cur.pos)
        return self.advance()

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> ast.expr:
        if self.is_("eof"):
            raise ParseError("empty expression", 0)
        node = self.expression(0)
        if not self.is_("eof"):
            raise ParseError(f"unexpected token {self.cur.value!r}", self.cur.pos)
        return node

    def expression(self, precedence: int) -> ast.expr:
        if self.is_("op", "let") or self.is_("ident", "if"):
            raise ParseError(f"{self.cur.value!r} is not supported", self.cur.pos)
        left = self.unary()
        prev_op = ""
        while True:
            tok = self.cur
            if tok.kind != "op":
                break
            negate = False
            op = tok.value
            if op == "not" and self.peek().kind == "op" and self.peek().value in _NEGATABLE:
                negate = True
                op = self.peek().value
            if op not in _BINARY or _BINARY[op][0] < precedence:
                break
            if prev_op == "??" and op != "??":
                raise ParseError(
                    f"operator {op!r} and coalesce expressions (??) cannot be mixed; wrap either in parentheses",
                    tok.pos,
                )
            self.advance()
            if negate:
                self.advance()
            prec, right_assoc = _BINARY[op]
            if op == "|":
                left = self.pipe(left)
            elif op in _COMPARISONS:
                left = self.comparison(left, op, prec)
            else:
                right = self.expression(prec if right_assoc else prec + 1)
                left = self.binary(op, left, right)
            if negate:
                left = _helper("not", left)
            prev_op = op
        if precedence == 0 and self.is_("op", "?"):
            self.advance()
            if self.is_("op", ":"):  # the Elvis form "a ?: b"
                self.advance()
                other = self.expression(0)
                return ast.IfExp(test=_helper("truthy", left), body=left, orelse=other)
            then = self.expression(0)
            self.expect("op", ":")
            other = self.expression(0)
            return ast.IfExp(test=_helper("bool", left, _const("?:")), body=then, orelse=other)
        return left

    def comparison(self, left: ast.expr, op: str, prec: int) -> ast.expr:
        right = self.expression(prec + 1)
        node = self.binary(op, left, right)
        # 1 < x < 3 means 1 < x && x < 3
        while self.is_("op") and self.cur.value in _COMPARISONS:
            op = self.advance().value
            nxt = self.expression(prec + 1)
            node = self.binary("&&", node, self.binary(op, right, nxt))
            right = nxt
        return node

    def binary(self, op: str, left: ast.expr, right: ast.expr) -> ast.expr:
        op = _NAMED.get(op, op)
        if op in {"&&", "||"}:
            boolop: ast.boolop = ast.And() if op == "&&" else ast.Or()
            return ast.BoolOp(op=boolop, values=[_helper("bool", left, _const(op)), _helper("bool", right, _const(op))])
        if op == "??":
            return ast.IfExp(test=_helper("isnil", left), body=right, orelse=left)
        return _helper("binary", _const(op), left, right)

    def pipe(self, left: ast.expr) -> ast.expr:
        name_tok = self.expect("ident")
        self.expect("bracket", "(")
        return self.call(name_tok, [left])

    def unary(self) -> ast.expr:
        tok = self.cur
        if tok.kind == "op" and tok.value in _UNARY:
            self.advance()
            operand = self.expression(_UNARY[tok.value])
            if tok.value in {"!", "not"}:
                return _helper("not", operand)
            return _helper("unary", _const(tok.value), operand)
        return self.postfix(self.primary())

    def primary(self) -> ast.expr:
        tok = self.cur
        if tok.kind == "number" or tok.kind == "string":
            self.advance()
            return _const(tok.literal)
        if tok.kind == "pointer":
            self.advance()
            return self.pointer(tok)
        if tok.kind == "ident":
            self.advance()
            if tok.value in {"true", "false"}:
                return _const(tok.value == "true")
            if tok.value == "nil":
                return _const(None)
            if self.is_("bracket", "("):
                self.advance()
                return self.call(tok, [])
            self.identifiers.add(tok.value)
            return _name(tok.value)
        if tok.kind == "op" and tok.value == "." and self.closure_depth > 0:
            # ".field" inside a closure is "#.field"
            self.advance()
            name = self.expect("ident")
            return _helper("member", self.pointer(_Token("pointer", "", tok.pos)), _const(name.value), _const(False))
        if tok.kind == "bracket" and tok.value == "(":
            self.advance()
            node = self.expression(0)
            self.expect("bracket", ")")
            return node
        if tok.kind == "bracket" and tok.value == "[":
            self.advance()
            elts: list[ast.expr] = []
            while not self.is_("bracket", "]"):
                elts.append(self.expression(0))
                if not self.is_("bracket", "]"):
                    self.expect("op", ",")
            self.advance()
            return ast.List(elts=elts, ctx=ast.Load())
        if tok.kind == "bracket" and tok.value == "{":
            return self.map_literal()
        raise ParseError(f"unexpected token {tok.value or 'end of expression'!r}", tok.pos)

    def pointer(self, tok: _Token) -> ast.expr:
        if self.closure_depth == 0:
            raise ParseError("cannot use pointer '#' outside of a closure", tok.pos)
        depth = self.closure_depth
        if tok.value == "":
            return _name(f"$it{depth}")
        if tok.value == "index":
            return _name(f"$idx{depth}")
        raise ParseError(f"unknown pointer #{tok.value}", tok.pos)

    def map_literal(self) -> ast.expr:
        self.expect("bracket", "{")
        keys: list[ast.expr | None] = []
        values: list[ast.expr] = []
        while not self.is_("bracket", "}"):
            tok = self.cur
            if tok.kind == "ident" or (tok.kind == "op" and tok.value in _OPERATOR_WORDS):
                self.advance()
                keys.append(_const(tok.value))
            elif tok.kind in {"string", "number"}:
                self.advance()
                keys.append(_const(tok.literal if tok.kind == "string" else tok.value))
            elif tok.kind == "bracket" and tok.value == "(":
                self.advance()
                keys.append(self.expression(0))
                self.expect("bracket", ")")
            else:
                raise ParseError("a map key must be an identifier, a string, a number or (expression)", tok.pos)
            self.expect("op", ":")
            values.append(self.expression(0))
            if not self.is_("bracket", "}"):
                self.expect("op", ",")
        self.advance()
        return ast.Dict(keys=keys, values=values)

    def postfix(self, node: ast.expr) -> ast.expr:
        path = self._root_path(node)
        while True:
            tok = self.cur
            if tok.kind == "op" and tok.value in {".", "?."}:
                self.advance()
                optional = tok.value == "?."
                if optional and self.is_("bracket", "["):
                    node, path = self.index_or_slice(node, optional=True), None
                    continue
                name = self.cur
                if name.kind not in {"ident", "op"} or not name.value:
                    raise ParseError("expected a property name after '.'", name.pos)
                self.advance()
                if self.is_("bracket", "("):
                    self.advance()
                    args = self.arguments()
                    node = _helper("method", node, _const(name.value), _const(optional), *args)
                    path = None
                    continue
                node = _helper("member", node, _const(name.value), _const(optional))
                path = None if path is None or optional else f"{path}.{name.value}"
            elif tok.kind == "bracket" and tok.value == "[":
                key_tok = self.peek()
                node = self.index_or_slice(node, optional=False)
                # a plain ['name'] subscript continues the dotted path
                simple = key_tok.kind == "string" and self.tokens[self.index - 2] is key_tok
                path = f"{path}.{key_tok.literal}" if path is not None and simple else None
            elif tok.kind == "bracket" and tok.value == "(":
                self.advance()
                args = self.arguments()
                node = _helper("invoke", node, *args)
                path = None
            else:
                break
            if path is not None:
                self.paths.add(path)
        return node

    def _root_path(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name) and not node.id.startswith("$"):
            return node.id
        return None

    def index_or_slice(self, node: ast.expr, *, optional: bool) -> ast.expr:
        self.expect("bracket", "[")
        if self.is_("op", ":"):
            self.advance()
            lower: ast.expr = _const(None)
            upper = _const(None) if self.is_("bracket", "]") else self.expression(0)
            self.expect("bracket", "]")
            return _helper("slice", node, lower, upper)
        key = self.expression(0)
        if self.is_("op", ":"):
            self.advance()
            upper = _const(None) if self.is_("bracket", "]") else self.expression(0)
            self.expect("bracket", "]")
            return _helper("slice", node, key, upper)
        self.expect("bracket", "]")
        return _helper("member", node, key, _const(optional))

    def arguments(self) -> list[ast.expr]:
        args: list[ast.expr] = []
        while not self.is_("bracket", ")"):
            args.append(self.expression(0))
            if not self.is_("bracket", ")"):
                self.expect("op", ",")
        self.advance()
        return args

    def call(self, name_tok: _Token, leading: list[ast.expr]) -> ast.expr:
        name = name_tok.value
        if name in _UNSUPPORTED:
            raise ParseError(f"builtin {name}() is not supported", name_tok.pos)
        if name in CLOSURE_BUILTINS and (leading or not self.is_("bracket", ")")):
            return self.closure_call(name_tok, leading)
        args = leading + self.arguments()
        return _helper("call", _const(name), *args)

    def closure_call(self, name_tok: _Token, leading: list[ast.expr]) -> ast.expr:
        name = name_tok.value
        if leading:
            collection = leading[0]
        else:
            collection = self.expression(0)
            if self.is_("bracket", ")"):
                self.advance()
                if name in {"sum"}:
                    return _helper("call", _const(name), collection)
                raise ParseError(f"{name}() needs a predicate", name_tok.pos)
            self.expect("op", ",")
        if name == "sum" and self.is_("bracket", ")"):
            self.advance()
            return _helper("call", _const(name), collection)
        self.closure_depth += 1
        depth = self.closure_depth
        try:
            if self.is_("bracket", "{"):
                self.advance()
                body = self.expression(0)
                self.expect("bracket", "}")
            else:
                body = self.expression(0)
        finally:
            self.closure_depth -= 1
        self.expect("bracket", ")")
        target = ast.Tuple(elts=[ast.Name(id=f"$idx{depth}", ctx=ast.Store()),
                                 ast.Name(id=f"$it{depth}", ctx=ast.Store())], ctx=ast.Store())
        generator = ast.comprehension(target=target, iter=_helper("enumerate", collection, _const(name)),
                                      ifs=[], is_async=0)
        if name == "map":
            return ast.ListComp(elt=body, generators=[generator])
        if name == "filter":
            generator.ifs = [_helper("bool", body, _const("filter"))]
            return ast.ListComp(elt=_name(f"$it{depth}"), generators=[generator])
        if name == "sum":
            return _helper("call", _const("sum"), ast.ListComp(elt=body, generators=[generator]))
        pairs = ast.ListComp(
            elt=ast.Tuple(elts=[_helper("bool", body, _const(name)), _name(f"$idx{depth}"), _name(f"$it{depth}")],
                          ctx=ast.Load()),
            generators=[generator],
        )
        return _helper("predicate", _const(name), pairs)


def parse_expression(text: str) -> ParsedExpression:
    """Parse ``text``; raise :class:`ParseError` when it is not a valid expression."""
    parser = _Parser(text)
    tree = parser.parse()
    return ParsedExpression(
        text=text,
        tree=tree,
        identifiers=frozenset(parser.identifiers),
        # only the longest chains: "a.b.c" implies "a.b"
        paths=frozenset(p for p in parser.paths if not any(q.startswith(p + ".") for q in parser.paths)),
    )
