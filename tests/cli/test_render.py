"""Rendering from Argo-like Workflow objects, shaped as Argo's controller records them.

The node graphs below follow Argo's documented model: a steps node's first
step group is its child and each later group is a child of the previous
group's steps; a DAG's root tasks are its children and a task's dependents
are children of the task; items and retries hang under a group/retry node.
The expected trees are the ``argo get`` shapes shown in Argo's walkthrough.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from hookbus.controller.argo.names import fnv1a_32
from hookbus.controller.cli import render

NOW = dt.datetime(2024, 1, 1, 0, 1, 0, tzinfo=dt.UTC)


def node(
    node_id: str,
    name: str,
    kind: str,
    phase: str = "Succeeded",
    *,
    children: list[str] | None = None,
    boundary: str | None = None,
    template: str | None = None,
    started: int | None = 0,
    finished: int | None = 5,
    display: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": node_id,
        "name": name,
        "displayName": display or name.rsplit(".", 1)[-1],
        "type": kind,
        "phase": phase,
        "children": children or [],
    }
    if boundary:
        record["boundaryID"] = boundary
    if template:
        record["templateName"] = template
    if started is not None:
        record["startedAt"] = f"2024-01-01T00:00:{started:02d}Z"
    if finished is not None:
        record["finishedAt"] = f"2024-01-01T00:00:{finished:02d}Z"
    if message:
        record["message"] = message
    return record


def workflow(name: str, phase: str, nodes: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": "message", "value": "hi"}]},
        },
        "status": {
            "phase": phase,
            "startedAt": "2024-01-01T00:00:00Z",
            "finishedAt": "2024-01-01T00:00:09Z",
            "nodes": {n["id"]: n for n in nodes},
            **status,
        },
    }


def steps_workflow() -> dict[str, Any]:
    # steps.yaml: [[hello1], [hello2a, hello2b]]
    return workflow(
        "steps-z2zdn",
        "Succeeded",
        [
            node(
                "steps-z2zdn",
                "steps-z2zdn",
                "Steps",
                children=["sg0"],
                template="hello-hello-hello",
            ),
            node(
                "sg0",
                "steps-z2zdn[0]",
                "StepGroup",
                children=["steps-z2zdn-1"],
                boundary="steps-z2zdn",
                display="[0]",
            ),
            node(
                "steps-z2zdn-1",
                "steps-z2zdn[0].hello1",
                "Pod",
                children=["sg1"],
                boundary="steps-z2zdn",
                template="whalesay",
            ),
            node(
                "sg1",
                "steps-z2zdn[1]",
                "StepGroup",
                children=["steps-z2zdn-2", "steps-z2zdn-3"],
                boundary="steps-z2zdn",
                display="[1]",
                started=6,
            ),
            node(
                "steps-z2zdn-2",
                "steps-z2zdn[1].hello2a",
                "Pod",
                boundary="steps-z2zdn",
                template="whalesay",
                started=6,
                finished=9,
            ),
            node(
                "steps-z2zdn-3",
                "steps-z2zdn[1].hello2b",
                "Pod",
                boundary="steps-z2zdn",
                template="whalesay",
                started=6,
                finished=8,
            ),
        ],
        progress="3/3",
    )


def diamond_workflow() -> dict[str, Any]:
    w = "dag-diamond-8q7vp"
    return workflow(
        w,
        "Failed",
        [
            node(w, w, "DAG", "Failed", children=[f"{w}-a"], template="diamond"),
            node(
                f"{w}-a",
                f"{w}.A",
                "Pod",
                children=[f"{w}-b", f"{w}-c"],
                boundary=w,
                template="echo",
                started=1,
                finished=3,
            ),
            node(
                f"{w}-b",
                f"{w}.B",
                "Pod",
                children=[f"{w}-d"],
                boundary=w,
                template="echo",
                started=4,
                finished=6,
            ),
            node(
                f"{w}-c",
                f"{w}.C",
                "Pod",
                "Failed",
                children=[f"{w}-d"],
                boundary=w,
                template="echo",
                started=5,
                finished=7,
                message="Error (exit code 1)",
            ),
            node(
                f"{w}-d",
                f"{w}.D",
                "Skipped",
                "Omitted",
                boundary=w,
                started=None,
                finished=None,
                message="omitted: depends condition not met",
            ),
        ],
    )


def lines_of(wf: dict[str, Any]) -> list[str]:
    return [line.rstrip() for line in render.node_table(wf, now=NOW)]


def test_steps_tree_draws_groups_as_forks() -> None:
    table = lines_of(steps_workflow())
    assert table[0].split() == ["STEP", "TEMPLATE", "PODNAME", "DURATION", "MESSAGE"]
    steps = [
        line[: line.index("  ", 4)].rstrip() if "  " in line[4:] else line for line in table[1:]
    ]
    assert steps == [
        " ✔ steps-z2zdn",
        " ├───✔ hello1",
        " └─┬─✔ hello2a",
        "   └─✔ hello2b",
    ]


def test_pod_names_and_durations() -> None:
    table = lines_of(steps_workflow())
    hello1 = table[2].split()
    # Argo's v2 pod name: <workflow>-<template>-<fnv-32a hash of the node name> (the hash of a
    # real node id too; this fixture's ids are short stand-ins, so the name's hash shows).
    pod = f"steps-z2zdn-whalesay-{fnv1a_32('steps-z2zdn[0].hello1')}"
    assert hello1[2:5] == ["whalesay", pod, "5s"]
    root = table[1].split()
    assert root[2:] == ["hello-hello-hello"], "a steps node has no pod and its own row only"


def test_dag_tasks_are_a_flat_list_under_the_dag() -> None:
    table = lines_of(diamond_workflow())
    firsts = [line.split()[:2] for line in table[1:]]
    assert firsts == [
        ["✖", "dag-diamond-8q7vp"],
        ["├─✔", "A"],
        ["├─✔", "B"],
        ["├─✖", "C"],
        ["└─○", "D"],
    ]
    assert table[4].endswith("Error (exit code 1)")
    assert table[5].endswith("omitted: depends condition not met")


def test_items_and_retries_hang_under_their_group() -> None:
    w = "loops-abc"
    wf = workflow(
        w,
        "Running",
        [
            node(w, w, "DAG", "Running", children=["g"], template="main", finished=None),
            node(
                "g",
                f"{w}.print",
                "TaskGroup",
                "Running",
                children=["i0", "i1"],
                boundary=w,
                finished=None,
            ),
            node(
                "i0",
                f"{w}.print(0:a)",
                "Retry",
                children=["r0", "r1"],
                boundary=w,
                display="print(0:a)",
            ),
            node(
                "r0",
                f"{w}.print(0:a)(0)",
                "Pod",
                "Failed",
                boundary=w,
                display="print(0:a)(0)",
                template="echo",
            ),
            node(
                "r1",
                f"{w}.print(0:a)(1)",
                "Pod",
                boundary=w,
                display="print(0:a)(1)",
                template="echo",
                children=["next"],
            ),
            node(
                "i1",
                f"{w}.print(1:b)",
                "Pod",
                "Running",
                boundary=w,
                display="print(1:b)",
                template="echo",
                finished=None,
                children=["next"],
            ),
            node(
                "next",
                f"{w}.next",
                "Pod",
                "Pending",
                boundary=w,
                template="echo",
                started=None,
                finished=None,
            ),
        ],
    )
    firsts = [line.split()[:2] for line in lines_of(wf)[1:]]
    assert firsts == [
        ["●", "loops-abc"],
        ["├─●", "print"],
        ["│", "├─✔"],
        ["│", "│"],
        ["│", "│"],
        ["│", "└─●"],
        ["└─◷", "next"],
    ]
    text = "\n".join(lines_of(wf))
    assert "│ ├─✔ print(0:a)" in text
    assert "│ │ ├─✖ print(0:a)(0)" in text
    assert "│ │ └─✔ print(0:a)(1)" in text
    assert "│ └─● print(1:b)" in text


def test_exit_handler_is_a_second_tree() -> None:
    wf = steps_workflow()
    wf["status"]["nodes"]["exit"] = node(
        "exit",
        "steps-z2zdn.onExit",
        "Pod",
        template="exit-handler",
        started=9,
        finished=10,
        display="steps-z2zdn.onExit",
    )
    table = lines_of(wf)
    assert table[-1].split()[:3] == ["✔", "steps-z2zdn.onExit", "exit-handler"]


def test_suspended_node_symbol() -> None:
    assert render.symbol({"type": "Suspend", "phase": "Running"}) == "ǁ"
    assert render.symbol({"type": "Pod", "phase": "Error"}) == "⚠"
    assert render.symbol({"type": "Pod", "phase": "Skipped"}) == "○"
    assert render.symbol({"type": "Pod"}) == "◷"


def test_summary_header() -> None:
    text = render.render_workflow(steps_workflow(), now=NOW)
    fields = dict(
        line.split(":", 1)
        for line in text.splitlines()[:9]
        if ":" in line and not line.startswith(" ")
    )
    assert fields["Name"].strip() == "steps-z2zdn"
    assert fields["Namespace"].strip() == "default"
    assert fields["Status"].strip() == "Succeeded"
    assert fields["Duration"].strip() == "9s"
    assert fields["Progress"].strip() == "3/3"
    assert "  message:" in text and "hi" in text


def test_human_durations() -> None:
    assert render.human_duration(None) == ""
    assert render.human_duration(0.4) == "0s"
    assert render.human_duration(59) == "59s"
    assert render.human_duration(125) == "2m5s"
    assert render.human_duration(3600 * 2 + 60) == "2h1m"
    assert render.human_duration(86400 * 3) == "3d"


def test_progress_counts_fall_back_to_pods() -> None:
    wf = diamond_workflow()
    assert render.progress_counts(wf) == (3, 3), "A, B, C are pods and finished; D is not a pod"
    wf["status"]["progress"] = "2/7"
    assert render.progress_counts(wf) == (2, 7)
    assert render.progress_bar(1, 4, width=8) == "[##------]"
    assert render.progress_bar(0, 0, width=4) == "[----]"


def test_list_table_newest_first() -> None:
    old = steps_workflow()
    new = diamond_workflow()
    new["metadata"]["creationTimestamp"] = "2024-01-01T00:00:30Z"
    lines = render.render_list([old, new], now=NOW).splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE", "DURATION", "PRIORITY", "MESSAGE"]
    assert lines[1].split()[:4] == ["dag-diamond-8q7vp", "Failed", "30s", "9s"]
    assert lines[2].split()[:4] == ["steps-z2zdn", "Succeeded", "1m", "9s"]


def test_live_display_plain_prints_only_changes() -> None:
    out = io.StringIO()
    display = render.LiveDisplay(out, tty=False)
    wf = steps_workflow()
    wf["status"].update(phase="Running", progress="1/3")
    display.update(wf, now=NOW)
    display.update(wf, now=NOW)
    wf["status"].update(phase="Succeeded", progress="3/3")
    display.update(wf, now=NOW)
    display.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "1/3 Running" in lines[0]
    assert "3/3 Succeeded" in lines[1]
    assert "\x1b" not in out.getvalue()


def test_live_display_tty_redraws_in_place() -> None:
    out = io.StringIO()
    display = render.LiveDisplay(out, tty=True, color=False)
    wf = steps_workflow()
    display.update(wf, now=NOW)
    display.update(wf, now=NOW)
    display.close()
    text = out.getvalue()
    assert "\n" not in text, "the one-line bar is rewritten in place"
    assert text.count("\r\x1b[J") == 2


def test_wide_table_and_template_refs() -> None:
    wf = diamond_workflow()
    a = wf["status"]["nodes"]["dag-diamond-8q7vp-a"]
    a["outputs"] = {"result": "1", "parameters": [{"name": "out", "value": "x"}], "exitCode": "0"}
    b = wf["status"]["nodes"]["dag-diamond-8q7vp-b"]
    del b["templateName"]
    b["templateRef"] = {"name": "shared-templates", "template": "echo"}
    table = render.node_table(wf, wide=True, now=NOW)
    assert table[0].split() == [
        "STEP",
        "TEMPLATE",
        "PODNAME",
        "DURATION",
        "NODE-ID",
        "OUTPUTS",
        "MESSAGE",
    ]
    row_a = table[2].split()
    assert row_a[-2:] == ["dag-diamond-8q7vp-a", "result=1,out=x,exitCode=0"]
    assert table[3].split()[2] == "shared-templates/echo"


def test_live_tree_redraw_counts_its_lines() -> None:
    out = io.StringIO()
    display = render.LiveDisplay(out, tree=True, tty=True)
    wf = steps_workflow()
    display.update(wf, now=NOW)
    first = out.getvalue()
    drawn = first.count("\n") + 1
    display.update(wf, now=NOW)
    second = out.getvalue()[len(first) :]
    assert second.startswith(f"\x1b[{drawn - 1}F\r\x1b[J"), (
        "moves up to the first drawn line, clears"
    )
    assert "\x1b[32m" not in second, "no colours in the live area"
    display.refresh(now=NOW)
    assert out.getvalue().count("Name:") == 3
