"""A plugin's manifest: who it is and which hooks it answers, with what rules.

Plugins publish their manifest as JSON in the registry bucket (any language can
write JSON). :func:`parse_manifest` turns it into frozen records and names the
field that is wrong when it is invalid.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import Encoding, parse_encoding
from .errors import ConfigError, EncodeError
from .hooks import HOOKS, Hook, parse_hook
from .subjects import validate_plugin_name
from .wire import PROTOCOL_VERSION, FiltersDoc, HookSpecDoc, ManifestDoc

if TYPE_CHECKING:
    from collections.abc import Mapping


class FailurePolicy(enum.StrEnum):
    FAIL = "Fail"
    """A failed call fails the item (node or workflow) with a message naming plugin and hook."""
    IGNORE = "Ignore"
    """A failed call is counted and skipped; the item goes on as if the plugin had no opinion."""


@dataclass(frozen=True, slots=True)
class Filters:
    """What a plugin cares about; evaluated in the controller, so it is never sent the rest.

    Every field left empty matches everything; all given fields must match.
    """

    namespaces: tuple[str, ...] = ()
    """Workflow namespaces."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Workflow labels that must all be present with these values."""
    templates: tuple[str, ...] = ()
    """Template names (``item.template.name`` or ``item.node.templateName``)."""
    template_types: tuple[str, ...] = ()
    """Template kinds: container, script, steps, dag, suspend, resource, plugin, ..."""
    images: tuple[str, ...] = ()
    """Image patterns (``fnmatch`` style, e.g. ``python:*``); an item matches if any image does."""
    expression: str | None = None
    """A Python-syntax expression over ``item`` and ``workflow`` for the rest."""

    @property
    def empty(self) -> bool:
        return not (
            self.namespaces
            or self.labels
            or self.templates
            or self.template_types
            or self.images
            or self.expression
        )

    def to_wire(self) -> FiltersDoc:
        out: FiltersDoc = {}
        if self.namespaces:
            out["namespaces"] = list(self.namespaces)
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.templates:
            out["templates"] = list(self.templates)
        if self.template_types:
            out["templateTypes"] = list(self.template_types)
        if self.images:
            out["images"] = list(self.images)
        if self.expression:
            out["expression"] = self.expression
        return out


@dataclass(frozen=True, slots=True)
class HookSpec:
    """How one plugin takes part in one hook."""

    hook: Hook
    timeout: float | None = None
    """Seconds the plugin has to answer one request (``None``: the controller's default, 5 s)."""
    failure_policy: FailurePolicy = FailurePolicy.FAIL
    """What a failed call means for the items in it."""
    priority: int = 100
    """Mutating plugins run in ascending priority, then by name."""
    mutating: bool = True
    """Mutating plugins run one after another, each seeing the previous result; the others run in parallel."""
    filters: Filters = field(default_factory=Filters)
    """What the plugin cares about."""
    fields: tuple[str, ...] = ()
    """Dotted paths of the item fields to send (``node.name``); empty: the whole item."""
    shadow: bool = False
    """Record and report verdicts and patches, but do not apply them."""
    max_batch: int | None = None
    """Most items per request (``None``: the controller's default)."""
    side_effects: bool = True
    """Whether answering has effects beyond the reply. ``False`` promises that the answer
    depends only on the request and that asking has no other effect, so the controller
    may ask speculatively: a mutating plugin is then asked together with the mutating
    plugins before it, and asked again only if one of them changed or settled an item."""

    def to_wire(self) -> HookSpecDoc:
        out: HookSpecDoc = {
            "failurePolicy": self.failure_policy.value,
            "priority": self.priority,
            "mutating": self.mutating,
        }
        if not self.side_effects:
            out["sideEffects"] = False
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if not self.filters.empty:
            out["filters"] = self.filters.to_wire()
        if self.fields:
            out["fields"] = list(self.fields)
        if self.shadow:
            out["shadow"] = True
        if self.max_batch is not None:
            out["maxBatch"] = self.max_batch
        return out


@dataclass(frozen=True, slots=True)
class PluginManifest:
    """Everything the controller needs to know to call a plugin."""

    name: str
    version: str = "0.0.0"
    protocol: int = PROTOCOL_VERSION
    encoding: Encoding = Encoding.MSGPACK
    hooks: Mapping[Hook, HookSpec] = field(default_factory=dict)
    placeholders: tuple[str, ...] = ()
    """Placeholder namespaces the plugin resolves (``vault`` for ``{{vault.db-password}}``)."""
    templates: tuple[str, ...] = ()
    """Keys of ``plugin:`` templates the plugin executes (``slack`` for ``plugin: {slack: ...}``); empty: offered every one."""
    heartbeat: float = 5.0
    """Seconds between the plugin's registration refreshes."""
    description: str = ""
    compression: tuple[str, ...] = ()
    """Request codings the plugin inflates (``deflate``): large requests to it go compressed."""

    def to_wire(self) -> ManifestDoc:
        out: ManifestDoc = {
            "name": self.name,
            "version": self.version,
            "protocol": self.protocol,
            "encoding": self.encoding.value,
            "heartbeat": self.heartbeat,
            "hooks": {hook.value: spec.to_wire() for hook, spec in self.hooks.items()},
        }
        if self.placeholders:
            out["placeholders"] = list(self.placeholders)
        if self.templates:
            out["templates"] = list(self.templates)
        if self.description:
            out["description"] = self.description
        if self.compression:
            out["compression"] = list(self.compression)
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_wire(), separators=(",", ":")).encode()


