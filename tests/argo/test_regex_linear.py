"""Patterns from manifests run in linear time (RE2, as Argo's Go code) and bad ones are named."""

from __future__ import annotations

import time

import pytest

from hookbus.controller.argo.errors import ArgoError
from hookbus.controller.argo.expr import evaluate
from hookbus.controller.argo.regex import MAX_PATTERN_CHARS, RegexError, compile_pattern
from hookbus.controller.argo.when import evaluate_when

SUBJECT = "a" * 36 + "!"


def test_a_catastrophic_pattern_answers_at_once_in_every_language() -> None:
    started = time.monotonic()
    assert evaluate(f"sprig.regexMatch('(a+)+$', '{SUBJECT}')", {}) is False
    assert evaluate(f"'{SUBJECT}' matches '(a+)+$'", {}) is False
    assert evaluate_when(f"'{SUBJECT}' =~ '(a+)+$'") is False
    assert time.monotonic() - started < 1.0  # Python's backtracking re takes minutes here


def test_patterns_re2_refuses_are_errors_that_name_them() -> None:
    with pytest.raises(RegexError, match=r"invalid regular expression '\(a\)\\\\1'"):
        compile_pattern(r"(a)\1")
    with pytest.raises(ArgoError, match="invalid regular expression"):
        evaluate(r"sprig.regexMatch('(?=a)', 'a')", {})
    with pytest.raises(RegexError, match=f"longer than {MAX_PATTERN_CHARS}"):
        compile_pattern("a" * (MAX_PATTERN_CHARS + 1))


def test_go_regexp_features_still_work() -> None:
    assert evaluate("sprig.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')", {}) == "-W-xxW-"
    assert evaluate("sprig.regexFindAll('[0-9]+', 'a1b22c333', -1)", {}) == ["1", "22", "333"]
    assert evaluate("'abc' matches '^a.c\\\\z'", {}) is True


def test_an_evaluation_past_its_time_budget_fails_naming_the_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    import hookbus.controller.argo.expr as expr

    monkeypatch.setattr(expr, "EVAL_BUDGET_S", 0.02)
    slow = 'len(toJson(map(1..9000, {sprig.repeat(100, "x")})))'
    started = time.monotonic()
    with pytest.raises(ArgoError, match=r"failed to evaluate expression 'len\(toJson.*took longer than 0.02s"):
        evaluate(slow, {})
    assert time.monotonic() - started < 1.0
    monkeypatch.setattr(expr, "EVAL_BUDGET_S", 30.0)
    assert evaluate(slow, {}) > 900_000  # the same expression within a sane budget
