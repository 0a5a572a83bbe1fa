"""Lint rules for references between templates and resources.

The entrypoint, ``onExit``, a step's or task's ``template``, every ``templateRef``
(resolved against a bundle, when one is given) and lifecycle hooks (which need an
``expression`` unless the hook is ``exit``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ManifestError
from .lint_report import Reporter, is_templated, key
from .manifest import resolve_template_ref

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .manifest import Bundle

__all__ = ["ReferenceRules", "Scope"]


class Scope:
    """The templates a reference may name, and the bundle for ``templateRef``."""

    def __init__(
        self,
        names: Iterable[str],
        bundle: Bundle | None,
        complete: bool,
        global_params: Iterable[str] | None = None,
    ) -> None:
        self.names = set(names)
        self.bundle = bundle
        self.complete = complete  # False when templates may come from an unknown resource
        # Names ``{{workflow.parameters.X}}`` may use; None when they cannot be known
        # (a WorkflowTemplate's come from the workflow that submits it).
        self.global_params = None if global_params is None else set(global_params)
        self.defaults: dict[str, Any] = {}  # spec.templateDefaults


class ReferenceRules(Reporter):
    """Checks that names of templates, ``templateRef`` targets and hooks resolve."""

    def template_name_ref(self, name: Any, path: str, scope: Scope) -> None:
        if not isinstance(name, str) or is_templated(name):
            return
        if name not in scope.names and scope.complete:
            self.error(path, f'template "{name}" not found')

    def template_ref(self, ref: Any, path: str, scope: Scope) -> None:
        if not isinstance(ref, dict) or scope.bundle is None:
            return
        if any(is_templated(ref.get(k)) for k in ("name", "template")):
            return
        if not isinstance(ref.get("name"), str) or not isinstance(ref.get("template"), str):
            return  # the schema pass reported it
        try:
            resolve_template_ref(ref, scope.bundle)
        except ManifestError as exc:
            for err in exc.errors:
                self.error(key(path, err.path.rpartition(".")[2]), err.message)

    def hooks(self, hooks: Any, path: str, scope: Scope) -> None:
        if not isinstance(hooks, dict):
            return
        for name, hook in hooks.items():
            sub = key(path, name)
            if not isinstance(hook, dict):
                continue
            if hook.get("template") is None and hook.get("templateRef") is None:
                self.error(sub, "needs template or templateRef")
            elif hook.get("template") is not None and hook.get("templateRef") is not None:
                self.error(sub, "template and templateRef are mutually exclusive")
            if name != "exit" and not hook.get("expression"):
                self.error(
                    key(sub, "expression"),
                    f'required for hook "{name}" (only "exit" runs without one)',
                )
            self.template_name_ref(hook.get("template"), key(sub, "template"), scope)
            self.template_ref(hook.get("templateRef"), key(sub, "templateRef"), scope)
