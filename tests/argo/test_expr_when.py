"""Argo ``when`` conditions: govaluate after substitution, bare words are strings.

Cases come from Argo's examples (conditionals*.yaml, coinflip*.yaml, loops-maps.yaml,
fibonacci-seq-conditional-param.yaml, recursive-for-loop.yaml, exit-handlers.yaml)
with their placeholders filled in as Argo would before evaluating, and from govaluate's
documented operators.
"""

from __future__ import annotations

import pytest

from hookbus.controller.argo.errors import ExpressionError
from hookbus.controller.argo.expr import evaluate_when
from hookbus.controller.argo.when import parse_when


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # conditionals.yaml / coinflip.yaml: "{{steps.flip-coin.outputs.result}} == heads"
        ("heads == heads", True),
        ("tails == heads", False),
        ("tails == tails", True),
        # conditionals.yaml govaluate form: "{{inputs.parameters.should-print}} == true"
        ("true == true", True),
        ("false == true", False),
        # when: "false" in skipped-output-defaults
        ("false", False),
        ("true", True),
        # exit-handlers.yaml: "{{workflow.status}} == Succeeded" / "!= Succeeded"
        ("Succeeded == Succeeded", True),
        ("Failed != Succeeded", True),
        # retry-with-steps / status-reference: "{{steps.flakey-container.status}} == Failed"
        ("Failed == Failed", True),
        # loops-maps style: "{{item.evenness}} == even"
        ("odd == even", False),
        # fibonacci-seq-conditional-param.yaml: numbers compare as numbers
        ("3 != 1 && 3 != 2", True),
        ("1 != 1 && 1 != 2", False),
        ("2 != 1 && 2 != 2", False),
        # recursive-for-loop.yaml: "{{steps.iterate-counter.outputs.result}} < {{inputs.parameters.limit}}"
        ("3 < 10", True),  # as strings "3" < "10" would be false
        ("10 < 10", False),
        ("1 == 1.0", True),
        # conditionals-complex.yaml (multi-line, parentheses)
        ("( heads == heads &&\n  tails == tails\n) ||\n( heads == tails &&\n  tails == heads )", True),
        ("( heads == heads &&\n  heads == tails\n) ||\n( heads == tails &&\n  heads == heads )", False),
        # conditionals-complex.yaml regex: "{{steps.flip-again.outputs.result}} =~ hea"
        ("heads =~ hea", True),
        ("tails =~ hea", False),
        ("tails !~ hea", True),
        ("'tails' =~ '^t.*s$'", True),
        # quoting
        ("'Succeeded' == Succeeded", True),
        ('"two words" == "two words"', True),
        ("'a\\'b' == \"a\\'b\"", True),  # a backslash escapes; either quote ends a string
        ("[two words] == 'two words'", True),
        # strings compare lexically, numbers and strings never equal
        ("abc < abd", True),
        ("'1' == 1", False),
        ("5 != five", True),
        # logic and arithmetic
        ("!(a == b)", True),
        ("!true || false", False),
        ("1 + 2 == 3", True),
        ("2 ** 3 == 8", True),
        ("7 % 4 == 3", True),
        ("-1 < 0", True),
        ("a + b == ab", True),  # "+" concatenates when a side is a string
        ("0x10 == 16", True),
        ("x in (a, b, x)", True),
        ("z in (a, b)", False),
        ("3 in (1, 2, 3)", True),
        ("true ? yes == yes : no == yes", True),
        # quoted dates become Unix times and compare in time order
        ("'2024-01-02' < '2024-02-01'", True),
        ("'2024-01-02T10:00:00Z' > '2024-01-02T09:00:00Z'", True),
        # empty means no condition
        ("", True),
        ("   ", True),
    ],
)
def test_when(text: str, want: bool) -> None:
    assert evaluate_when(text) is want


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{steps.x.outputs.result}} == heads", "Invalid token: '{{'"),  # never substituted
        ("hello world == x", "unexpected token"),
        ("5 < abc", "cannot be used with the comparator '<'"),
        ("heads && true", "cannot be used with the logical operator '&&'"),
        ("!heads", "cannot be used with the prefix '!'"),
        ("a - b == c", "it is not a number"),
        ("1 + 1", "expected boolean"),
        ("heads", "expected boolean"),
        ("foo.bar == x", "No parameter 'foo' found"),
        ("(a == b", "Unbalanced parenthesis"),
        ("'open == x", "Unclosed string literal"),
        ("1.2.3 == x", "Unable to parse numeric value"),
        ("a == b =! c", "Invalid token"),
        ("x in y", "not an array"),
    ],
)
def test_when_errors_name_the_condition(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_when(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)


def test_invalid_token_error_carries_argos_quoting_hint() -> None:
    with pytest.raises(ExpressionError, match="try wrapping the affected expression in quotes"):
        evaluate_when("a == b@c")


def test_parse_when_checks_syntax_only() -> None:
    parse_when("5 < abc")  # a type error only shows when evaluated
    with pytest.raises(ExpressionError):
        parse_when("a == (b")
