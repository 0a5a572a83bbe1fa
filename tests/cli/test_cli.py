"""The hookbus command line: parsing, exit codes, and client commands.

Client commands run in a worker thread (they call ``asyncio.run``) against a
real nats-server on which the control API serves a fake controller.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hookbus.controller import cli
from hookbus.controller.adapters.api_server import ApiServer
from tests.support.cli import FakeController, Key

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from nats.aio.client import Client

HELLO: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "hello"},
    "spec": {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "busybox"}}],
    },
}


@pytest.fixture
def controller(tmp_path: Path) -> FakeController:
    fake = FakeController(tmp_path)
    return fake


@pytest.fixture
async def served(nc: Client, controller: FakeController, nats_url: str) -> AsyncIterator[str]:
    """The URL of a NATS server with the control API of *controller* on it."""
    async with ApiServer(controller, nc, key_factory=Key):
        yield nats_url


async def hookbus(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in (
        "run",
        "lint",
        "server",
        "submit",
        "list",
        "get",
        "watch",
        "logs",
        "retry",
        "plugin",
        "events",
    ):
        assert command in out
    assert "exit codes" in out
    for command in ("run", "submit", "get", "logs", "terminate", "server"):
        assert cli.main([command, "--help"]) == 0
        assert "usage: hookbus " + command in capsys.readouterr().out
    assert cli.main(["plugin", "run", "--help"]) == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    assert cli.main(["no-such-command"]) == cli.EXIT_USAGE
    assert cli.main(["get"]) == cli.EXIT_USAGE
    assert cli.main(["run", "x.yaml", "--executor", "kubernetes"]) == cli.EXIT_USAGE
    assert "hookbus: error:" in capsys.readouterr().err


def test_parameters() -> None:
    assert cli.parse_parameters(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(cli.CliError) as info:
        cli.parse_parameters(["novalue"])
    assert info.value.code == cli.EXIT_USAGE


def test_nats_flags_fill_the_bus_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKBUS_NATS_URL", "nats://env:1")
    monkeypatch.setenv("HOOKBUS_NATS_USER", "me")
    args = cli.build_parser().parse_args(["get", "x"])
    assert cli.bus_settings(args).nats.urls == ("nats://env:1",)
    args = cli.build_parser().parse_args(["get", "x", "--nats-url", "nats://a:1,nats://b:2"])
    settings = cli.bus_settings(args)
    assert settings.nats.urls == ("nats://a:1", "nats://b:2")
    assert settings.nats.user == "me", "flags go on top of the environment"


def test_client_without_a_url_exits_5(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HOOKBUS_NATS_URL", raising=False)
    assert cli.main(["list"]) == cli.EXIT_UNAVAILABLE
    assert "HOOKBUS_NATS_URL" in capsys.readouterr().err


async def test_unreachable_nats_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert await hookbus("list", "--nats-url", f"nats://127.0.0.1:{port}") == cli.EXIT_UNAVAILABLE
    assert "cannot connect" in capsys.readouterr().err


async def test_no_server_on_that_nats_exits_5(
    nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await hookbus("get", "x", "--nats-url", nats_url) == cli.EXIT_UNAVAILABLE
    assert "no hookbus controller is answering" in capsys.readouterr().err


async def test_get_list_and_outputs(
    served: str, controller: FakeController, capsys: pytest.CaptureFixture[str]
) -> None:
    key = await controller.submit(json.loads(json.dumps(HELLO)))
    capsys.readouterr()
    assert await hookbus("get", "hello", "--nats-url", served, "-o", "json") == 0
    got = json.loads(capsys.readouterr().out)
    assert got["metadata"]["name"] == "hello"
    assert got["status"]["phase"] == "Running"

    assert await hookbus("get", "hello", "--nats-url", served, "-o", "yaml") == 0
    assert yaml.safe_load(capsys.readouterr().out)["status"]["nodes"]["hello"]["type"] == "Pod"

    assert await hookbus("get", "hello", "--nats-url", served) == 0
    text = capsys.readouterr().out
    assert "Name:" in text and "STEP" in text and "● hello" in text

    await controller.set_phase(key, "Succeeded")
    assert await hookbus("list", "--nats-url", served) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].split()[:2] == ["hello", "Succeeded"]
    assert await hookbus("list", "--nats-url", served, "-o", "name", "--status", "Failed") == 0
    assert capsys.readouterr().out == ""

    assert await hookbus("get", "missing", "--nats-url", served) == cli.EXIT_NOT_FOUND
    assert "not found" in capsys.readouterr().err


async def test_watch_exit_code_follows_the_phase(
    served: str, controller: FakeController, capsys: pytest.CaptureFixture[str]
) -> None:
    key = await controller.submit(json.loads(json.dumps(HELLO)))
    watching = asyncio.create_task(hookbus("watch", "hello", "--nats-url", served))
    await asyncio.sleep(0)  # let the watcher connect; the phase change below wakes it either way
    await controller.set_phase(key, "Failed")
    assert await asyncio.wait_for(watching, 20) == cli.EXIT_FAILED
    out = capsys.readouterr().out
    assert "Status:" in out and "Failed" in out


async def test_actions_print_and_exit_codes(
    served: str, controller: FakeController, capsys: pytest.CaptureFixture[str]
) -> None:
    await controller.submit(json.loads(json.dumps(HELLO)))
    assert await hookbus("stop", "hello", "--message", "why", "--nats-url", served) == 0
    assert capsys.readouterr().out.strip() == "workflow hello stopped"
    assert ("stop", "hello:why") in controller.calls
    assert await hookbus("terminate", "hello", "ghost", "--nats-url", served) == cli.EXIT_NOT_FOUND
    captured = capsys.readouterr()
    assert captured.out.strip() == "workflow hello terminated"
    assert "ghost" in captured.err
    assert await hookbus("resume", "hello", "--nats-url", served) == cli.EXIT_CONFLICT
    assert await hookbus("delete", "hello", "--nats-url", served) == 0
    assert controller.workflows == {}


async def test_logs_prefix_and_follow(
    served: str, controller: FakeController, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = await controller.submit(json.loads(json.dumps(HELLO)))
    (tmp_path / "hello.log").write_text("line one\nline two\npartial")
    assert await hookbus("logs", "hello", "--nats-url", served) == 0
    assert capsys.readouterr().out.splitlines() == [
        "hello: line one",
        "hello: line two",
        "hello: partial",
    ]

    assert await hookbus("logs", "hello", "hello", "--nats-url", served) == 0
    assert capsys.readouterr().out.splitlines() == ["line one", "line two", "partial"]

    following = asyncio.create_task(hookbus("logs", "hello", "-f", "--nats-url", served))
    await asyncio.sleep(0)
    with (tmp_path / "hello.log").open("a") as handle:
        handle.write(" end\n")
    await controller.set_phase(key, "Succeeded")
    assert await asyncio.wait_for(following, 20) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "hello: partial end"

    assert await hookbus("logs", "hello", "nope", "--nats-url", served) == cli.EXIT_NOT_FOUND


async def test_safe_events_drop_a_failing_notification(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    class Broken:
        async def workflow_phase(self, workflow: Any, phase: str, message: str) -> None:
            calls.append(phase)

        async def pod_created(self, workflow: Any, pods: Any) -> None:
            raise AttributeError("'str' object has no attribute 'get'")

    sink = cli.SafeEvents(Broken())
    await sink.pod_created(None, ["x"])
    await sink.workflow_phase(None, "Succeeded", "")
    assert calls == ["Succeeded"], "the next notification still goes out"


async def test_events_without_a_stream_exit_3(
    nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await hookbus("events", "--nats-url", nats_url) == cli.EXIT_NOT_FOUND
    assert "no events stream" in capsys.readouterr().err


def test_lint_folders_and_broken_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path as P

    examples = P(__file__).resolve().parents[2] / "examples"
    assert cli.main(["lint", str(examples)]) == 0
    assert capsys.readouterr().out.strip() == "✔ no linting errors found!"

    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: [unclosed\n")
    assert cli.main(["lint", str(broken), str(examples / "hello-world.yaml")]) == cli.EXIT_USAGE
    out = capsys.readouterr().out
    assert "broken.yaml" in out and "✖ 1 linting error(s) found!" in out

    assert cli.main(["lint", str(tmp_path / "missing.yaml")]) == cli.EXIT_USAGE
    assert "no such file" in capsys.readouterr().out


def test_run_keeps_its_store_to_itself_whatever_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path as P

    monkeypatch.delenv("HOOKBUS_NATS_URL", raising=False)
    monkeypatch.setenv("HOOKBUS_NATS_STORE_DIR", str(tmp_path / "server-store"))
    hello = P(__file__).resolve().parents[2] / "examples" / "hello-world.yaml"
    assert cli.main(["run", str(hello), "--executor", "simulate", "-o", "name"]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip().startswith("hello-world")
    assert not (tmp_path / "server-store").exists(), "a run never writes to a server's store"


def test_lint_warns_about_unsupported_fields_and_still_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = tmp_path / "patch.yaml"
    manifest.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: patch}\n"
        "spec:\n  entrypoint: a\n  podSpecPatch: '{\"nodeSelector\": {\"disk\": \"ssd\"}}'\n"
        "  templates:\n  - {name: a, container: {image: alpine}}\n"
    )
    assert cli.main(["lint", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert f"⚠ {manifest}: Workflow 'patch': spec.podSpecPatch: pod-level fields are not applied" in out
    assert out.rstrip().endswith("✔ no linting errors found!")
