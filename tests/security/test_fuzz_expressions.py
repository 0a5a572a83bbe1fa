"""Fuzzing ``{{=...}}`` expressions, ``when`` conditions and ``depends`` with hypothesis:
every input gives a value or a clear error, never a traceback, never a hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookbus.controller.argo.depends import parse_depends
from hookbus.controller.argo.substitute import substitute
from hookbus.controller.argo.when import evaluate_when
from tests.support.fuzzing import Outcomes

TOKENS = [
    "1", "0", "-3", "2.5", "1e308", "'a'", '"b"', "''", "nil", "true", "false", "x",
    "inputs.parameters.n", "inputs.parameters['n']", "inputs.parameters.s", "workflow.name",
    "steps.a.outputs.result", "item", "item.k",
    "+", "-", "*", "/", "%", "**", "^", "==", "!=", "<", ">=", "&&", "||", "!", "not", "and",
    "in", "matches", "contains", "startsWith", "??", "?", ":", ".", "?.", "..", "|",
    "(", ")", "[", "]", "{", "}", ",", "#", "let", "=", ";",
    "asInt(", "asFloat(", "string(", "toJson(", "jsonpath(", "len(", "map(", "filter(", "all(",
    "sprig.upper(", "sprig.repeat(", "sprig.trunc(", "sprig.fail(", "repeat(", "max(", "sum(",
    "nosuch(", "lower(", "split(", "join(", "now()", "date(", "int(", "float(",
]
SCOPE = {
    "inputs.parameters.n": "7",
    "inputs.parameters.s": '{"a": [1, 2]}',
    "workflow.name": "wf",
    "steps.a.outputs.result": "[1,2,3]",
    "item": "{{item}}",
}
ATOMS = ["1", "0", "-3", "2.5", "'a'", '"7"', "nil", "true", "[1, 'b']", "{'k': 2}", "inputs.parameters.n",
         "inputs.parameters.s", "workflow.name", "steps.a.outputs.result", "item", "1..3"]
OPERATORS = ["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||", "in", "contains", "??", ".."]
FUNCTIONS = ["asInt", "asFloat", "string", "toJson", "len", "upper", "trim", "sprig.upper", "sprig.int", "sprig.b64enc",
             "fromJSON", "jsonpath", "abs", "first", "last", "keys", "sum", "max", "int", "float", "nosuch"]
well_formed = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(OPERATORS), inner),
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(FUNCTIONS), inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda c, a, b: f"{c} ? {a} : {b}", inner, inner, inner),
        st.builds(lambda a: f"!{a}", inner),
        st.builds(lambda a, i: f"{a}[{i}]", inner, st.sampled_from(["0", "'k'", "-1", "1:2"])),
    ),
    max_leaves=8,
)
expression_text = st.one_of(
    well_formed,
    well_formed,
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
)
EXAMPLES = settings(
    max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def test_fuzz_expression_tags() -> None:
    outcomes = Outcomes("{{=...}} expressions", budget=2.5)

    @EXAMPLES
    @given(expression_text, st.booleans())
    def check(text: str, strict: bool) -> None:
        outcomes.run(text, lambda: substitute("x {{=" + text + "}} y", SCOPE, strict=strict))

    check()
    outcomes.check()


def test_fuzz_when_conditions() -> None:
    outcomes = Outcomes("when conditions", budget=2.5)

    @EXAMPLES
    @given(expression_text)
    def check(text: str) -> None:
        outcomes.run(text, lambda: evaluate_when(text))

    check()
    outcomes.check()


def test_fuzz_depends() -> None:
    outcomes = Outcomes("depends expressions", budget=1.0)
    words = ["a", "b.Succeeded", "c.Failed", "a.AnySucceeded", "b.Daemoned", "&&", "||", "!", "(", ")", ".", "x.Nope", "-"]

    @EXAMPLES
    @given(st.one_of(st.lists(st.sampled_from(words), max_size=10).map(" ".join), st.text(max_size=30)))
    def check(text: str) -> None:
        outcomes.run(text, lambda: parse_depends(text))

    check()
    outcomes.check()
