"""Argo's enhanced ``depends`` logic for DAG tasks.

Language: task references joined with ``&&``, ``||``, ``!`` and parentheses. A
reference is ``<task>`` or ``<task>.<Result>``; task names are ``[a-zA-Z0-9][-a-zA-Z0-9]*``.
Results, for a dependency whose node is ``n``:

============== ==============================================================
``Succeeded``  ``n`` phase is Succeeded
``Failed``     phase Failed (a non-zero exit)
``Errored``    phase Error (anything else that went wrong)
``Skipped``    phase Skipped (its ``when`` was false)
``Omitted``    phase Omitted (its own ``depends`` was false)
``Daemoned``   ``n`` is a daemon and not Pending
``AnySucceeded`` ``n`` is a task group (withItems/withParam/withSequence) and at
               least one child Succeeded
``AllFailed``  ``n`` is a task group with at least one child and every child
               Failed (an Error child does not count as Failed)
============== ==============================================================

A bare ``task`` means ``(task.Succeeded || task.Skipped || task.Daemoned)``, plus
``|| task.Errored`` when that task has ``continueOn.error`` and ``|| task.Failed`` when
it has ``continueOn.failed`` (Argo expands bare names this way in ``depends`` as well as
in ``dependencies``). ``dependencies: [A, B]`` is ``depends: "A && B"``.

When it is decided: as in Argo, only once **every** referenced task is *fulfilled*,
with no short-circuit (``A || B`` waits for both). A node is fulfilled when its phase is
Succeeded, Failed, Error, Skipped or Omitted, or when it is a daemon past Pending.
Until then :meth:`Depends.evaluate` returns ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Union

from .errors import ExpressionError
from .types import FULFILLED, Phase

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "FULFILLED_PHASES",
    "TASK_RESULTS",
    "Depends",
    "DependsRef",
    "DependsScan",
    "DependsToken",
    "TaskState",
    "dependencies_to_depends",
    "is_fulfilled",
    "parse_depends",
    "scan_depends",
    "tokenize_depends",
]

TASK_RESULTS = frozenset(
    {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
)
FULFILLED_PHASES = FULFILLED
"""Phases after which a task never changes again (Argo's fulfilled phases)."""
_GROUP_RESULTS = frozenset({"AnySucceeded", "AllFailed"})


@dataclass(frozen=True)
class TaskState:
    """What ``depends`` needs to know about one dependency's node.

    ``phase`` is an Argo node phase (Pending, Running, Succeeded, Failed, Error,
    Skipped, Omitted). ``group`` is true for a task expanded by withItems / withParam /
    withSequence, whose expanded children's phases are ``children_phases``.
    ``daemoned`` marks a daemon node. ``continue_on_failed`` / ``continue_on_error``
    copy the dependency task's ``continueOn`` (they widen what a bare name accepts).
    """

    phase: str
    group: bool = False
    children_phases: tuple[str, ...] = ()
    daemoned: bool = False
    continue_on_failed: bool = False
    continue_on_error: bool = False


def is_fulfilled(state: TaskState) -> bool:
    """Argo's ``NodeStatus.Fulfilled``: finished, skipped, omitted, or a running daemon."""
    return state.phase in FULFILLED_PHASES or (state.daemoned and state.phase != Phase.PENDING)


def _result(state: TaskState, result: str) -> bool:
    phase = state.phase
    if result == "Succeeded":
        return phase == Phase.SUCCEEDED
    if result == "Failed":
        return phase == Phase.FAILED
    if result == "Errored":
        return phase == Phase.ERROR
    if result == "Skipped":
        return phase == Phase.SKIPPED
    if result == "Omitted":
        return phase == Phase.OMITTED
    if result == "Daemoned":
        return state.daemoned and phase != Phase.PENDING
    if not state.group:
        return False
    if result == "AnySucceeded":
        return any(p == Phase.SUCCEEDED for p in state.children_phases)
    # AllFailed
    return bool(state.children_phases) and all(p == Phase.FAILED for p in state.children_phases)


@dataclass(frozen=True)
class _Ref:
    task: str
    result: str | None  # None: a bare name


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _BoolOp:
    op: str  # "&&" | "||"
    operands: tuple[_Node, ...]


_Node = Union[_Ref, _Not, _BoolOp]  # noqa: UP007 - a runtime alias needs Union

_LEXEME = re.compile(r"\s*(?:(?P<op>&&|\|\||!|\(|\))|(?P<word>[^\s&|!()]+)|(?P<stray>\S))")
_REF = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*(?:\.[A-Za-z][A-Za-z]*)?")


class DependsToken(NamedTuple):
    """One lexeme of a ``depends`` expression and its offset in the text.

    ``kind`` is ``"op"`` (``&&``, ``||``, ``!``, ``(``, ``)``), ``"word"`` (a task
    reference, well formed or not) or ``"stray"`` (a lone ``&`` or ``|``).
    """

    kind: str
    text: str
    offset: int


def tokenize_depends(text: str) -> list[DependsToken]:
    """Split a ``depends`` expression into tokens; never fails (see :class:`DependsToken`)."""
    out: list[DependsToken] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _LEXEME.match(stripped, pos)
        assert m is not None  # every non-space character starts some lexeme
        kind = m.lastgroup
        assert kind is not None
        out.append(DependsToken(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for kind, value, pos in tokenize_depends(text):
        if kind == "stray" or (kind == "word" and not _REF.fullmatch(value)):
            raise ExpressionError(f"invalid depends {text!r}: unexpected {value!r} at offset {pos}")
        out.append(("ref" if kind == "word" else kind, value, pos))
    return out


@dataclass(frozen=True)
class DependsRef:
    """A task a ``depends`` expression names: ``task`` or ``task.result``, at ``offset``."""

    task: str
    result: str | None
    offset: int


@dataclass(frozen=True)
class DependsScan:
    """What a tolerant reading of a ``depends`` expression found: every task reference,
    and every problem (worded for a lint report), instead of stopping at the first."""

    refs: tuple[DependsRef, ...]
    problems: tuple[str, ...]

    @property
    def tasks(self) -> set[str]:
        return {ref.task for ref in self.refs}


def scan_depends(text: str) -> DependsScan:
    """Read a ``depends`` expression without raising: all references and all problems.

    :func:`parse_depends` accepts exactly the expressions for which ``problems`` is empty
    and every task name is well formed.
    """
    refs: list[DependsRef] = []
    problems: list[str] = []
    depth = 0
    expect_operand = True
    tokens = tokenize_depends(text)
    for kind, token, offset in tokens:
        if kind == "stray":
            problems.append(f"unexpected {token!r}")
            expect_operand = True
        elif token in ("&&", "||"):
            if expect_operand:
                problems.append(f"unexpected {token!r}")
            expect_operand = True
        elif token == "!":
            if not expect_operand:
                problems.append("unexpected '!'")
        elif token == "(":
            if not expect_operand:
                problems.append("unexpected '('")
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0 or expect_operand:
                problems.append("unexpected ')'")
                depth = max(depth, 0)
            expect_operand = False
        else:
            if not expect_operand:
                problems.append(f"missing operator before {token!r}")
            task, dot, result = token.partition(".")
            if dot and result not in TASK_RESULTS:
                problems.append(
                    f"unknown result {result!r} of task {task!r} "
                    f"(one of {', '.join(sorted(TASK_RESULTS))})"
                )
            refs.append(DependsRef(task, result if dot else None, offset))
            expect_operand = False
    if depth > 0:
        problems.append("unbalanced '('")
    if expect_operand and tokens:
        problems.append("expression ends with an operator")
    return DependsScan(tuple(refs), tuple(problems))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(f"invalid depends {self.text!r}: {message}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> _Node:
        node = self.or_()
        tok = self.peek()
        if tok is not None:
            raise self.fail(f"unexpected {tok[1]!r} at offset {tok[2]}")
        return node

    def or_(self) -> _Node:
        items = [self.and_()]
        while (tok := self.peek()) is not None and tok[1] == "||":
            self.i += 1
            items.append(self.and_())
        return items[0] if len(items) == 1 else _BoolOp("||", tuple(items))

    def and_(self) -> _Node:
        items = [self.unary()]
        while (tok := self.peek()) is not None and tok[1] == "&&":
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else _BoolOp("&&", tuple(items))

    def unary(self) -> _Node:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end")
        self.i += 1
        kind, value, pos = tok
        if value == "!":
            return _Not(self.unary())
        if value == "(":
            inner = self.or_()
            close = self.peek()
            if close is None or close[1] != ")":
                raise self.fail(f"missing ')' for '(' at offset {pos}")
            self.i += 1
            return inner
        if kind == "ref":
            task, _, result = value.partition(".")
            if result and result not in TASK_RESULTS:
                raise self.fail(f"task result '{result}' for task '{task}' is invalid")
            return _Ref(task, result or None)
        raise self.fail(f"unexpected {value!r} at offset {pos}")


def _refs(node: _Node) -> list[_Ref]:
    if isinstance(node, _Ref):
        return [node]
    if isinstance(node, _Not):
        return _refs(node.operand)
    return [r for child in node.operands for r in _refs(child)]


def _bare(state: TaskState) -> bool:
    accepted = _result(state, "Succeeded") or _result(state, "Skipped") or _result(state, "Daemoned")
    if state.continue_on_error:
        accepted = accepted or _result(state, "Errored")
    if state.continue_on_failed:
        accepted = accepted or _result(state, "Failed")
    return accepted


def _eval(node: _Node, states: Mapping[str, TaskState]) -> bool:
    if isinstance(node, _Ref):
        state = states[node.task]
        return _bare(state) if node.result is None else _result(state, node.result)
    if isinstance(node, _Not):
        return not _eval(node.operand, states)
    if node.op == "&&":
        return all(_eval(child, states) for child in node.operands)
    return any(_eval(child, states) for child in node.operands)


@dataclass(frozen=True)
class Depends:
    """A parsed ``depends`` expression (empty text: no dependencies, always true)."""

    text: str
    tasks: frozenset[str]
    group_tasks: frozenset[str]
    """Tasks referenced with ``.AnySucceeded`` / ``.AllFailed`` (Argo's item dependencies)."""
    _tree: _Node | None

    def evaluate(self, states: Mapping[str, TaskState]) -> bool | None:
        """True/False once every referenced task is fulfilled, else None (wait).

        ``states`` maps task names to their node's state; a referenced task missing from
        it has not started, so the result is None.
        """
        for task in self.tasks:
            state = states.get(task)
            if state is None or not is_fulfilled(state):
                return None
        if self._tree is None:
            return True
        return _eval(self._tree, states)


def parse_depends(text: str) -> Depends:
    """Parse a ``depends`` expression; raise ExpressionError naming it when invalid."""
    if text.strip() == "":
        return Depends(text=text, tasks=frozenset(), group_tasks=frozenset(), _tree=None)
    tree = _Parser(text).parse()
    refs = _refs(tree)
    return Depends(
        text=text,
        tasks=frozenset(r.task for r in refs),
        group_tasks=frozenset(r.task for r in refs if r.result in _GROUP_RESULTS),
        _tree=tree,
    )


def dependencies_to_depends(names: list[str]) -> str:
    """``dependencies: [A, B]`` as the equivalent ``depends`` text, ``"A && B"``."""
    return " && ".join(names)
