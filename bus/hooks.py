"""The hook catalogue: what the dispatcher needs to know of every blocking hook.

The hook names themselves are part of the wire protocol (:class:`hookbus.bus.wire.Hook`).

A hook's *target* is the key of each request item that a mutating plugin may
patch; the dispatcher applies patches there so that the next plugin in order
sees the result. *Decision keys* are the result keys that settle an item: once
a plugin returned one of them, later plugins in the chain are not asked about
that item.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire import Hook

__all__ = ["HOOKS", "Hook", "HookInfo", "parse_hook"]


@dataclass(frozen=True, slots=True)
class HookInfo:
    hook: Hook
    target: str | None
    """Item key a mutating plugin may patch (``None``: the hook has nothing to patch)."""
    decision_keys: frozenset[str]
    """Result keys that settle an item for the rest of the chain."""
    mutating_default: bool
    """Whether a plugin's registration is mutating unless it says otherwise."""


HOOKS: dict[Hook, HookInfo] = {
    info.hook: info
    for info in (
        HookInfo(Hook.WORKFLOW_PRE_OPERATE, "workflow", frozenset(), False),
        HookInfo(Hook.WORKFLOW_PRE_UPDATE, "workflow", frozenset(), True),
        HookInfo(Hook.NODE_PRE_EXECUTE, None, frozenset({"decision"}), True),
        HookInfo(Hook.NODE_POST_EXECUTE, "node", frozenset(), True),
        HookInfo(Hook.POD_PRE_CREATE, "pod", frozenset(), True),
        HookInfo(Hook.PARAMETERS_RESOLVE, None, frozenset({"value"}), True),
        HookInfo(Hook.TEMPLATE_EXECUTE, None, frozenset({"node"}), True),
    )
}


def parse_hook(name: str) -> Hook:
    """The :class:`Hook` called *name*, or a :class:`ConfigError` listing the valid names."""
    from .errors import ConfigError

    try:
        return Hook(name)
    except ValueError:
        valid = ", ".join(h.value for h in Hook)
        raise ConfigError(f"unknown hook {name!r}; valid hooks: {valid}") from None
