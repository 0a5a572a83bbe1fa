"""``{{...}}`` substitution per Argo's docs/variables.md and its template code.

Facts used: simple tags are looked up by name with surrounding spaces ignored;
``{{=expr}}`` tags are expr-lang expressions over the variables (hyphenated names need
``['...']``); string results are inserted as they are, other results as JSON; Argo
fails with "failed to resolve {{...}}" for unknown names when it must resolve, and
leaves them in place when unresolved tags are allowed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hookbus.controller.argo.errors import ArgoError, ExpressionError
from hookbus.controller.argo.substitute import (
    UnresolvedError,
    expressions,
    nested_env,
    placeholders,
    substitute,
    substitute_string,
)

SCOPE: dict[str, Any] = {
    "inputs.parameters.message": "hello world",
    "inputs.parameters.my-param": "7",
    "inputs.parameters.foo": "3",
    "steps.generate.outputs.result": '[{"a": 1}, {"a": 2}]',
    "steps.flip-coin.outputs.result": "heads",
    "tasks.T.outputs.parameters.p": "from-task",
    "workflow.name": "wf-abc12",
    "workflow.parameters.p": "wp",
    "workflow.parameters.config": '{"a": "1"}',
    "item": '{"field":"x"}',
    "item.field": "x",
}


def test_simple_tags_with_and_without_spaces() -> None:
    assert substitute_string("echo {{inputs.parameters.message}}", SCOPE) == "echo hello world"
    assert substitute_string("{{ inputs.parameters.message }}!", SCOPE) == "hello world!"
    assert substitute_string("{{workflow.name}}-{{item.field}}", SCOPE) == "wf-abc12-x"


def test_every_string_of_a_json_like_object_and_a_new_object() -> None:
    obj = {
        "name": "{{workflow.name}}",
        "args": ["{{inputs.parameters.foo}}", 3, None, True, {"nested": ["{{item.field}}"]}],
        "{{workflow.parameters.p}}": "key substituted too",
    }
    out = substitute(obj, SCOPE)
    assert out == {
        "name": "wf-abc12",
        "args": ["3", 3, None, True, {"nested": ["x"]}],
        "wp": "key substituted too",
    }
    assert obj["name"] == "{{workflow.name}}"  # the input is not changed


def test_expression_tags_from_argo_examples() -> None:
    assert substitute_string("hello {{=asInt(inputs.parameters.foo) * 10}}", SCOPE) == "hello 30"
    assert substitute_string("{{=toJson(filter([1, 3], {# > 1}))}}", SCOPE) == "[3]"
    assert substitute_string("{{=jsonpath(workflow.parameters.config, '$.a')}}", SCOPE) == "1"
    assert substitute_string("{{= inputs.parameters['my-param'] }}", SCOPE) == "7"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{=inputs.parameters.message}}", "hello world"),
        ("{{=inputs.parameters['my-param']}}", "7"),
        ("{{=steps['generate'].outputs.result}}", '[{"a": 1}, {"a": 2}]'),
        ("{{=steps['flip-coin'].outputs.result == 'heads'}}", "true"),
        ("{{=tasks.T.outputs.parameters.p}}", "from-task"),
        ("{{=workflow.parameters.p}}", "wp"),
        ("{{=workflow.name}}", "wf-abc12"),
        ("{{=item.field}}", "x"),
        # with both item and item.field in scope, Argo's env keeps the nested form
        ("{{=item}}", '{"field":"x"}'),
        ("{{=[1, 2]}}", "[1,2]"),
        ("{{=1.5 * 2}}", "3"),
        ("{{=sprig.upper(item.field)}}", "X"),
    ],
)
def test_expression_env_reaches_the_flat_scope(text: str, want: str) -> None:
    assert substitute_string(text, SCOPE) == want


def test_nested_env() -> None:
    env = nested_env({"a.b.c": "1", "a.b.d": "2", "x": "3", "item": "whole", "item.k": "v"})
    assert env == {"a": {"b": {"c": "1", "d": "2"}}, "x": "3", "item": {"k": "v"}}


def test_strict_unknown_names_are_all_listed() -> None:
    with pytest.raises(UnresolvedError) as info:
        substitute({"a": "{{inputs.parameters.nope}}", "b": ["{{ steps.x.outputs.result }}"]}, SCOPE)
    err = info.value
    assert err.names == ["inputs.parameters.nope", "steps.x.outputs.result"]
    assert "failed to resolve {{inputs.parameters.nope}}" in str(err)
    assert isinstance(err, ArgoError)
    assert err.retryable is False


def test_strict_expression_with_unknown_variable() -> None:
    with pytest.raises(UnresolvedError) as info:
        substitute_string("{{=steps.missing.outputs.result}}", SCOPE)
    assert "steps.missing.outputs.result is missing" in str(info.value)
    with pytest.raises(UnresolvedError) as info2:
        substitute_string("{{=lastRetry.exitCode}}", SCOPE)
    assert "lastRetry is missing" in str(info2.value)


def test_strict_invalid_expression_raises_expression_error() -> None:
    with pytest.raises(ExpressionError) as info:
        substitute_string("{{=1 +}}", SCOPE)
    assert "1 +" in str(info.value)
    with pytest.raises(ExpressionError):
        substitute_string("{{=asInt(inputs.parameters.message)}}", SCOPE)


def test_non_strict_leaves_unresolved_tags_untouched() -> None:
    text = "a {{inputs.parameters.nope}} b {{=steps.missing.outputs.result}} c {{workflow.name}}"
    assert substitute_string(text, SCOPE, strict=False) == (
        "a {{inputs.parameters.nope}} b {{=steps.missing.outputs.result}} c wf-abc12"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c {{=1 +}}", "invalid expression '1 +'"),
        ("{{=nosuch(1)}}", "failed to evaluate expression 'nosuch(1)': unknown function nosuch()"),
        ('{{=asInt("x")}}', "failed to evaluate expression 'asInt(\"x\")'"),
        ("{{=1.0 / 0}}", "failed to evaluate expression '1.0 / 0'"),
    ],
)
def test_a_failing_expression_fails_even_when_not_strict(text: str, message: str) -> None:
    """As Argo: only a variable that is not known yet leaves an expression as written."""
    for strict in (False, True):
        with pytest.raises(ExpressionError, match=re.escape(message)):
            substitute_string(text, SCOPE, strict=strict)


def test_non_strict_leaves_an_expression_over_a_pending_placeholder() -> None:
    scope = {"inputs.parameters.n": "{{steps.a.outputs.result}}"}
    text = "{{=asInt(inputs.parameters.n) + 1}}"
    assert substitute_string(text, scope, strict=False) == text


def test_none_value_counts_as_unresolved() -> None:
    scope = {"tasks.skipped.outputs.parameters.x": None}
    assert substitute_string("{{tasks.skipped.outputs.parameters.x}}", scope, strict=False) == (
        "{{tasks.skipped.outputs.parameters.x}}"
    )
    with pytest.raises(UnresolvedError):
        substitute_string("{{tasks.skipped.outputs.parameters.x}}", scope)


def test_non_string_scope_values_are_printed_as_json() -> None:
    assert substitute_string("{{n}} {{b}} {{l}}", {"n": 3, "b": True, "l": [1, "a"]}) == '3 true [1,"a"]'


def test_tag_ends_at_first_closing_braces_and_unclosed_is_text() -> None:
    assert substitute_string("{{workflow.name}}}", SCOPE) == "wf-abc12}"
    assert substitute_string("no tag {{ here", SCOPE) == "no tag {{ here"
    assert substitute_string("plain", SCOPE) == "plain"


def test_substituted_values_are_not_substituted_again() -> None:
    scope = {"a": "{{b}}", "b": "no"}
    assert substitute_string("{{a}}", scope) == "{{b}}"


def test_placeholders_and_expressions() -> None:
    obj = {
        "x": "{{ inputs.parameters.a }} and {{steps.s.outputs.result}}",
        "y": ["{{=asInt(inputs.parameters.b)}}", "{{workflow.name}}"],
        "{{item}}": 1,
    }
    assert placeholders(obj) == {"inputs.parameters.a", "steps.s.outputs.result", "workflow.name", "item"}
    assert expressions(obj) == {"asInt(inputs.parameters.b)"}
