"""The items the controller really hands the dispatcher, kept for measurements without the engine.

:class:`RecordingDispatcher` is a :class:`~hookbus.bus.dispatch.Dispatcher` that keeps a
copy of the first items of every hook it is asked about. The fan-out part replays them:
through the same plugin processes with the engine idle (``hook_path_alone``), and through
the codec alone (``codec_floor``), so that both measure the records the fan-out moved,
not look-alikes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ormsgpack

from hookbus.bus.dispatch import CallResult, Dispatcher

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hookbus.bus.hooks import Hook

JSON = dict[str, Any]


class RecordingDispatcher(Dispatcher):
    """A dispatcher that keeps the first *keep* items per hook (see :meth:`records`).

    Items are encoded when they are handed over, so later changes to the objects the
    controller keeps do not show in the copies.
    """

    def __init__(self, *args: Any, keep: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep = keep
        self._kept: dict[str, tuple[JSON, list[bytes], int]] = {}

    async def call(
        self,
        hook: Hook,
        workflow_meta: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        *,
        timeout: float | None = None,
    ) -> CallResult:
        meta, chunks, count = self._kept.get(hook.value, (dict(workflow_meta), [], 0))
        if count < self._keep:
            taken = list(items[: self._keep - count])
            chunks.append(ormsgpack.packb(taken))
            self._kept[hook.value] = (meta, chunks, count + len(taken))
        return await super().call(hook, workflow_meta, items, timeout=timeout)

    def records(self) -> dict[str, tuple[JSON, list[JSON]]]:
        """Per hook name: the workflow metadata of its first call and the items kept."""
        return {
            hook: (meta, [item for chunk in chunks for item in ormsgpack.unpackb(chunk)])
            for hook, (meta, chunks, _) in self._kept.items()
        }
