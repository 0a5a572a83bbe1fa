"""Supervised local nodes: they outlive the executor that started them, are adopted by
the next one, never run twice for one attempt, and stop when cancelled or orphaned."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.engine.ports import ContainerSetSpec
from hookbus.controller.executors import supervisor_records as supervisor
from hookbus.controller.executors.local import LocalExecutor
from hookbus.controller.executors.supervision import SupervisedLocalExecutor
from hookbus.controller.executors.supervisor_records import NodeState
from tests.support.executors import sh, task
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from hookbus.controller.engine.ports import TaskResult, TaskSpec


class Collect:
    def __init__(self) -> None:
        self.results: list[TaskResult] = []

    def __call__(self, result: TaskResult) -> None:
        self.results.append(result)


def supervised(state: Path, **options: float) -> SupervisedLocalExecutor:
    return SupervisedLocalExecutor(state, isolate=False, **options)


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "state"
    yield path
    # no supervisor outlives the test: stop whatever is still running
    for claim in path.rglob(supervisor.CLAIM_FILE):
        pid = supervisor.claimed_pid(claim.parent)
        if pid is not None and supervisor.lock_held(claim.parent / supervisor.LOCK_FILE):
            os.killpg(pid, signal.SIGKILL)


def counting(marker: Path, script: str = "") -> str:
    return f"echo run >> {marker}; {script}"


async def test_a_supervised_node_reports_its_result(state: Path, tmp_path: Path) -> None:
    executor = supervised(state)
    got = Collect()
    executor.bind(got)
    try:
        await executor.start(replace(task(sh("echo hello; exit 0")), attempt="u.0"))
        await wait_for(lambda: bool(got.results), timeout=20, what="the result")
    finally:
        await executor.close()
    [result] = got.results
    assert result.phase == "Succeeded", result.message
    assert result.result == "hello"
    assert result.node_id == "wf-1"
    node_dir = state / "default" / "wf" / "wf-1"
    assert supervisor.inspect(node_dir, "u.0") is NodeState.DONE
    assert (node_dir / supervisor.TASK_FILE).stat().st_mode & 0o777 == 0o600


async def _outlive_then_adopt(state: Path, tmp_path: Path, leave: Callable[[SupervisedLocalExecutor, TaskSpec], Awaitable[None]]) -> TaskResult:
    """Start a node that waits for a file, let *leave* take its executor away, adopt the node
    in a second executor, let it finish; its result (the node ran once)."""
    marker = tmp_path / "runs"
    go = tmp_path / "go"
    spec = replace(task(sh(counting(marker, f"while [ ! -e {go} ]; do sleep 0.05; done; echo finished"))), attempt="u.0")
    first = supervised(state)
    first.bind(Collect())
    await first.start(spec)
    await wait_for(marker.exists, timeout=20, what="the node to run")
    await leave(first, spec)
    assert supervisor.inspect(state / "default" / "wf" / "wf-1", "u.0") is NodeState.RUNNING

    second = supervised(state)
    got = Collect()
    second.bind(got)
    try:
        assert await second.attach(spec) is True
        go.touch()
        await wait_for(lambda: bool(got.results), timeout=20, what="the adopted node's result")
    finally:
        await second.close()
    assert marker.read_text() == "run\n"
    return got.results[0]


async def test_a_node_outlives_its_executor_and_the_next_one_adopts_it(state: Path, tmp_path: Path) -> None:
    async def leave(executor: SupervisedLocalExecutor, spec: TaskSpec) -> None:
        await executor.close()  # the controller goes away; the node goes on

    result = await _outlive_then_adopt(state, tmp_path, leave)
    assert result.phase == "Succeeded", result.message
    assert result.result == "finished"


async def test_start_of_a_node_already_started_adopts_it_instead_of_running_it_again(state: Path, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    spec = replace(task(sh(counting(marker, "sleep 0.3; echo once"))), attempt="u.0")
    first = supervised(state)
    first.bind(Collect())
    await first.start(spec)
    await first.close()  # killed between starting the node and storing that it runs

    second = supervised(state)
    got = Collect()
    second.bind(got)
    try:
        await second.start(spec)
        await wait_for(lambda: bool(got.results), timeout=20, what="the result")
        await second.start(spec)  # and again, once it ended: its recorded outcome
        await wait_for(lambda: len(got.results) == 2, timeout=20, what="the recorded result")
    finally:
        await second.close()
    assert [r.result for r in got.results] == ["once", "once"]
    assert marker.read_text() == "run\n"


async def test_a_new_attempt_runs_again(state: Path, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    spec = replace(task(sh(counting(marker))), attempt="u.0")
    executor = supervised(state)
    got = Collect()
    executor.bind(got)
    try:
        await executor.start(spec)
        await wait_for(lambda: bool(got.results), timeout=20, what="the first attempt")
        assert await executor.attach(replace(spec, attempt="u.1")) is False
        await executor.start(replace(spec, attempt="u.1"))
        await wait_for(lambda: len(got.results) == 2, timeout=20, what="the second attempt")
    finally:
        await executor.close()
    assert marker.read_text() == "run\nrun\n"


async def test_attach_finds_nothing_for_a_node_never_started(state: Path) -> None:
    executor = supervised(state)
    try:
        assert await executor.attach(replace(task(sh("true")), attempt="u.0")) is False
    finally:
        await executor.close()


async def test_cancel_kills_the_node_and_reports_nothing(state: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    spec = replace(task(sh(f"echo $$ > {pid_file}; exec sleep 60")), attempt="u.0")
    executor = supervised(state)
    got = Collect()
    executor.bind(got)
    try:
        await executor.start(spec)
        await wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=20, what="the node")
        step = int(pid_file.read_text())
        await executor.cancel(spec)
        with pytest.raises(ProcessLookupError):
            os.kill(step, 0)
        assert supervisor.inspect(state / "default" / "wf" / "wf-1", "u.0") is NodeState.DONE
        assert await executor.attach(spec) is False  # cancelled: nothing to adopt
        await asyncio.sleep(0)
    finally:
        await executor.close()
    assert got.results == []


async def test_after_detach_cancel_leaves_the_node_to_its_supervisor(state: Path, tmp_path: Path) -> None:
    async def leave(executor: SupervisedLocalExecutor, spec: TaskSpec) -> None:
        executor.detach()  # a graceful stop of the controller
        await executor.cancel(spec)
        await executor.close()

    result = await _outlive_then_adopt(state, tmp_path, leave)
    assert result.phase == "Succeeded", result.message


async def test_an_orphaned_node_is_stopped_after_the_bound(state: Path, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    spec = replace(task(sh(counting(marker, "exec sleep 60"))), attempt="u.0")
    executor = supervised(state, orphan_timeout=0.5)
    executor.bind(Collect())
    await executor.start(spec)
    await wait_for(marker.exists, timeout=20, what="the node to run")
    await executor.close()  # no controller any more
    node_dir = state / "default" / "wf" / "wf-1"
    await wait_for(lambda: supervisor.inspect(node_dir, "u.0") is NodeState.DONE, timeout=20, what="the orphan bound")
    done = supervisor.read_done(node_dir, "u.0")
    assert done is not None
    assert done[0].phase == "Error"
    assert "no controller" in done[0].message


async def test_a_live_controller_keeps_a_long_node_running(state: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    spec = replace(task(sh(f"while [ ! -e {go} ]; do sleep 0.05; done")), attempt="u.0")
    executor = supervised(state, orphan_timeout=0.3)
    got = Collect()
    executor.bind(got)
    try:
        await executor.start(spec)
        await asyncio.sleep(1.5)  # several orphan bounds pass while the controller lives
        assert got.results == []
        go.touch()
        await wait_for(lambda: bool(got.results), timeout=20, what="the result")
    finally:
        await executor.close()
    assert got.results[0].phase == "Succeeded", got.results[0].message


def test_task_records_read_back_as_written() -> None:
    spec = replace(task(sh("echo"), outputs={"p": "/tmp/p"}, mounts={"/m": ""}), attempt="u.3")
    assert supervisor.task_from_json(supervisor.task_to_json(spec)) == spec


def test_a_container_set_reads_back_as_written() -> None:
    layout = ContainerSetSpec(dependencies={"a": (), "b": ("a",)}, attempts=3, retry_delay=0.5)
    spec = replace(task(sh("echo")), container_set=layout)
    written = json.loads(json.dumps(supervisor.task_to_json(spec)))
    assert supervisor.task_from_json(written) == spec


def test_a_containers_security_limits_and_secrets_read_back_as_written() -> None:
    main = replace(
        sh("echo"),
        security_context={"runAsUser": 1000, "runAsNonRoot": True},
        resources={"limits": {"memory": "16Mi"}},
        secret_env={"TOKEN": "s3cret"},
        container={"volumeMounts": [{"name": "v", "mountPath": "/v"}]},
    )
    spec = replace(task(main), pod_security_context={"runAsGroup": 7})
    written = json.loads(json.dumps(supervisor.task_to_json(spec)))
    assert supervisor.task_from_json(written) == spec


def test_a_supervisor_runs_its_node_with_the_controllers_sandbox_decision(tmp_path: Path) -> None:
    first = LocalExecutor(tmp_path, sandbox=True, uid_base=200000, network="none", hidden=("/srv/x",))
    first.sandbox.enabled, first.sandbox.note, first.sandbox.limits_note = True, "decided", None
    config = json.loads(json.dumps(first.supervisor_config()))
    second = LocalExecutor.for_supervisor(config)
    got = second.sandbox
    assert (got.wanted, got.uid_base, got.network, got.enabled, got.note, got.limits_note) == (
        True, 200000, "none", True, "decided", None
    )
    assert got.hidden == first.sandbox.hidden


def test_the_registry_builds_a_supervised_executor_when_asked(tmp_path: Path) -> None:
    from hookbus.controller.executors.registry import make_executor

    assert type(make_executor("local", state_dir=tmp_path, supervise=True, orphan_timeout=5)) is SupervisedLocalExecutor
    assert type(make_executor("local", state_dir=tmp_path, supervise=False)) is LocalExecutor


def test_supervision_needs_a_state_dir() -> None:
    with pytest.raises(ValueError, match="state directory"):
        SupervisedLocalExecutor(None)


async def test_leftovers_of_a_node_never_supervised_are_cleared(state: Path) -> None:
    node_dir = state / "default" / "wf" / "wf-1"
    node_dir.mkdir(parents=True)
    (node_dir / "main.log").write_text("from an earlier run\n")
    executor = supervised(state)
    got = Collect()
    executor.bind(got)
    try:
        await executor.start(replace(task(sh("echo now")), attempt="u.0"))
        await wait_for(lambda: bool(got.results), timeout=20, what="the result")
    finally:
        await executor.close()
    assert (node_dir / "main.log").read_text() == "now\n"


async def test_a_node_whose_supervisor_died_is_reported_lost_not_run_again(state: Path, tmp_path: Path) -> None:
    marker, step_pid = tmp_path / "runs", tmp_path / "pid"
    spec = replace(task(sh(counting(marker, f"echo $$ > {step_pid}; exec sleep 60"))), attempt="u.0")
    first = supervised(state)
    first.bind(Collect())
    await first.start(spec)
    await wait_for(lambda: step_pid.exists() and step_pid.read_text().strip() != "", timeout=20, what="the node to run")
    await first.close()
    node_dir = state / "default" / "wf" / "wf-1"
    pid = supervisor.claimed_pid(node_dir)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # the supervisor dies (its node's processes are its own group's)
    await wait_for(lambda: supervisor.inspect(node_dir, "u.0") is NodeState.LOST, timeout=20, what="the supervisor to die")

    second = supervised(state)
    got = Collect()
    second.bind(got)
    try:
        assert await second.attach(spec) is True
        await wait_for(lambda: bool(got.results), timeout=20, what="the lost result")
        await second.start(spec)
        await wait_for(lambda: len(got.results) == 2, timeout=20, what="the lost result again")
    finally:
        await second.close()
        os.kill(int(step_pid.read_text()), signal.SIGKILL)  # the step outlived its supervisor
    assert [r.phase for r in got.results] == ["Error", "Error"]
    assert "supervisor ended" in got.results[0].message
    assert marker.read_text() == "run\n"


async def test_a_node_handed_over_but_never_claimed_is_started_by_attach_once(state: Path, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    spec = replace(task(sh(counting(marker, "echo once"))), attempt="u.0")
    first = supervised(state)
    await first.prepare()
    node_dir = state / "default" / "wf" / "wf-1"
    node_dir.mkdir(parents=True)
    # the controller wrote what to run and died before its supervisor started
    order = {"attempt": "u.0", "executor": first._config(), "task": supervisor.task_to_json(spec)}
    supervisor.write_json(node_dir / supervisor.TASK_FILE, order)
    await first.close()

    second = supervised(state)
    got = Collect()
    second.bind(got)
    try:
        assert await second.attach(spec) is True
        assert await second.attach(spec) is True  # twice: two supervisors, one run
        await wait_for(lambda: len(got.results) == 2, timeout=20, what="the results")
    finally:
        await second.close()
    assert [r.result for r in got.results] == ["once", "once"]
    assert marker.read_text() == "run\n"


async def test_cancel_right_after_start_stops_the_node_once_its_supervisor_runs(state: Path, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    spec = replace(task(sh(counting(marker, "exec sleep 60"))), attempt="u.0")
    executor = supervised(state)
    got = Collect()
    executor.bind(got)
    try:
        await executor.start(spec)
        await executor.cancel(spec)  # the supervisor may not even have claimed the node yet
        node_dir = state / "default" / "wf" / "wf-1"
        assert not supervisor.lock_held(node_dir / supervisor.LOCK_FILE)
        done = supervisor.read_done(node_dir, "u.0")
        assert done is not None and done[1] is True  # recorded as cancelled
    finally:
        await executor.close()
    assert got.results == []
