"""A no-op plugin process for benchmarks: answers every hook with "no opinion".

    python -m benchmarks.noop_plugin NAME NATS_URL [--max-batch=N] [--validating] [--side-effects] [--projected] [--plain] [HOOK ...]

``--validating`` registers every hook as validating (called in parallel with the other
validating plugins) instead of each hook's default (mutating: called one after another).
The plugin declares no side effects (``sideEffects: false``, true of a no-op), so the
controller may ask it together with the mutating plugins before it; ``--side-effects``
leaves the declaration out, and mutating plugins are then asked strictly one after another.
``--projected`` declares the ``fields`` a typical policy plugin reads (:data:`PROJECTIONS`),
so the controller sends only those instead of whole items. ``--plain`` asks for plain
requests (no ``compression`` in the manifest), as a plugin written before it would.
"""

from __future__ import annotations

import sys
from typing import Any

from hookbus.bus import Hook, Plugin

PROJECTIONS = {
    "node.preExecute": ("node.name", "node.templateName", "template.container.image"),
    "pod.preCreate": ("node.name", "pod.metadata", "pod.spec.containers"),
}
"""``--projected``: the fields a typical policy plugin reads (what it would declare as ``fields``)."""


def make(
    name: str,
    hooks: list[str],
    *,
    max_batch: int | None = None,
    mutating: bool | None = None,
    side_effects: bool = False,
    projected: bool = False,
    plain: bool = False,
) -> Plugin:
    plugin = Plugin(name, version="bench", compression=not plain)

    def answer(items: list[Any], **kwargs: Any) -> list[Any]:
        return [None] * len(items)

    for hook in hooks:
        fields = PROJECTIONS.get(hook, ("node.name",)) if projected else ()
        plugin.on(
            hook, batch=True, timeout=30.0, max_batch=max_batch, mutating=mutating, side_effects=side_effects, fields=fields
        )(answer)
    return plugin


def main(argv: list[str]) -> None:
    name, url, *rest = argv
    max_batch = None
    if rest and rest[0].startswith("--max-batch="):
        max_batch = int(rest.pop(0).split("=", 1)[1])
    mutating = None
    if rest and rest[0] == "--validating":
        mutating = False
        rest.pop(0)
    side_effects = False
    if rest and rest[0] == "--side-effects":
        side_effects = True
        rest.pop(0)
    projected = False
    if rest and rest[0] == "--projected":
        projected = True
        rest.pop(0)
    plain = "--plain" in rest
    if plain:
        rest.remove("--plain")
    hooks = rest or [Hook.NODE_PRE_EXECUTE.value, Hook.POD_PRE_CREATE.value]
    make(name, hooks, max_batch=max_batch, mutating=mutating, side_effects=side_effects, projected=projected, plain=plain).run(nats_url=url)


if __name__ == "__main__":
    main(sys.argv[1:])
