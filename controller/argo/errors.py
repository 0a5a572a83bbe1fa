"""Errors of the Argo language layer.

One root, :class:`ArgoError`. Every error here is about the *input* (a manifest, an
expression, a reference): fixing the input is the cure, retrying the same input never
helps, so ``retryable`` is ``False`` throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["ArgoError", "ExpressionError", "LintError", "ManifestError"]


class ArgoError(Exception):
    """Root of every error raised by :mod:`hookbus.controller.argo`."""

    retryable: bool = False


@dataclass(frozen=True, slots=True)
class LintError:
    """One problem found in a manifest.

    ``path`` locates the field the way ``argo lint`` does, e.g.
    ``spec.templates[2].dag.tasks[0].depends``; ``message`` says what is wrong with it.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ManifestError(ArgoError, ValueError):
    """A manifest could not be parsed, is invalid, or references something missing.

    ``errors`` holds every problem found; the message lists them all. Fix the manifest
    (or supply the missing resource); retrying the same input will not help.
    """

    def __init__(self, errors: Iterable[LintError] | str, *, source: str = "") -> None:
        if isinstance(errors, str):
            errors = [LintError("", errors)]
        self.errors: list[LintError] = list(errors)
        self.source = source
        prefix = f"{source}: " if source else ""
        if len(self.errors) == 1:
            text = f"{prefix}{self.errors[0]}"
        else:
            lines = "\n".join(f"  - {e}" for e in self.errors)
            text = f"{prefix}{len(self.errors)} errors:\n{lines}"
        super().__init__(text)


class ExpressionError(ArgoError, ValueError):
    """An Argo expression (``{{=...}}``, ``when``, ``depends``, ...) is invalid or failed.

    The message names the expression. Retrying the same expression will not help.
    """
