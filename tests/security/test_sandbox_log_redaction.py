"""``hookbus logs`` over the control API: resolved secret values never leave the server,
also while a node is still writing (a value is never split between two replies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookbus.bus.control import ControlClient, LogCursor
from hookbus.controller.adapters.api_server import ApiServer
from tests.support.cli import FakeController, Key

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client

SECRET = "tops3cret-value"


class SecretController(FakeController):
    def secret_values(self, key: Key) -> set[str]:
        return {SECRET}


async def test_logs_are_redacted_line_by_line(nc: Client, tmp_path: Path) -> None:
    controller = SecretController(tmp_path)
    async with ApiServer(controller, nc, key_factory=Key):
        client = ControlClient(nc, timeout=5.0)
        workflow = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "leaky"},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]},
        }
        name = (await client.submit(workflow))["name"]
        log = tmp_path / f"{name}.log"
        log.write_text(f"password is {SECRET}\nnext: {SECRET[:5]}")  # the step is writing the second line
        cursor = LogCursor()
        chunks, done = await client.logs(name, cursor=cursor)
        assert [c["data"] for c in chunks] == ["password is [redacted]\n"]  # the unfinished line waits
        with log.open("a") as handle:
            handle.write(f"{SECRET[5:]} again\n")
        chunks, _ = await client.logs(name, cursor=cursor)
        assert [c["data"] for c in chunks] == ["next: [redacted] again\n"]
        with log.open("a") as handle:
            handle.write(f"last {SECRET}")
        await controller.set_phase(Key("default", name), "Succeeded")
        chunks, done = await client.logs(name, cursor=cursor)
        assert [c["data"] for c in chunks] == ["last [redacted]"]  # a finished node's last line, whole
        assert done is True
