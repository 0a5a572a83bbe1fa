"""Executors by name, for settings and the CLI (``--executor local``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .local import LocalExecutor
from .simulate import SimulateExecutor
from .supervision import SupervisedLocalExecutor

if TYPE_CHECKING:
    from .base import Executor

EXECUTORS = ("local", "simulate")
"""Names :func:`make_executor` knows."""


def make_executor(name: str, **options: Any) -> Executor:
    """Build the executor called *name*.

    ``local`` takes ``state_dir`` (``None``: a temporary directory), ``isolate``
    (``None`` auto, ``True`` required, ``False`` off), ``kill_grace``,
    ``inherit_env``, ``sandbox`` (as ``isolate``), ``uid_base``, ``network`` and ``hidden``;
    ``supervise=True`` builds a :class:`.SupervisedLocalExecutor`, which also takes
    ``orphan_timeout``; ``simulate`` ignores ``state_dir`` and takes nothing else. Unknown
    names or options raise ``ValueError`` naming them (a configuration error: retrying does
    not help).
    """
    if name == "local":
        allowed = {
            "state_dir", "isolate", "kill_grace", "inherit_env", "sandbox", "uid_base", "network", "hidden",
            "supervise", "orphan_timeout",
        }
        _check(name, options, allowed)
        state_dir = options.pop("state_dir", None)
        path = Path(state_dir) if state_dir is not None else None
        if options.pop("supervise", False):
            return SupervisedLocalExecutor(path, **options)
        options.pop("orphan_timeout", None)
        return LocalExecutor(path, **options)
    if name == "simulate":
        _check(name, options, {"state_dir"})  # accepted (and unused) so settings can pass it to any executor
        return SimulateExecutor()
    raise ValueError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")


def _check(name: str, options: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        shown = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"executor {name!r} does not take {', '.join(unknown)} (it takes: {shown})")
