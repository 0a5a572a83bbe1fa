"""A plugin's warnings and messages are bounded where they enter the controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.bus import Hook, Plugin
from hookbus.bus.dispatch import MAX_MESSAGE_CHARS, MAX_WARNING_CHARS, MAX_WARNINGS_PER_REPLY
from hookbus.bus.testing import PluginHarness

if TYPE_CHECKING:
    from typing import Any

HUGE = 256 * 1024  # a reply must still fit the server's max_payload


async def test_huge_and_endless_warnings_are_cut_with_a_note(nats_url: str) -> None:
    plugin = Plugin("noisy")

    @plugin.workflow_pre_operate(timeout=10.0)
    def noisy(**kwargs: Any) -> dict[str, Any]:
        return {"allowed": False, "message": "m" * HUGE, "warnings": ["w" * HUGE] + [f"w{i}" for i in range(100)]}

    async with PluginHarness(plugin, nats_url=nats_url) as harness:
        outcome = await harness.call_one(Hook.WORKFLOW_PRE_OPERATE, {"workflow": {"metadata": {"name": "x"}}})
    warnings = [w.message for w in outcome.warnings]
    assert len(warnings) == MAX_WARNINGS_PER_REPLY + 1
    assert warnings[0].startswith("w" * MAX_WARNING_CHARS + "... (")
    assert warnings[0].endswith(f"({HUGE - MAX_WARNING_CHARS:,} more characters cut)")
    assert warnings[-1] == f"... and {101 - MAX_WARNINGS_PER_REPLY:,} more warnings cut"
    assert len(outcome.message) < MAX_MESSAGE_CHARS + 64 and "more characters cut" in outcome.message
    assert not outcome.allowed
