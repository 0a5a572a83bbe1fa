"""End to end: plugin warnings and the event stream, through ``hookbus`` processes.

A ``hookbus server``, the example plugin ``examples/plugins/tag_advisor.py`` served by
``hookbus plugin run``, and the client commands, each a separate process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from tests.cli.test_e2e import HELLO, ROOT, hookbus, running_server
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

TAG_ADVISOR = ROOT / "examples" / "plugins" / "tag_advisor.py"

MIXED_TAGS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: mixed-tags}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: one, template: floating}
    - - {name: two, template: pinned}
  - name: floating
    container: {image: busybox:latest, command: [echo, floating]}
  - name: pinned
    container: {image: "alpine:3.19", command: [echo, pinned]}
"""

PINNED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: all-pinned}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: "registry.local:5000/tools/alpine:3.19", command: [echo, pinned]}
"""

LATEST_WARNING = (
    "tag-advisor: template 'floating': image 'busybox:latest' uses ':latest', "
    "which changes under you; pin a version"
)


@contextlib.asynccontextmanager
async def serving(*argv: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """A long-running ``hookbus ARGV`` process, stopped with SIGTERM (killed if it hangs)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookbus.controller.cli",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **env},
        cwd=ROOT,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_plugin_warnings_reach_submit_get_and_events(tmp_path: Path) -> None:
    (tmp_path / "mixed.yaml").write_text(MIXED_TAGS)
    (tmp_path / "pinned.yaml").write_text(PINNED)
    async with running_server(tmp_path / "state") as url:
        env = {"HOOKBUS_NATS_URL": url}
        async with serving("plugin", "run", str(TAG_ADVISOR.relative_to(ROOT)), env=env):
            submitted: list[tuple[str, str]] = []

            async def warned() -> bool:
                # Until the server has seen the plugin register, a submit has no warning:
                # delete that workflow and submit again.
                code, out, err = await hookbus(
                    "submit", str(tmp_path / "mixed.yaml"), "-o", "name", env=env
                )
                assert code == 0, err
                if "Warning:" not in err:
                    assert (await hookbus("delete", "mixed-tags", env=env))[0] == 0
                    return False
                submitted.append((out, err))
                return True

            await wait_for(warned, timeout=60, interval=0.2, what="the plugin's warning on submit")
            out, err = submitted[-1]
            assert out.strip() == "mixed-tags", "warnings go to stderr, the name alone to stdout"
            assert [line for line in err.splitlines() if line.startswith("Warning:")] == [
                f"Warning: {LATEST_WARNING}"
            ], "one warning, for the :latest image only"

            code, out, err = await hookbus("wait", "mixed-tags", env=env)
            assert (code, out.strip()) == (0, "mixed-tags Succeeded"), (
                "a warning does not stop the workflow"
            )

            code, out, err = await hookbus("get", "mixed-tags", env=env)
            assert code == 0, err
            header = out.split("\n\n")[0].splitlines()
            assert f"{'Warnings:':<20} {LATEST_WARNING}" in header
            assert "Status:              Succeeded" in header

            code, out, _err = await hookbus("get", "mixed-tags", "-o", "json", env=env)
            annotations = json.loads(out)["metadata"]["annotations"]
            assert json.loads(annotations["hookbus.io/warnings"]) == [LATEST_WARNING]

            code, out, _err = await hookbus(
                "events", "--workflow", "mixed-tags", "-o", "json", env=env
            )
            assert code == 0
            events = [json.loads(line) for line in out.splitlines()]
            warnings = [e for e in events if e["type"] == "io.hookbus.plugin.warning"]
            assert [(e["data"]["plugin"], e["data"]["hook"]) for e in warnings] == [
                ("tag-advisor", "workflow.preOperate")
            ]

            code, out, err = await hookbus(
                "submit", str(tmp_path / "pinned.yaml"), "-o", "name", env=env
            )
            assert (code, out.strip()) == (0, "all-pinned"), err
            assert "Warning" not in err, (
                "pinned images (a registry port is not a tag) draw no warning"
            )
            assert (await hookbus("wait", "all-pinned", env=env))[0] == 0
            code, out, _err = await hookbus("get", "all-pinned", env=env)
            assert "Warnings:" not in out

            # 'hookbus run' on that NATS calls the same plugins and prints their warnings too.
            code, out, err = await hookbus("run", str(HELLO), "--nats-url", url)
            assert code == 0, err
            hello_warning = (
                "tag-advisor: template 'hello': image 'busybox' has no tag, "
                "so it means ':latest'; pin a version"
            )
            assert f"Warning: {hello_warning}" in err.splitlines()
            assert f"{'Warnings:':<20} {hello_warning}" in out


