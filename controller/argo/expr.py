"""Evaluate Argo's expressions: ``{{=...}}`` tags, ``retryStrategy.expression``, hooks.

Argo evaluates these with expr-lang (github.com/expr-lang/expr) in an environment made
of the workflow's variables (nested: ``inputs.parameters.x``) plus ``asInt``,
``asFloat``, ``jsonpath``, ``toJson`` and the ``sprig`` function map. Here the text is
parsed by :mod:`.expr_parse` into a Python ``ast`` tree (never compiled, never given to
``eval``) and walked by ``simpleeval``; operators and builtins keep expr-lang's rules
(:mod:`.expr_values`, :mod:`.expr_runtime`); the functions an expression can call are
expr-lang's builtins and Argo's (:mod:`.expr_funcs`) and sprig's (:mod:`.expr_sprig`).

Why not an existing expr-lang port: PyPI's ``expr-lang`` is an empty placeholder and
``enchanter-golem`` (a cffi wrapper around the Go library, version 0.1.0, one
maintainer) cannot call back into Python for sprig and jsonpath. ``simpleeval`` (already
a dependency) gives the sandbox: a node whitelist, no attribute access to private names,
limits on comprehension size and string growth.

``when`` conditions use govaluate, not expr-lang: see :mod:`.when`
(:func:`evaluate_when` is re-exported here).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpleeval

from .errors import ExpressionError
from .expr_funcs import ARGO_FUNCTIONS, BUILTINS
from .expr_parse import ParsedExpression, ParseError, parse_expression
from .expr_runtime import helpers, invoke
from .expr_sprig import SPRIG
from .expr_values import EvalError, go_json, go_string, type_name
from .when import evaluate_when

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "CompiledExpression",
    "ExpressionError",
    "argo_env",
    "compile_expression",
    "evaluate",
    "evaluate_bool",
    "evaluate_when",
    "format_result",
]


def argo_env(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Add Argo's expression functions (``asInt``, ``jsonpath``, ``sprig`` ...) to ``variables``.

    Variables win over the functions of the same name, as in Argo.
    """
    env: dict[str, Any] = {**ARGO_FUNCTIONS, "sprig": SPRIG}
    env.update(variables)
    return env


def _limit(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class CompiledExpression:
    """A parsed expression, reusable across environments."""

    parsed: ParsedExpression

    @property
    def text(self) -> str:
        """The source text."""
        return self.parsed.text

    @property
    def identifiers(self) -> frozenset[str]:
        """Root names the expression reads from its environment."""
        return self.parsed.identifiers

    @property
    def paths(self) -> frozenset[str]:
        """Dotted paths of plain member chains (``inputs.parameters.x``)."""
        return self.parsed.paths

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """Evaluate with ``env`` as the variables (functions are looked up there first)."""
        call_named = functools.partial(_call_named, env)
        evaluator = _Budgeted(operators={}, functions=helpers(call_named), names=dict(env))
        try:
            return evaluator.eval(self.text, previously_parsed=self.parsed.tree)
        except EvalError as exc:
            raise ExpressionError(f"failed to evaluate expression {_limit(self.text)!r}: {exc}") from None
        except simpleeval.NameNotDefined as exc:
            raise ExpressionError(
                f"failed to evaluate expression {_limit(self.text)!r}: unknown name {exc.name}"
            ) from None
        except simpleeval.InvalidExpression as exc:
            raise ExpressionError(f"failed to evaluate expression {_limit(self.text)!r}: {exc}") from None
        except (TypeError, AttributeError, ValueError, KeyError, IndexError, ArithmeticError, RecursionError) as exc:
            raise ExpressionError(
                f"failed to evaluate expression {_limit(self.text)!r}: {type(exc).__name__}: {exc}"
            ) from None


EVAL_BUDGET_S = 2.0
"""Longest one evaluation may take; past it, it fails naming the expression."""
_CHECK_EVERY = 255  # nodes between two looks at the clock (a mask: 2**n - 1)


class _Budgeted(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval's walker with a time budget: every evaluation ends within
    :data:`EVAL_BUDGET_S`, however its functions and comprehensions nest."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._steps = 0
        self._deadline = time.monotonic() + EVAL_BUDGET_S

    def _eval(self, node: Any) -> Any:
        self._steps += 1
        if not self._steps & _CHECK_EVERY and time.monotonic() > self._deadline:
            raise EvalError(f"took longer than {EVAL_BUDGET_S:g}s (the budget of one evaluation)")
        return super()._eval(node)


def _call_named(env: Mapping[str, Any], name: str, *args: Any) -> Any:
    fn: Callable[..., Any] | None = None
    if name in env and callable(env[name]):
        fn = env[name]
    elif name in BUILTINS:
        fn = BUILTINS[name]
    elif name in env:
        raise EvalError(f"{name} is not a function ({type_name(env[name])})")
    if fn is None:
        raise EvalError(f"unknown function {name}()")
    return invoke(fn, *args)


@functools.lru_cache(maxsize=1024)
def compile_expression(expression: str) -> CompiledExpression:
    """Parse ``expression``; raise ExpressionError naming it when it is not valid."""
    try:
        return CompiledExpression(parse_expression(expression))
    except ParseError as exc:
        raise ExpressionError(f"invalid expression {_limit(expression)!r}: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"invalid expression {_limit(expression)!r}: nested too deeply") from None


def evaluate(expression: str, env: Mapping[str, Any]) -> Any:
    """Evaluate an expr-lang ``expression`` against ``env``.

    ``env`` holds the (nested) variables; Argo's functions are added as by
    :func:`argo_env`, a variable of the same name wins. Results are
    Python values: ``int``, ``float``, ``str``, ``bool``, ``None``, lists and dicts.
    Raises ExpressionError naming the expression on a syntax or evaluation error.
    """
    return compile_expression(expression).evaluate(argo_env(env))


def evaluate_bool(expression: str, env: Mapping[str, Any]) -> bool:
    """Evaluate and require a boolean result (``retryStrategy.expression``, hooks, depends)."""
    result = evaluate(expression, env)
    if not isinstance(result, bool):
        raise ExpressionError(
            f"expression {_limit(expression)!r} must give a boolean, got "
            f"{type_name(result)} {go_string(result)!r}"
        )
    return result


def format_result(value: Any) -> str:
    """The text a ``{{=...}}`` tag is replaced with: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    return go_json(value)
