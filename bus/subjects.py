"""Every NATS subject hookbus uses, built and parsed in one place.

Protocol version 1 subjects::

    hookbus.hook.v1.<plugin>.<hook>                          blocking hook calls
    hookbus.event.v1.<namespace>.<workflow>.<kind>.<phase>   notifications (stream HOOKBUS_EVENTS)
    hookbus.progress.v1.<namespace>.<workflow>               latest progress (stream HOOKBUS_PROGRESS)
    hookbus.control.v1.<verb>                                requests to the controller

Workflow and namespace names follow Kubernetes (``[a-z0-9.-]``); since ``.``
separates subject tokens, it is written as ``_`` inside a token, which
Kubernetes names never contain, so the mapping is reversible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError
from .hooks import Hook, parse_hook
from .wire import PROTOCOL_VERSION

PREFIX = "hookbus"
HOOK_ROOT = f"{PREFIX}.hook.v{PROTOCOL_VERSION}"
EVENT_ROOT = f"{PREFIX}.event.v{PROTOCOL_VERSION}"
PROGRESS_ROOT = f"{PREFIX}.progress.v{PROTOCOL_VERSION}"
CONTROL_ROOT = f"{PREFIX}.control.v{PROTOCOL_VERSION}"

EVENTS_STREAM = "HOOKBUS_EVENTS"
PROGRESS_STREAM = "HOOKBUS_PROGRESS"
REGISTRY_BUCKET = "hookbus-plugins"

PLUGIN_NAME_MAX = 63
_PLUGIN_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_K8S_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def validate_plugin_name(name: str) -> str:
    """Return *name* if it is a valid plugin name, else raise :class:`ConfigError`."""
    if not isinstance(name, str) or not name:
        raise ConfigError("plugin name must be a non-empty string")
    if len(name) > PLUGIN_NAME_MAX:
        raise ConfigError(f"plugin name {name!r} is longer than {PLUGIN_NAME_MAX} characters")
    if not _PLUGIN_NAME.match(name):
        raise ConfigError(
            f"plugin name {name!r} is invalid: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def name_token(name: str) -> str:
    """A Kubernetes object name (or namespace) as one subject token."""
    if not _K8S_NAME.match(name) or len(name) > 253:
        raise ConfigError(f"{name!r} is not a valid Kubernetes name for a subject token")
    return name.replace(".", "_")


def token_name(token: str) -> str:
    """Inverse of :func:`name_token`."""
    return token.replace("_", ".")


def _phase_token(value: str, what: str) -> str:
    if not _TOKEN.match(value):
        raise ConfigError(f"{what} {value!r} is not a valid subject token")
    return value


def hook(plugin: str, hook: Hook | str) -> str:
    """Subject on which *plugin* answers calls of *hook*."""
    return f"{HOOK_ROOT}.{validate_plugin_name(plugin)}.{parse_hook(str(hook)).value}"


def hook_wildcard(plugin: str) -> str:
    """Subject matching every hook call for *plugin*."""
    return f"{HOOK_ROOT}.{validate_plugin_name(plugin)}.>"


@dataclass(frozen=True, slots=True)
class HookSubject:
    plugin: str
    hook: str
    """The hook name as sent; may be one this version does not know."""


def parse_hook_subject(subject: str) -> HookSubject:
    """Split a hook subject; the hook part is returned as written (it may be unknown)."""
    prefix = HOOK_ROOT + "."
    if not subject.startswith(prefix):
        raise ConfigError(f"{subject!r} is not a hook subject (expected {prefix}<plugin>.<hook>)")
    plugin, _, name = subject[len(prefix) :].partition(".")
    if not name:
        raise ConfigError(f"{subject!r} names no hook")
    return HookSubject(validate_plugin_name(plugin), name)


def event(namespace: str, workflow: str, kind: str, phase: str) -> str:
    """Notification subject for one phase change of *kind* (workflow, node, pod, plugin)."""
    return (
        f"{EVENT_ROOT}.{name_token(namespace)}.{name_token(workflow)}."
        f"{_phase_token(kind, 'event kind')}.{_phase_token(phase, 'event phase')}"
    )


def events_filter(namespace: str | None = None, workflow: str | None = None) -> str:
    """Subject filter for the events of one namespace and/or workflow (``None``: any)."""
    ns = name_token(namespace) if namespace else "*"
    wf = name_token(workflow) if workflow else "*"
    return f"{EVENT_ROOT}.{ns}.{wf}.>"


def progress(namespace: str, workflow: str) -> str:
    """Subject carrying the latest progress of one workflow."""
    return f"{PROGRESS_ROOT}.{name_token(namespace)}.{name_token(workflow)}"


def control(verb: str) -> str:
    """Subject of a controller request (``node.report``, ``workflow.submit``, ...)."""
    parts = verb.split(".")
    for part in parts:
        _phase_token(part, "control verb")
    return f"{CONTROL_ROOT}.{verb}"