async def _lines_until(
    proc: asyncio.subprocess.Process, seen: list[dict[str, Any]], done: Any, timeout: float = 60
) -> None:
    """Read ``-o json`` event lines from *proc* into *seen* until ``done(event)``."""
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            line = await proc.stdout.readline()
            assert line, f"'hookbus events --follow' ended early; it printed {seen}"
            event = json.loads(line)
            seen.append(event)
            if done(event):
                return


def _workflow(event: dict[str, Any]) -> str:
    return str(event["source"]).rsplit("/", 1)[-1]


async def test_events_follow_replays_what_it_missed_then_streams(tmp_path: Path) -> None:
    async with running_server(tmp_path / "state") as url:
        env = {"HOOKBUS_NATS_URL": url}
        code, _out, err = await hookbus("submit", str(HELLO), "--name", "early", "--watch", env=env)
        assert code == 0, err
        # A consumer that connects after the workflow ended still sees all of it.
        async with serving("events", "--follow", "-o", "json", env=env) as follower:
            seen: list[dict[str, Any]] = []
            await _lines_until(
                follower,
                seen,
                lambda e: _workflow(e) == "early" and e["type"] == "io.hookbus.workflow.succeeded",
            )
            types = [e["type"] for e in seen if _workflow(e) == "early"]
            assert "io.hookbus.workflow.running" in types
            assert types.index("io.hookbus.workflow.running") < types.index(
                "io.hookbus.node.succeeded"
            )
            assert len({e["id"] for e in seen}) == len(seen), "each event once"

            # ... and, still connected, the events of a workflow submitted now.
            code, _out, err = await hookbus("submit", str(HELLO), "--name", "late", env=env)
            assert code == 0, err
            later: list[dict[str, Any]] = []
            await _lines_until(
                follower,
                later,
                lambda e: _workflow(e) == "late" and e["type"] == "io.hookbus.workflow.succeeded",
            )
            assert "io.hookbus.node.succeeded" in [
                e["type"] for e in later if _workflow(e) == "late"
            ]
            assert not [e for e in later if _workflow(e) == "early"], "no replay twice"
            follower.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(follower.wait(), 30) == 130, "interrupted: exit 130"

        code, out, _err = await hookbus("events", "--workflow", "late", env=env)
        assert code == 0
        lines = out.splitlines()
        assert lines and all(" late" in line for line in lines), "--workflow keeps to that workflow"
        assert any("workflow.succeeded" in line for line in lines), out


def test_summary_lists_every_warning_under_one_label() -> None:
    from hookbus.controller.cli.render import summary_lines
    from hookbus.controller.engine.warnings import set_warnings, warnings_of

    workflow: dict[str, Any] = {"metadata": {"name": "w"}, "status": {"phase": "Running"}}
    set_warnings(workflow, ["a: first", "b: second"])
    assert warnings_of(workflow) == ["a: first", "b: second"]
    lines = summary_lines(workflow)
    at = lines.index(f"{'Warnings:':<20} a: first")
    assert lines[at + 1] == f"{'':<20} b: second"
    set_warnings(workflow, [])
    assert warnings_of(workflow) == []
    assert not [line for line in summary_lines(workflow) if "Warnings" in line]


def test_tag_advisor_reads_tags_as_docker_does() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("tag_advisor_example", TAG_ADVISOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.tag_of("busybox") is None
    assert module.tag_of("localhost:5000/busybox") is None, "a registry port is not a tag"
    assert module.tag_of("localhost:5000/busybox:1.36") == "1.36"
    assert module.tag_of("alpine@sha256:abc") == "sha256:abc"
    assert module.advice("python:3.12") is None
    assert "no tag" in module.advice("busybox")
    assert "':latest'" in module.advice("busybox:latest")
