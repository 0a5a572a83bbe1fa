"""A node's result read from its pod's status: exit code, Argo's reasons and messages, the
launcher's report in the termination message, and spilled values completed from the log."""

from __future__ import annotations

import json
from typing import Any

from hookbus.controller.kube.launcher import SPILL_MARK
from hookbus.controller.kube.pods_status import DEADLINE_MESSAGE, pod_outcome, with_log

NOW = 1_800_000_000.0


def pod(phase: str = "Running", main: dict[str, Any] | None = None, init: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "wf-t-1", "annotations": {"workflows.argoproj.io/node-id": "wf-123"}},
        "status": {
            "phase": phase,
            "startTime": "2027-01-15T08:00:00Z",
            "initContainerStatuses": init or [{"name": "init", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [{"name": "main", "state": main or {"running": {"startedAt": "2027-01-15T08:00:01Z"}}}],
            **status,
        },
    }


def ended(code: int, message: str = "", reason: str = "Completed") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "message": message, "finishedAt": "2027-01-15T08:00:09Z"}}


def report(**fields: Any) -> str:
    return json.dumps({"hookbus": 1, **fields})


def test_a_running_or_pending_pod_has_no_outcome_yet() -> None:
    assert pod_outcome(pod(), now=NOW) is None
    assert pod_outcome(pod("Pending", {"waiting": {"reason": "ContainerCreating"}}), now=NOW) is None
    assert pod_outcome(pod("Pending", {"waiting": {"reason": "ImagePullBackOff"}}), now=NOW) is None


def test_success_carries_the_reports_result_and_parameters() -> None:
    message = report(exitCode=0, result="hello", parameters={"a": "1\n"}, artifacts={"f": "aGk="})
    out = pod_outcome(pod("Succeeded", ended(0, message)), now=NOW)
    assert out is not None
    r = out.result
    assert (r.phase, r.exit_code, r.message, r.result) == ("Succeeded", 0, "", "hello")
    assert dict(r.parameters) == {"a": "1\n", "artifact:f": "hi"}
    assert r.node_id == "wf-123"
    assert r.finished_at - r.started_at == 9.0
    assert out.spilled == ()


def test_binary_artifacts_are_handed_to_the_executor() -> None:
    out = pod_outcome(pod("Succeeded", ended(0, report(exitCode=0, artifacts={"b": "/w=="}))), now=NOW)
    assert out is not None
    assert dict(out.artifacts) == {"b": b"\xff"}
    assert "artifact:b" not in out.result.parameters


def test_a_failing_command_is_failed_with_argos_message() -> None:
    out = pod_outcome(pod("Failed", ended(3, report(exitCode=3, result="partial"), reason="Error")), now=NOW)
    assert out is not None
    assert (out.result.phase, out.result.exit_code, out.result.message, out.result.result) == ("Failed", 3, "Error (exit code 3)", "partial")


def test_a_missing_command_names_it() -> None:
    error = 'failed to find name in PATH: exec: "nope": executable file not found in $PATH'
    out = pod_outcome(pod("Failed", ended(64, report(exitCode=64, error=error), reason="Error")), now=NOW)
    assert out is not None
    assert out.result.message == f"Error (exit code 64): {error}"


def test_oom_killed_without_a_report() -> None:
    out = pod_outcome(pod("Failed", ended(137, "", reason="OOMKilled")), now=NOW)
    assert out is not None
    assert (out.result.phase, out.result.message, out.result.result) == ("Failed", "OOMKilled (exit code 137)", None)
    assert dict(out.result.parameters) == {}


def test_deadline_exceeded() -> None:
    out = pod_outcome(pod("Failed", reason="DeadlineExceeded", message=DEADLINE_MESSAGE), now=NOW)
    assert out is not None
    assert (out.result.phase, out.result.message, out.result.exit_code) == ("Failed", DEADLINE_MESSAGE, None)


def test_init_container_failures() -> None:
    user = pod("Failed", init=[
        {"name": "init", "state": {"terminated": {"exitCode": 0}}},
        {"name": "prep", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}},
    ])
    out = pod_outcome(user, now=NOW)
    assert out is not None
    assert (out.result.phase, out.result.message) == ("Failed", "init container 'prep' failed: Error (exit code 2)")
    launcher = pod("Failed", init=[{"name": "init", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}])
    out = pod_outcome(launcher, now=NOW)
    assert out is not None
    assert out.result.phase == "Error"
    assert "launcher could not be installed" in out.result.message
    said = "hookbus-launcher: --input-dir /var/run/hookbus-artifacts/a0: not a file list\n"
    placing = pod("Failed", init=[{"name": "init", "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": said}}}])
    out = pod_outcome(placing, now=NOW)
    assert out is not None
    assert out.result.message == (
        "the launcher could not be installed in the pod (or the input artifacts placed): Error (exit code 1): "
        "hookbus-launcher: --input-dir /var/run/hookbus-artifacts/a0: not a file list"
    )


def test_a_pod_that_cannot_start_errors() -> None:
    out = pod_outcome(pod("Pending", {"waiting": {"reason": "InvalidImageName", "message": "bad ref"}}), now=NOW)
    assert out is not None
    assert (out.result.phase, out.result.message) == ("Error", "InvalidImageName: bad ref")
    evicted = pod_outcome(pod("Failed", reason="Evicted", message="The node was low on resource: memory."), now=NOW)
    assert evicted is not None
    assert (evicted.result.phase, evicted.result.message) == ("Error", "The node was low on resource: memory.")


def test_a_problem_reading_an_output_errors_a_succeeded_node() -> None:
    message = report(exitCode=0, problems={"artifacts.d": "/d: is a directory"})
    out = pod_outcome(pod("Succeeded", ended(0, message)), now=NOW)
    assert out is not None
    assert (out.result.phase, out.result.message) == ("Error", "output artifacts.d: /d: is a directory")


def test_spilled_values_are_completed_from_the_log() -> None:
    message = report(exitCode=0, parameters={"small": "s"}, spilled=["result", "parameters.big"])
    out = pod_outcome(pod("Succeeded", ended(0, message)), now=NOW)
    assert out is not None
    assert out.spilled == ("result", "parameters.big")
    whole = report(exitCode=0, result="r" * 5000, parameters={"small": "s", "big": "b" * 9000})
    log = "user output\n" + SPILL_MARK + whole + "\n"
    done = with_log(out, log)
    assert done.spilled == ()
    assert done.result.result == "r" * 5000
    assert dict(done.result.parameters) == {"small": "s", "big": "b" * 9000}
    assert with_log(out, "rotated away\n") is out
