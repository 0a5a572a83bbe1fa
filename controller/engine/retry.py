"""Retry nodes: attempts ``name(0)``, ``name(1)`` ... of a template with a ``retryStrategy``.

The strategy's ``limit``, ``backoff.duration`` and ``backoff.factor`` may use the retried
template's inputs and the workflow's globals; they are substituted when an attempt ends.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..argo.durations import parse_duration
from ..argo.errors import ArgoError
from ..argo.substitute import substitute
from .model import ERROR, FAILED, FULFILLED, SUCCEEDED, UNSUCCESSFUL, Node
from .scope import format_value, inputs_scope

if TYPE_CHECKING:
    from .scheduler import ExecCtx, Scheduler

Scope = Mapping[str, Any]


class RetryStrategyError(ArgoError):
    """A ``retryStrategy`` field that cannot be used after substitution."""


class RetryFrame:
    """A Retry node: runs attempts ``name(0)``, ``name(1)`` ... under a ``retryStrategy``."""

    def __init__(
        self,
        run: Scheduler,
        node: Node,
        step: Mapping[str, Any],
        strategy: Mapping[str, Any],
        scope: Scope,
        ctx: ExecCtx,
        arguments: Mapping[str, Any] | None,
    ) -> None:
        self.run = run
        self.node = node
        self.step = step
        self.strategy = strategy
        self.scope = scope
        self.ctx = ctx
        self.arguments = arguments
        self.attempt = 0

    def start(self) -> None:
        self._run_attempt()

    def _run_attempt(self) -> None:
        name = f"{self.node.name}({self.attempt})"
        self.run.execute(
            name, self.step, self.scope, self.ctx.attempt(self.attempt), self,
            display=f"{self.node.display_name}({self.attempt})", parents=[self.node.id],
            arguments=self.arguments,
        )

    def child_done(self, child: Node) -> None:
        run = self.run
        node = self.node
        if not child.fulfilled:
            self._daemoned(child)
            return
        if child.phase not in UNSUCCESSFUL:
            node.outputs = child.outputs
            node.outbound_nodes = []
            run.finish(node, child.phase if child.phase in FULFILLED else SUCCEEDED)
            return
        self.attempt += 1
        if run.lookup(f"{node.name}({self.attempt})") is not None:
            self._run_attempt()  # adopted after a restart: the decision was made before
            return
        if self.ctx.fail_fast:  # Argo's failFast counts the failed attempt: no more attempts
            node.outputs = child.outputs
            run.finish(node, child.phase, child.message)
            return
        try:
            verdict = self._decide(child)
        except RetryStrategyError as exc:
            node.outputs = child.outputs
            run.finish(node, ERROR, str(exc))
            return
        if verdict is not None:
            node.outputs = child.outputs
            run.finish(node, child.phase, verdict)
            return
        delay = self._backoff(child)
        if delay is None:
            node.outputs = child.outputs
            run.finish(node, child.phase, "Backoff would exceed max duration limit")
            return
        if delay > 0:
            node.message = f"Backoff for {_human(delay)}"
            run.touch(node)
            run.backoffs[node.id] = self
            run.call_at(run.clock.now() + delay, self._after_backoff)
        else:
            self._run_attempt()

    def _daemoned(self, child: Node) -> None:
        """An attempt became a running daemon: the Retry node is daemoned too (its dependants
        go on, once), and the attempt's own end comes back here to be retried if it fails."""
        node = self.node
        self.run.own(child, self)
        if not (node.extra or {}).get("daemoned"):
            node.extra = {**(node.extra or {}), "daemoned": True}
            self.run.touch(node)
            self.run.notify(node)

    def _after_backoff(self) -> None:
        if self.run.backoffs.pop(self.node.id, None) is None or self.node.fulfilled:
            return  # failed meanwhile (stop, terminate, deadline)
        self.node.message = ""
        self.run.touch(self.node)
        if self.run.accepting(self.ctx):
            self._run_attempt()
        else:
            self.run.finish(self.node, FAILED, self.run.shutdown_message())

    def _decide(self, child: Node) -> str | None:
        """Why not to retry (a message for the Retry node), or ``None`` to retry."""
        run = self.run
        if not run.accepting(self.ctx):
            return run.shutdown_message()
        backoff = self.strategy.get("backoff") or {}
        if backoff.get("maxDuration"):
            first = run.lookup(f"{self.node.name}(0)")
            started = first.started_at if first and first.started_at else run.clock.now()
            if run.clock.now() > started + parse_duration(backoff["maxDuration"], what="retryStrategy.backoff.maxDuration"):
                return "Max duration limit exceeded"
        policy = str(self.strategy.get("retryPolicy") or "OnFailure")
        on_failed = policy in ("Always", "OnFailure")
        on_error = policy in ("Always", "OnError")
        if policy == "OnTransientError":
            on_failed = on_error = _transient(child.message)
        if (child.phase == FAILED and not on_failed) or (child.phase == ERROR and not on_error):
            return child.message
        limit = self._limit(child)
        if limit is not None and self.attempt > limit:
            return "No more retries left"
        expression = self.strategy.get("expression")
        if expression:
            outputs = child.outputs or {}
            duration = (child.finished_at or 0.0) - (child.started_at or 0.0)
            env = {
                "lastRetry": {
                    "exitCode": outputs.get("exitCode", "-1"),
                    "status": child.phase,
                    "duration": str(duration),
                    "message": child.message,
                },
                "retries": str(self.attempt - 1),
            }
            from ..argo.expr import evaluate_bool

            if not evaluate_bool(str(expression), env):
                return "retryStrategy.expression evaluated to false"
        return None

    def _strategy_scope(self, child: Node) -> Scope:
        """What the strategy's fields may use: the attempt's inputs, then the caller's scope."""
        return ChainMap(inputs_scope(child.inputs), self.scope)  # type: ignore[arg-type]

    def _limit(self, child: Node) -> int | None:
        """``retryStrategy.limit`` after substitution; a value that is not a whole number is an error."""
        raw = self.strategy.get("limit")
        if raw is None or raw == "":
            return None
        text = format_value(substitute(raw, self._strategy_scope(child), strict=False)).strip()
        try:
            return int(text)
        except ValueError:
            raise RetryStrategyError(f"retryStrategy.limit: {text!r} is not a whole number") from None

    def _backoff(self, child: Node) -> float | None:
        """Seconds to wait before the next attempt; ``None`` when it would pass maxDuration."""
        backoff = self.strategy.get("backoff") or {}
        if not backoff.get("duration"):
            return 0.0
        scope = self._strategy_scope(child)
        base = parse_duration(substitute(backoff["duration"], scope, strict=False), what="retryStrategy.backoff.duration")
        factor_raw = backoff.get("factor")
        wait = base
        if factor_raw is not None:
            factor = float(format_value(substitute(factor_raw, scope, strict=False)))
            if factor > 0:
                wait = base * factor ** (self.attempt - 1)
        if backoff.get("cap"):
            wait = min(wait, parse_duration(backoff["cap"], what="retryStrategy.backoff.cap"))
        finished = child.finished_at or self.run.clock.now()
        if backoff.get("maxDuration"):
            first = self.run.lookup(f"{self.node.name}(0)")
            started = first.started_at if first and first.started_at else finished
            if finished + wait > started + parse_duration(backoff["maxDuration"], what="retryStrategy.backoff.maxDuration"):
                return None
        return max(0.0, finished + wait - self.run.clock.now())


def _transient(message: str) -> bool:
    lowered = message.lower()
    return any(
        marker in lowered
        for marker in ("pod deleted", "connection refused", "timeout", "temporar", "transient", "too many requests")
    )


def _human(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} seconds"
    return f"{seconds / 60:g} minutes"


__all__ = ["RetryFrame"]
