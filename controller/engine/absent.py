"""Outputs of Skipped and Omitted producers: declared defaults and absent optionals.

A step or task that did not run still has the output parameters its template declares.
As in Argo, a reference to one of them resolves to the parameter's ``valueFrom.default``;
without a default the output is an *absent optional*: its scope value is :data:`ABSENT`,
a marker that survives textual substitution. Where it is consumed:

- an argument that is exactly the reference counts as not supplied, so the consumer's
  input ``default`` applies, and without one the consumer fails (Error) with
  :func:`argument_message`;
- any other use (inside a longer text, a ``when``, a ``withParam``, a composite output)
  is an error naming the absent optional.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..argo.errors import ArgoError
from .model import OMITTED, SKIPPED
from .scope import format_value

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from .model import Node
    from .scheduler import ExecCtx, Scheduler

ABSENT = "__hookbus-internal.absent-optional-output__"
"""The scope value of a Skipped/Omitted producer's output parameter that has no default."""

_WHY = "(skipped/omitted node output with no default)"


class AbsentOptionalError(ArgoError):
    """A Skipped/Omitted producer's output with no default was used where a value is needed."""


def did_not_run(node: Node) -> bool:
    """Whether *node* is Skipped or Omitted without outputs of its own (its declared ones apply)."""
    return node.phase in (SKIPPED, OMITTED) and not node.outputs


def skipped_outputs_scope(prefix: str, node: Node, declared: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``<prefix>.outputs.parameters.<name>`` for each *declared* output of a node that did not run.

    Empty unless *node* is Skipped or Omitted and produced no outputs of its own.
    """
    if not did_not_run(node):
        return {}
    scope: dict[str, str] = {}
    for decl in declared:
        value_from = decl.get("valueFrom") or {}
        default = value_from.get("default")
        scope[f"{prefix}.outputs.parameters.{decl['name']}"] = ABSENT if default is None else format_value(default)
    return scope


def argument_message(name: str) -> str:
    """Argo's message for an input whose argument is an absent optional and that has no default."""
    return f"inputs.parameters.{name}: argument references an absent optional {_WHY}"


def output_message(name: str, reference: str) -> str:
    """Argo's message for a steps/DAG output parameter that resolves to an absent optional."""
    return f'output parameter "{name}": "{reference}" is an absent optional {_WHY}'


def check(value: Any, what: str) -> None:
    """Raise :class:`AbsentOptionalError` if the substituted *value* holds an absent optional."""
    if ABSENT in format_value(value):
        raise AbsentOptionalError(f"{what} references an absent optional {_WHY}")


def producer_scope(run: Scheduler, step: Mapping[str, Any], ctx: ExecCtx, prefix: str, node: Node) -> dict[str, str]:
    """The declared outputs of *node* (run from *step*) if it was Skipped/Omitted without outputs."""
    if not did_not_run(node):
        return {}
    return skipped_outputs_scope(prefix, node, run.declared_outputs(step, ctx))


def loop_scope(run: Scheduler, step: Mapping[str, Any], ctx: ExecCtx, prefix: str, nodes: Sequence[Node]) -> dict[str, str]:
    """The declared outputs of a loop (withItems/withParam/withSequence) none of whose items
    ran: each ``<prefix>.outputs.parameters.<name>`` is an absent optional.

    The lists of what ran (``outputs.parameters``, ``outputs.result``) stay ``[]`` as Argo
    aggregates them; a value of a name no item produced is absent, as for a Skipped producer.
    """
    if not nodes or not all(did_not_run(n) for n in nodes):
        return {}
    return {f"{prefix}.outputs.parameters.{decl['name']}": ABSENT for decl in run.declared_outputs(step, ctx)}
