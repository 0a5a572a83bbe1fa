"""expr-lang expressions as Argo evaluates them in ``{{=...}}``, retryStrategy and hooks.

Expected values come from Argo's docs (docs/variables.md "Expression"), its example
workflows, and the expr-lang language definition, not from this implementation.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from hookbus.controller.argo.errors import ArgoError, ExpressionError
from hookbus.controller.argo.expr import (
    argo_env,
    compile_expression,
    evaluate,
    evaluate_bool,
    format_result,
)

ENV: dict[str, Any] = {
    "inputs": {
        "parameters": {
            "foo": "3",
            "my-int-param": "42",
            "my-float-param": "2.5",
            "my-string-param": "  padded  ",
            "should-print": "true",
            "json": '{"some": {"path": "found"}}',
        }
    },
    "steps": {
        "flip-coin": {"outputs": {"result": "heads"}},
        "heads": {"outputs": {"result": "it was heads"}},
        "tails": {"outputs": {"result": "it was tails"}},
    },
    "tasks": {"producer": {"outputs": {"parameters": {}}}},
    "workflow": {"status": "Running", "parameters": {"config": '{"a": "1", "b": "2", "c": "3"}'}},
}


def ev(text: str, env: dict[str, Any] | None = None) -> Any:
    return evaluate(text, ENV if env is None else env)


# --- Argo docs/variables.md "Expression" examples -------------------------------------


def test_docs_plain_list() -> None:
    assert ev("[1, 2]") == [1, 2]


def test_docs_filter_and_map_closures() -> None:
    assert ev("filter([1, 2], { # > 1})") == [2]
    assert ev("map([1, 2], { # * 2 })") == [2, 4]


def test_docs_casts() -> None:
    assert ev("asInt(inputs.parameters['my-int-param'])") == 42
    assert ev("asFloat(inputs.parameters['my-float-param'])") == 2.5
    assert ev("string(1)") == "1"


def test_docs_to_json_has_no_indentation() -> None:
    assert ev("toJson([1, 2])") == "[1,2]"
    assert ev("toJson({b: 1, a: 'x'})") == '{"a":"x","b":1}'


def test_docs_jsonpath_and_sprig_trim() -> None:
    assert ev("jsonpath(inputs.parameters.json, '$.some.path')") == "found"
    assert ev("sprig.trim(inputs.parameters['my-string-param'])") == "padded"


# --- Argo example workflows -------------------------------------------------------------


def test_expression_tag_template_example() -> None:
    # expression-tag-template-workflow.yaml: withParam "{{=toJson(filter([1, 3], {# > 1}))}}"
    assert format_result(ev("toJson(filter([1, 3], {# > 1}))")) == "[3]"
    # and "hello {{=asInt(inputs.parameters.foo) * 10}}" with foo = "3"
    assert format_result(ev("asInt(inputs.parameters.foo) * 10")) == "30"


def test_expression_destructure_json_example() -> None:
    for key, want in {"a": "1", "b": "2", "c": "3"}.items():
        assert ev(f"jsonpath(workflow.parameters.config, '$.{key}')") == want


def test_expression_destructure_json_complex_example() -> None:
    config = '{"employees": [{"name": "Baris", "age":43},{"name": "Mo", "age": 42}, {"name": "Jai", "age" :44}]}'
    env = {"workflow": {"parameters": {"config": config}}}
    a = ev("""jsonpath(workflow.parameters.config, '$.employees[?(@.name=="Baris")].age')""", env)
    b = ev("jsonpath(workflow.parameters.config, '$.employees[?(@.age>42 && @.age<44)].age')", env)
    c = ev("jsonpath(workflow.parameters.config, '$.employees[0:1]')", env)
    d = ev("jsonpath(workflow.parameters.config, '$.employees[*].name')", env)
    assert format_result(a) == "[43]"
    assert format_result(b) == "[43]"
    assert format_result(c) == '[{"age":43,"name":"Baris"}]'
    assert format_result(d) == '["Baris","Mo","Jai"]'


def test_expression_reusing_verbose_snippets_example() -> None:
    temps = base64.b64encode(b'{"temps": [34, 27, 15, 57, 46]}\n').decode()
    env = {"workflow": {"parameters": {"weather": json.dumps({"weekWeather": temps})}}}
    text = """
        map([
            jsonpath(sprig.b64dec(jsonpath(workflow.parameters.weather, '$.weekWeather')), '$.temps')
          ], {
            toJson({
              avg: sprig.add(#[0], #[1], #[2], #[3], #[4]) / 5,
              min: sprig.min(#[0], #[1], #[2], #[3], #[4]),
              max: sprig.max(#[0], #[1], #[2], #[3], #[4])
            })
        })[0]
    """
    week = ev(text, env)
    assert json.loads(week) == {"avg": 35.8, "min": 15, "max": 57}
    env2 = {"inputs": {"parameters": {"week-temps": week}}}
    assert format_result(ev("jsonpath(inputs.parameters['week-temps'], '$.avg')", env2)) == "35.8"
    assert format_result(ev("jsonpath(inputs.parameters['week-temps'], '$.min')", env2)) == "15"


def test_conditional_parameter_ternary_examples() -> None:
    # conditional-parameters.yaml
    text = "steps['flip-coin'].outputs.result == 'heads' ? steps.heads.outputs.result : steps.tails.outputs.result"
    assert ev(text) == "it was heads"
    tails = {**ENV, "steps": {**ENV["steps"], "flip-coin": {"outputs": {"result": "tails"}}}}
    assert ev(text, tails) == "it was tails"


def test_nested_ternary_fibonacci_example() -> None:
    text = ("asInt(inputs.parameters.num) == 1? 1: asInt(inputs.parameters.num) == 2? 1: "
            "steps['fibonacci-helper'].outputs.parameters.result")
    def env(num: str) -> dict[str, Any]:
        return {"inputs": {"parameters": {"num": num}},
                "steps": {"fibonacci-helper": {"outputs": {"parameters": {"result": "13"}}}}}
    assert ev(text, env("1")) == 1
    assert ev(text, env("2")) == 1
    assert ev(text, env("7")) == "13"


def test_nil_coalescing_fallback_example() -> None:
    # skipped-output-defaults: "tasks.producer.outputs.parameters.msg ?? 'expr-fallback'"
    assert ev("tasks.producer.outputs.parameters.msg ?? 'expr-fallback'") == "expr-fallback"
    env = {"tasks": {"producer": {"outputs": {"parameters": {"msg": "hello"}}}}}
    assert ev("tasks.producer.outputs.parameters.msg ?? 'expr-fallback'", env) == "hello"


def test_hyphenated_names_need_brackets() -> None:
    # docs: "any hyphenated parameter names ... will cause a parsing error" unless indexed
    assert ev('inputs.parameters["should-print"] == \'true\'') is True
    with pytest.raises(ExpressionError):
        ev("inputs.parameters.should-print == 'true'")


def test_retry_conditional_expression() -> None:
    # retry-conditional.yaml
    text = ("asInt(lastRetry.exitCode) > 1 && lastRetry.status != \"Error\" && "
            "asInt(lastRetry.duration) < 120 && "
            "(false == true || lastRetry.message matches 'imminent node shutdown|pod deleted')")
    env = {"lastRetry": {"exitCode": "2", "status": "Failed", "duration": "30", "message": "pod deleted"}}
    assert evaluate_bool(text, env) is True
    env["lastRetry"]["exitCode"] = "1"
    assert evaluate_bool(text, env) is False


def test_lifecycle_hook_expressions() -> None:
    assert evaluate_bool('workflow.status == "Running"', ENV) is True
    assert evaluate_bool('steps["flip-coin"].outputs.result == "tails"', ENV) is False


# --- the language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),  # "/" always divides as floats
        ("6 / 3", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),  # Go truncates toward zero
        ("2 ** 3", 8.0),
        ("2 ^ 3 ^ 2", 512.0),  # right associative
        ("-2 ** 2", -4.0),
        ("10 - 2 - 3", 5),
        ("'a' + 'b'", "ab"),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("'1' == 1", False),
        ("nil == nil", True),
        ("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3", True),
        ("'abc' < 'abd'", True),
        ("1 < 2 < 3", True),
        ("3 > 2 > 1", True),
        ("true && false || true", True),
        ("true and not false", True),
        ("true or false", True),
        ("!true", False),
        ("not (1 == 1)", False),
        ("2 in [1, 2, 3]", True),
        ("'a' in {a: 1}", True),
        ("'z' not in ['a']", True),
        ("'foobar' matches '^fo+'", True),
        ("'foobar' not matches '^bar'", True),
        ("'foobar' contains 'oba'", True),
        ("'foobar' startsWith 'foo'", True),
        ("'foobar' endsWith 'bar'", True),
        ("1..4", [1, 2, 3, 4]),
        ("true ? 'y' : 'n'", "y"),
        ("false ? 'y' : 'n'", "n"),
        ("nil ?? 'd'", "d"),
        ("'' ?? 'd'", ""),
        ("[1, 2, 3][0]", 1),
        ("[1, 2, 3][-1]", 3),
        ("[1, 2, 3, 4][1:3]", [2, 3]),
        ("[1, 2, 3][:2]", [1, 2]),
        ("'hello'[1:]", "ello"),
        ("{a: {b: 2}}.a.b", 2),
        ("{'x-y': 1}['x-y']", 1),
        ("{a: 1}.missing", None),
        ("{a: nil}?.a?.b", None),
        ("0x1F + 0b11 + 1_000", 1034),
        ("1e3", 1000.0),
        ("`raw\\n`", "raw\\n"),
        ('"tab\\there"', "tab\there"),
        ("'\\u00e9'", "é"),
        ("len('abc') + len([1]) + len({a: 1})", 5),
        ("all([1, 2], {# > 0})", True),
        ("any([1, 2], # > 1)", True),
        ("none([1, 2], # > 5)", True),
        ("one([1, 2], # > 1)", True),
        ("count([1, 2, 3], # >= 2)", 2),
        ("find([1, 2, 3], # > 1)", 2),
        ("findIndex([1, 2, 3], # > 1)", 1),
        ("findLast([1, 2, 3], # < 3)", 2),
        ("map([1, 2], #index)", [0, 1]),
        ("filter([{n: 1}, {n: 2}], .n > 1)", [{"n": 2}]),
        ("map([[1, 2], [3]], {len(#)})", [2, 1]),
        ("map([[1, 2]], {map(#, {# * 10})})", [[10, 20]]),
        ("sum([1, 2, 3])", 6),
        ("max(1, 5, 3)", 5),
        ("min([4, 2])", 2),
        ("abs(-3)", 3),
        ("int('12') + int(3.9)", 15),
        ("float('1.5')", 1.5),
        ("string(2.5)", "2.5"),
        ("string(true)", "true"),
        ("upper('a') + lower('B') + trim('  c ')", "Abc"),
        ("split('a,b', ',')", ["a", "b"]),
        ("join(['a', 'b'], '-')", "a-b"),
        ("replace('aXbX', 'X', '')", "ab"),
        ("repeat('ab', 2)", "abab"),
        ("indexOf('abc', 'c')", 2),
        ("hasPrefix('abc', 'ab') && hasSuffix('abc', 'bc')", True),
        ("keys({a: 1})", ["a"]),
        ("values({a: 1})", [1]),
        ("first([7, 8]) + last([7, 8])", 15),
        ("reverse([1, 2])", [2, 1]),
        ("sort([3, 1, 2])", [1, 2, 3]),
        ("uniq([1, 1, 2])", [1, 2]),
        ("concat([1], [2])", [1, 2]),
        ("flatten([1, [2, [3]]])", [1, 2, 3]),
        ("fromJSON('{\"a\": [1, 2]}').a[1]", 2.0),  # Go decodes JSON numbers as float64
        ("toBase64('hi')", "aGk="),
        ("fromBase64('aGk=')", "hi"),
        ("get({a: 1}, 'b')", None),
        ("type(1) + type('') + type([])", "intstringarray"),
        ("[1, 2] | map(# + 1)", [2, 3]),
        ("'abc' | upper()", "ABC"),
        ("duration('1h30m') > duration('90s')", True),
        ("1 + /* two */ 2 // three", 3),
    ],
)
def test_language(text: str, want: Any) -> None:
    got = ev(text)
    assert got == want
    assert type(got) is type(want)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("sprig.upper('a') + sprig.lower('B')", "Ab"),
        ("sprig.replace('a', 'b', 'banana')", "bbnbnb"),  # sprig: old, new, subject last
        ("sprig.add(1, '2', 3)", 6),
        ("sprig.sub(5, 2)", 3),
        ("sprig.mul(2, 3)", 6),
        ("sprig.div(7, 2)", 3),
        ("sprig.int('12')", 12),
        ("sprig.int('bad')", 0),  # docs: "if int is used on an invalid value, it returns 0"
        ("sprig.atoi('7')", 7),
        ("sprig.float64('1.5')", 1.5),
        ("sprig.toString(3)", "3"),
        ("sprig.b64enc('hi')", "aGk="),
        ("sprig.b64dec('aGk=')", "hi"),
        ("sprig.join('-', ['a', 'b'])", "a-b"),
        ("sprig.split('$', 'a$b')._1", "b"),
        ("sprig.splitList(',', 'a,b')", ["a", "b"]),
        ("sprig.list(1, 2)", [1, 2]),
        ("sprig.dict('a', 1, 'b', 2).b", 2),
        ("sprig.get(sprig.dict('a', 1), 'a')", 1),
        ("sprig.get(sprig.dict('a', 1), 'z')", ""),
        ("sprig.default('d', '')", "d"),
        ("sprig.default('d', 'given')", "given"),
        ("sprig.empty('') && sprig.empty(0) && !sprig.empty('x')", True),
        ("sprig.contains('ell', 'hello')", True),
        ("sprig.hasPrefix('he', 'hello') && sprig.hasSuffix('lo', 'hello')", True),
        ("sprig.repeat(3, 'ab')", "ababab"),
        ("sprig.trunc(3, 'hello')", "hel"),
        ("sprig.trunc(-3, 'hello')", "llo"),
        ("sprig.substr(1, 3, 'hello')", "el"),
        ("sprig.toJson(sprig.dict('b', 1, 'a', 2))", '{"a":2,"b":1}'),
        ("sprig.fromJson('{\"a\": 1}').a", 1.0),
        ("sprig.regexMatch('^[a-z]+$', 'abc')", True),
        ("sprig.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')", "-W-xxW-"),
        ("sprig.date('2006-01-02', '2021-03-04T05:06:07Z')", "2021-03-04"),
        ("sprig.ternary('y', 'n', true)", "y"),
        ("sprig.max(1, 9, 3) + sprig.min(4, 2)", 11),
    ],
)
def test_sprig(text: str, want: Any) -> None:
    got = ev(text)
    assert got == want
    assert type(got) is type(want)


def test_time_arithmetic_from_cron_when_example() -> None:
    text = "cronworkflow.lastScheduledTime == nil || (now() - cronworkflow.lastScheduledTime).Seconds() > 360"
    assert evaluate_bool(text, {"cronworkflow": {"lastScheduledTime": None}}) is True


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1 +", "unexpected"),
        ("(1 + 2", "expected ')'"),
        ("'unterminated", "not terminated"),
        ("a.b c", "unexpected token"),
        ("# > 1", "outside of a closure"),
        ("1 ?? 2 + 3", "cannot be mixed"),
        ("reduce([1], # + #acc)", "not supported"),
        ("", "empty"),
    ],
)
def test_syntax_errors_name_the_expression(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("'a' + 1", "mismatched"),
        ("1 < 'a'", "mismatched"),
        ("1 && true", "expected bool"),
        ("!'x'", "expected bool"),
        ("1.5 % 2", "mismatched"),
        ("1 % 0", "divide by zero"),
        ("unknownName + 1", "unknown name unknownName"),
        ("nosuchfunc(1)", "unknown function nosuchfunc"),
        ("inputs.nothing.deeper", "cannot fetch deeper from nil"),
        ("[1][5]", "index out of range"),
        ("asInt('x1')", "invalid operation: int(x1)"),
        ("asInt('30.5')", "invalid operation: int(30.5)"),  # Atoi: no fractions
        ("asInt(' 3')", "invalid operation: int( 3)"),
        ("asFloat('abc')", "invalid operation: float(abc)"),
        ("jsonpath('{bad', '$.a')", "invalid JSON"),
        ("'a' matches '('", "invalid regular expression"),
    ],
)
def test_runtime_errors_name_the_expression(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        ev(text)
    message = str(info.value)
    assert fragment in message
    assert text in message


def test_errors_are_argo_and_value_errors_and_not_retryable() -> None:
    with pytest.raises(ArgoError) as info:
        ev("1 +")
    assert isinstance(info.value, ValueError)
    assert info.value.retryable is False


def test_float_division_by_zero_is_infinite_as_in_go() -> None:
    assert ev("1 / 0") == float("inf")
    assert ev("-1 / 0") == float("-inf")


def test_evaluate_bool_requires_a_boolean() -> None:
    assert evaluate_bool("1 < 2", {}) is True
    with pytest.raises(ExpressionError, match="must give a boolean"):
        evaluate_bool("1 + 1", {})


def test_no_python_escape_hatches() -> None:
    for text in ("''.__class__", "[].__class__.__mro__", "__import__('os')", "open('/etc/passwd')"):
        with pytest.raises(ExpressionError):
            ev(text)


def test_variables_shadow_argo_functions() -> None:
    env = argo_env({"asInt": "not a function"})
    assert env["asInt"] == "not a function"
    assert callable(argo_env({})["jsonpath"])


def test_compiled_expression_lists_identifiers_and_paths() -> None:
    compiled = compile_expression("inputs.parameters['my-x'] + steps.s.outputs.result + string(item)")
    assert compiled.identifiers == {"inputs", "steps", "item"}
    assert compiled.paths == {"inputs.parameters.my-x", "steps.s.outputs.result"}
    assert compile_expression("a[b].c + d?.e").paths == set()  # computed keys and ?. end a path


def test_format_result_matches_argo_substitution() -> None:
    assert format_result("text") == "text"
    assert format_result(30) == "30"
    assert format_result(3.0) == "3"
    assert format_result(35.8) == "35.8"
    assert format_result(True) == "true"
    assert format_result([1, "a"]) == '[1,"a"]'
    assert format_result({"b": 1, "a": None}) == '{"a":null,"b":1}'


@pytest.mark.parametrize(
    "text",
    ["repeat('ab', 10000000)", "sprig.repeat(10000000, 'ab')", "len(0..100000000)", "sprig.until(100000000)"],
)
def test_resource_guards(text: str) -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        ev(text)


def test_large_closures_fail_cleanly() -> None:
    assert ev("len(filter(1..5000, # % 2 == 0))") == 2500
    with pytest.raises(ExpressionError):
        ev("len(map(1..200000, # + 1))")


STORE = json.dumps({
    "store": {
        "book": [
            {"category": "reference", "author": "Nigel Rees", "price": 8.95},
            {"category": "fiction", "author": "Evelyn Waugh", "price": 12.99},
            {"category": "fiction", "author": "Herman Melville", "isbn": "0-553-21311-3", "price": 8.99},
        ],
        "bicycle": {"color": "red", "price": 19.95},
    }
})


@pytest.mark.parametrize(
    ("path", "want"),
    [
        # Goessner's JSONPath examples
        ("$.store.book[*].author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville"]),
        ("$..author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville"]),
        ("$.store.bicycle.color", "red"),
        ("$['store']['bicycle']['price']", 19.95),
        ("$.store.book[-1].author", "Herman Melville"),
        ("$.store.book[0,1].price", [8.95, 12.99]),
        ("$.store.book[:2].category", ["reference", "fiction"]),
        ("$.store.book[?(@.isbn)].author", ["Herman Melville"]),
        ("$.store.book[?(@.price < 10)].author", ["Nigel Rees", "Herman Melville"]),
        ("$.store.book[?(@.price > 10 || @.category == 'reference')].price", [8.95, 12.99]),
        ("$.store.book[?(!(@.category == 'fiction'))].author", ["Nigel Rees"]),
        ("$.store.book[?(@.author =~ /^H.*/)].price", [8.99]),
        ("$.store.book[?(@.price == $.store.book[0].price)].author", ["Nigel Rees"]),
        ("$.store.nothing[*]", []),
    ],
)
def test_jsonpath(path: str, want: Any) -> None:
    assert evaluate("jsonpath(doc, path)", {"doc": STORE, "path": path}) == want


def test_jsonpath_errors() -> None:
    with pytest.raises(ExpressionError, match="matched nothing"):
        evaluate("jsonpath(doc, '$.store.nothing')", {"doc": STORE})
    with pytest.raises(ExpressionError, match="must start with"):
        evaluate("jsonpath(doc, 'store')", {"doc": STORE})
    with pytest.raises(ExpressionError, match="unclosed"):
        evaluate("jsonpath(doc, '$.store[0')", {"doc": STORE})