_FILTER_KEYS = FiltersDoc.__required_keys__ | FiltersDoc.__optional_keys__
_HOOK_SPEC_KEYS = HookSpecDoc.__required_keys__ | HookSpecDoc.__optional_keys__
_MANIFEST_KEYS = ManifestDoc.__required_keys__ | ManifestDoc.__optional_keys__
"""The fields a manifest may have: those of its wire types, every other one is an error."""


def _expect(value: Any, kind: type | tuple[type, ...], path: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{path}: expected a number, got a boolean")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{path}: expected {name}, got {type(value).__name__}")
    return value


def _strings(value: Any, path: str) -> tuple[str, ...]:
    _expect(value, list, path)
    for i, item in enumerate(value):
        _expect(item, str, f"{path}[{i}]")
    return tuple(value)


def _unknown(data: Mapping[str, Any], known: frozenset[str], path: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise ConfigError(f"{path}: unknown field {extra[0]!r} (known: {', '.join(sorted(known))})")


def parse_filters(data: Any, path: str = "filters") -> Filters:
    _expect(data, dict, path)
    _unknown(data, _FILTER_KEYS, path)
    labels = data.get("labels", {})
    _expect(labels, dict, f"{path}.labels")
    for key, value in labels.items():
        _expect(value, str, f"{path}.labels.{key}")
    expression = data.get("expression")
    if expression is not None:
        _expect(expression, str, f"{path}.expression")
    return Filters(
        namespaces=_strings(data.get("namespaces", []), f"{path}.namespaces"),
        labels=dict(labels),
        templates=_strings(data.get("templates", []), f"{path}.templates"),
        template_types=_strings(data.get("templateTypes", []), f"{path}.templateTypes"),
        images=_strings(data.get("images", []), f"{path}.images"),
        expression=expression,
    )


def parse_hook_spec(hook: Hook, data: Any, path: str) -> HookSpec:
    _expect(data, dict, path)
    _unknown(data, _HOOK_SPEC_KEYS, path)
    timeout = data.get("timeout")
    if timeout is not None:
        timeout = float(_expect(timeout, (int, float), f"{path}.timeout"))
        if timeout <= 0:
            raise ConfigError(f"{path}.timeout: must be positive, got {timeout}")
    policy = data.get("failurePolicy", "Fail")
    try:
        failure_policy = FailurePolicy(policy)
    except ValueError:
        raise ConfigError(f"{path}.failurePolicy: must be 'Fail' or 'Ignore', got {policy!r}") from None
    max_batch = data.get("maxBatch")
    if max_batch is not None and (_expect(max_batch, int, f"{path}.maxBatch") < 1):
        raise ConfigError(f"{path}.maxBatch: must be at least 1, got {max_batch}")
    return HookSpec(
        hook=hook,
        timeout=timeout,
        failure_policy=failure_policy,
        priority=_expect(data.get("priority", 100), int, f"{path}.priority"),
        mutating=_expect(data.get("mutating", HOOKS[hook].mutating_default), bool, f"{path}.mutating"),
        filters=parse_filters(data["filters"], f"{path}.filters") if "filters" in data else Filters(),
        fields=_strings(data.get("fields", []), f"{path}.fields"),
        shadow=_expect(data.get("shadow", False), bool, f"{path}.shadow"),
        max_batch=max_batch,
        side_effects=_expect(data.get("sideEffects", True), bool, f"{path}.sideEffects"),
    )


def parse_manifest(data: Any) -> PluginManifest:
    """Validate a manifest (decoded JSON) and build the records; :class:`ConfigError` names the bad field."""
    _expect(data, dict, "manifest")
    _unknown(data, _MANIFEST_KEYS, "manifest")
    if "name" not in data:
        raise ConfigError("manifest: missing field 'name'")
    name = validate_plugin_name(_expect(data["name"], str, "manifest.name"))
    protocol = _expect(data.get("protocol", PROTOCOL_VERSION), int, "manifest.protocol")
    if protocol != PROTOCOL_VERSION:
        raise ConfigError(f"manifest.protocol: version {protocol} is not supported (this controller speaks {PROTOCOL_VERSION})")
    try:
        encoding = parse_encoding(_expect(data.get("encoding", "msgpack"), str, "manifest.encoding"))
    except EncodeError as exc:
        raise ConfigError(f"manifest.encoding: {exc}") from None
    hooks_data = _expect(data.get("hooks", {}), dict, "manifest.hooks")
    hooks: dict[Hook, HookSpec] = {}
    for hook_name, spec in hooks_data.items():
        try:
            hook = parse_hook(hook_name)
        except ConfigError as exc:
            raise ConfigError(f"manifest.hooks: {exc}") from None
        hooks[hook] = parse_hook_spec(hook, spec, f"manifest.hooks.{hook_name}")
    heartbeat = float(_expect(data.get("heartbeat", 5.0), (int, float), "manifest.heartbeat"))
    if heartbeat <= 0:
        raise ConfigError(f"manifest.heartbeat: must be positive, got {heartbeat}")
    return PluginManifest(
        name=name,
        version=str(_expect(data.get("version", "0.0.0"), str, "manifest.version")),
        protocol=protocol,
        encoding=encoding,
        hooks=hooks,
        placeholders=_strings(data.get("placeholders", []), "manifest.placeholders"),
        templates=_strings(data.get("templates", []), "manifest.templates"),
        heartbeat=heartbeat,
        description=str(_expect(data.get("description", ""), str, "manifest.description")),
        compression=_strings(data.get("compression", []), "manifest.compression"),
    )
