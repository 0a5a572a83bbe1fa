"""What the fuzz tests share: outcome counts and the test of a clear error.

A *clear error* is an exception of the kinds the code raises on purpose for bad input
(:class:`~hookbus.controller.argo.errors.ArgoError`, ``ValueError``), with a one-line
message that names no Python internals. Anything else escaping is counted as a
traceback; anything slower than the budget as a hang. Each test prints its counts
(``pytest -s``).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from hookbus.controller.argo.errors import ArgoError

if TYPE_CHECKING:
    from collections.abc import Callable

_INTERNAL = re.compile(r"Traceback|\b(KeyError|TypeError|AttributeError|IndexError|RecursionError|NameError)\b")


def internal(message: str) -> bool:
    """Whether *message* reads like a Python failure rather than a statement about the input."""
    return bool(_INTERNAL.search(message))


class Outcomes:
    """Counts of inputs, successes, clear errors, tracebacks and hangs, with the first few
    tracebacks and hangs kept to show."""

    def __init__(self, what: str, budget: float) -> None:
        self.what = what
        self.budget = budget
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self, label: Any, check: Callable[[], object]) -> None:
        """Run *check* on one input and count how it ended."""
        self.counts["inputs"] += 1
        started = time.monotonic()
        try:
            check()
        except (ArgoError, ValueError) as exc:
            if internal(str(exc)) or not str(exc).strip():
                self._fail("tracebacks", label, f"{type(exc).__name__}: {exc}")
            else:
                self.counts["clear errors"] += 1
        except Exception as exc:
            self._fail("tracebacks", label, f"{type(exc).__name__}: {exc}")
        else:
            self.counts["successes"] += 1
        if time.monotonic() - started > self.budget:
            self._fail("hangs", label, f"took {time.monotonic() - started:.2f}s")

    def _fail(self, kind: str, label: Any, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.failures) < 5:
            self.failures.append(f"{kind}: {str(label)[:300]!r}: {detail[:300]}")

    def report(self) -> str:
        order = ("inputs", "successes", "clear errors", "tracebacks", "hangs")
        return f"{self.what}: " + ", ".join(f"{self.counts[k]} {k}" for k in order)

    def check(self) -> None:
        """Print the counts; fail listing the first tracebacks and hangs, if any."""
        print(self.report())
        assert not self.failures, "\n".join([self.report(), *self.failures])
