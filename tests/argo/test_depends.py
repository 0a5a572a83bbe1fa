"""Enhanced depends logic, per Argo's docs/enhanced-depends-logic.md and its DAG code.

Facts used: task results Succeeded/Failed/Errored/Skipped/Omitted/Daemoned and, for task
groups, AnySucceeded/AllFailed; a bare name means (Succeeded || Skipped || Daemoned),
widened by the dependency's continueOn; ``dependencies: [A, B, C]`` is "A && B && C";
a task is only decided once all its dependencies are fulfilled (finished, skipped,
omitted, or a daemon past Pending).
"""

from __future__ import annotations

import re

import pytest

from hookbus.controller.argo.depends import (
    DependsRef,
    DependsToken,
    TaskState,
    dependencies_to_depends,
    is_fulfilled,
    parse_depends,
    scan_depends,
    tokenize_depends,
)
from hookbus.controller.argo.errors import ExpressionError

OK = TaskState("Succeeded")
FAILED = TaskState("Failed")
ERROR = TaskState("Error")
SKIPPED = TaskState("Skipped")
OMITTED = TaskState("Omitted")
RUNNING = TaskState("Running")
PENDING = TaskState("Pending")


def test_tasks_lists_every_referenced_task() -> None:
    d = parse_depends("A && (B.Failed || C.Skipped) && !task-3.Errored")
    assert d.tasks == {"A", "B", "C", "task-3"}
    assert d.group_tasks == frozenset()
    assert parse_depends("t.AnySucceeded || u.AllFailed").group_tasks == {"t", "u"}


def test_dag_enhanced_depends_example() -> None:
    # dag-enhanced-depends.yaml: B and C depend on A; D on "A && (C.Succeeded || C.Failed)"
    d = parse_depends("A && (C.Succeeded || C.Failed)")
    assert d.evaluate({"A": OK, "C": FAILED}) is True
    assert d.evaluate({"A": OK, "C": OK}) is True
    assert d.evaluate({"A": OK, "C": ERROR}) is False
    assert d.evaluate({"A": FAILED, "C": OK}) is False
    # and E: "B.Failed && C" with B Failed, C Succeeded
    assert parse_depends("B.Failed && C").evaluate({"B": FAILED, "C": OK}) is True
    assert parse_depends("B.Failed && C").evaluate({"B": OK, "C": OK}) is False


@pytest.mark.parametrize(
    ("state", "want"),
    [(OK, True), (SKIPPED, True), (TaskState("Running", daemoned=True), True),
     (FAILED, False), (ERROR, False), (OMITTED, False)],
)
def test_bare_name_means_succeeded_skipped_or_daemoned(state: TaskState, want: bool) -> None:
    assert parse_depends("task").evaluate({"task": state}) is want


def test_bare_name_widened_by_continue_on() -> None:
    d = parse_depends("A")
    assert d.evaluate({"A": TaskState("Failed", continue_on_failed=True)}) is True
    assert d.evaluate({"A": TaskState("Error", continue_on_failed=True)}) is False
    assert d.evaluate({"A": TaskState("Error", continue_on_error=True)}) is True
    # an explicit result is not widened
    assert parse_depends("A.Succeeded").evaluate({"A": TaskState("Failed", continue_on_failed=True)}) is False


@pytest.mark.parametrize(
    ("result", "state", "want"),
    [
        ("Succeeded", OK, True),
        ("Succeeded", FAILED, False),
        ("Failed", FAILED, True),
        ("Failed", ERROR, False),
        ("Errored", ERROR, True),
        ("Errored", FAILED, False),
        ("Skipped", SKIPPED, True),
        ("Omitted", OMITTED, True),
        ("Omitted", SKIPPED, False),
        ("Daemoned", TaskState("Running", daemoned=True), True),
        ("Daemoned", TaskState("Succeeded", daemoned=True), True),
        ("Daemoned", OK, False),
    ],
)
def test_each_task_result(result: str, state: TaskState, want: bool) -> None:
    assert parse_depends(f"t.{result}").evaluate({"t": state}) is want


def test_task_group_results() -> None:
    any_ok = parse_depends("fan.AnySucceeded")
    all_failed = parse_depends("fan.AllFailed")
    mixed = TaskState("Failed", group=True, children_phases=("Failed", "Succeeded"))
    failed = TaskState("Failed", group=True, children_phases=("Failed", "Failed"))
    with_error = TaskState("Failed", group=True, children_phases=("Failed", "Error"))
    empty = TaskState("Succeeded", group=True, children_phases=())
    assert any_ok.evaluate({"fan": mixed}) is True
    assert any_ok.evaluate({"fan": failed}) is False
    assert all_failed.evaluate({"fan": failed}) is True
    assert all_failed.evaluate({"fan": mixed}) is False
    assert all_failed.evaluate({"fan": with_error}) is False  # Error is not Failed
    assert all_failed.evaluate({"fan": empty}) is False  # needs at least one child
    # on a task that is not a group both are false
    assert any_ok.evaluate({"fan": OK}) is False
    assert all_failed.evaluate({"fan": FAILED}) is False


