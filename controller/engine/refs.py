"""``env[].valueFrom`` references of containers: ConfigMaps and Secrets given with the workflow.

Secrets and ConfigMaps come with a submission (``hookbus submit -t secrets.yaml``, like
ConfigMaps). The controller keeps the Secrets of a workflow in its stored record
(``status.x-secrets``, hidden from every view of the workflow, as ``x-configMaps``).
A reference to a missing Secret, ConfigMap or key fails the node with Kubernetes'
message, as Kubernetes refuses to start such a pod, unless the reference is ``optional``.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Final

from ..argo.errors import LintError, ManifestError
from .templates import TemplateError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..argo.manifest import Bundle
    from ..argo.types import JSON

SECRETS_KEY: Final = "x-secrets"
"""Where a workflow's Secrets are kept in its stored ``status`` (hidden from every view)."""


def secret_data(doc: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's keys and values: ``data`` (base64, decoded as UTF-8) with ``stringData`` over it.

    Raises :class:`ManifestError` naming the Secret and key when a ``data`` value is not base64."""
    out: dict[str, str] = {}
    name = (doc.get("metadata") or {}).get("name")
    for key, value in (doc.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            raise ManifestError([LintError("data", f'Secret "{name}": data.{key} is not base64')]) from None
    out.update({str(k): str(v) for k, v in (doc.get("stringData") or {}).items()})
    return out


def stored_secrets(bundle: Bundle) -> list[JSON]:
    """The Secrets of *bundle* as kept in a workflow's status (values decoded)."""
    return [
        {"namespace": ns, "name": name, "data": secret_data(doc)}
        for (ns, name), doc in bundle.secrets.items()
    ]


def workflow_secrets(workflow: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """The Secrets kept with *workflow*, by ``(namespace, name)`` (``""``: any namespace)."""
    return {
        (str(s.get("namespace") or ""), str(s.get("name"))): {str(k): str(v) for k, v in (s.get("data") or {}).items()}
        for s in (workflow.get("status") or {}).get(SECRETS_KEY) or []
    }


def secret_values(workflow: Mapping[str, Any]) -> set[str]:
    """Every value of every Secret kept with *workflow* (what logs and outputs hide)."""
    return {v for data in workflow_secrets(workflow).values() for v in data.values() if v}


class EnvRefs:
    """Reads ``configMapKeyRef``/``secretKeyRef`` for one workflow (a :data:`~.templates.EnvSource`).

    Every Secret value it hands out is added to :attr:`used`."""

    def __init__(
        self,
        namespace: str,
        config_maps: Mapping[tuple[str, str], JSON],
        workflow: Mapping[str, Any],
        used: set[str],
    ) -> None:
        self.namespace = namespace
        self.config_maps = config_maps
        self.workflow = workflow
        self.used = used

    def __call__(self, kind: str, name: str, key: str, optional: bool) -> str | None:
        """The value of *key* of the *kind* (``ConfigMap`` or ``Secret``) *name*."""
        if kind == "Secret":
            secrets = workflow_secrets(self.workflow)
            data = secrets.get((self.namespace, name)) or secrets.get(("", name))
        else:
            doc = self.config_maps.get((self.namespace, name)) or self.config_maps.get(("", name))
            data = None if doc is None else {str(k): v for k, v in (doc.get("data") or {}).items()}
        if data is None:
            if optional:
                return None
            raise TemplateError(f'{kind.lower()} "{name}" not found')
        if key not in data:
            if optional:
                return None
            raise TemplateError(f"couldn't find key {key} in {kind} {self.namespace}/{name}")
        value = str(data[key])
        if kind == "Secret" and value:
            self.used.add(value)
        return value


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """*text* with every secret value replaced by ``[redacted]``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "[redacted]")
    return text