def test_undecided_until_every_dependency_is_fulfilled() -> None:
    d = parse_depends("A || B")
    # no short-circuit: A already succeeded but B is still running
    assert d.evaluate({"A": OK, "B": RUNNING}) is None
    assert d.evaluate({"A": OK}) is None  # B not started
    assert d.evaluate({"A": OK, "B": PENDING}) is None
    assert d.evaluate({"A": OK, "B": FAILED}) is True
    # a daemon counts as fulfilled once it is past Pending
    assert parse_depends("svc").evaluate({"svc": TaskState("Pending", daemoned=True)}) is None
    assert parse_depends("svc").evaluate({"svc": TaskState("Running", daemoned=True)}) is True


@pytest.mark.parametrize(
    ("phase", "fulfilled"),
    [("Succeeded", True), ("Failed", True), ("Error", True), ("Skipped", True),
     ("Omitted", True), ("Running", False), ("Pending", False)],
)
def test_fulfilled_phases(phase: str, fulfilled: bool) -> None:
    assert is_fulfilled(TaskState(phase)) is fulfilled


def test_operators_and_precedence() -> None:
    states = {"a": OK, "b": FAILED, "c": OK}
    assert parse_depends("a || b && c").evaluate(states) is True  # && binds tighter
    assert parse_depends("(a || b) && !c").evaluate(states) is False
    assert parse_depends("!b").evaluate(states) is True
    assert parse_depends("!!a").evaluate(states) is True
    assert parse_depends("a&&c").evaluate(states) is True
    # docs: "(task-2.Succeeded || task-2.Skipped) && !task-3.Failed"
    d = parse_depends("(task-2.Succeeded || task-2.Skipped) && !task-3.Failed")
    assert d.evaluate({"task-2": SKIPPED, "task-3": OK}) is True
    assert d.evaluate({"task-2": SKIPPED, "task-3": FAILED}) is False


def test_conformance_example_forms() -> None:
    # dag-continue-on-fail / status examples
    d = parse_depends("should-execute-2.Succeeded || should-not-execute")
    assert d.tasks == {"should-execute-2", "should-not-execute"}
    assert d.evaluate({"should-execute-2": OK, "should-not-execute": FAILED}) is True
    assert parse_depends("producer.Succeeded || producer.Skipped").evaluate({"producer": SKIPPED}) is True


def test_empty_depends_is_always_true() -> None:
    d = parse_depends("")
    assert d.tasks == frozenset()
    assert d.evaluate({}) is True


def test_dependencies_list_equals_and() -> None:
    text = dependencies_to_depends(["A", "B", "C"])
    assert text == "A && B && C"
    d = parse_depends(text)
    assert d.evaluate({"A": OK, "B": SKIPPED, "C": OK}) is True
    assert d.evaluate({"A": OK, "B": FAILED, "C": OK}) is False
    assert dependencies_to_depends([]) == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A.Successful", "task result 'Successful' for task 'A' is invalid"),
        ("A.succeeded", "is invalid"),
        ("A &&", "unexpected end"),
        ("(A || B", "missing ')'"),
        ("A B", "unexpected 'B'"),
        ("A & B", "unexpected"),
        ("A || _b", "unexpected"),
    ],
)
def test_invalid_depends(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_depends(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)


def test_tokenize_gives_kinds_and_offsets() -> None:
    assert tokenize_depends(" A &&(b.Failed)") == [
        DependsToken("word", "A", 1),
        DependsToken("op", "&&", 3),
        DependsToken("op", "(", 5),
        DependsToken("word", "b.Failed", 6),
        DependsToken("op", ")", 14),
    ]
    assert tokenize_depends("A & B")[1] == DependsToken("stray", "&", 2)
    assert tokenize_depends("   ") == []


def test_scan_reports_every_reference_and_problem() -> None:
    scan = scan_depends("A && (B.Failed || !c)")
    assert scan.refs == (
        DependsRef("A", None, 0),
        DependsRef("B", "Failed", 6),
        DependsRef("c", None, 19),
    )
    assert scan.tasks == {"A", "B", "c"}
    assert scan.problems == ()
    assert scan_depends("A.Done || (B").problems == (
        "unknown result 'Done' of task 'A' (one of AllFailed, AnySucceeded, Daemoned, "
        "Errored, Failed, Omitted, Skipped, Succeeded)",
        "unbalanced '('",
    )
    assert scan_depends("A & B").problems == ("unexpected '&'",)
    assert scan_depends("A B ||").problems == (
        "missing operator before 'B'",
        "expression ends with an operator",
    )


@pytest.mark.parametrize(
    "text",
    ["A", "A && !B.Failed", "(A || B) && C.AnySucceeded", "A &&", "A B", "A & B", "(A", "A)",
     "A.Done", "A || _b", "a.b.c", "!", "A || | B"],
)
def test_scan_finds_no_problem_exactly_when_the_parser_accepts(text: str) -> None:
    scan = scan_depends(text)
    try:
        parse_depends(text)
    except ExpressionError:
        parsed = False
    else:
        parsed = True
    well_named = all(
        re.fullmatch(r"[a-zA-Z0-9][-a-zA-Z0-9]*", ref.task) for ref in scan.refs
    )
    assert parsed == (not scan.problems and well_named)
