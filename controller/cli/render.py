"""Text rendering of workflows for the CLI: ``argo get``-like trees, tables, progress.

Everything here is a pure function of an Argo-like Workflow object (the dict
``Controller.get`` returns) and a clock, so it is tested without a controller.

Node symbols (Argo's): ``✔`` Succeeded, ``✖`` Failed, ``⚠`` Error,
``○`` Skipped / Omitted, ``◷`` Pending, ``●`` Running, ``ǁ`` a suspended
node waiting to be resumed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from ..argo.types import FULFILLED, Phase
from ..engine.warnings import warnings_of
from ..workflows import node_pod_name

SYMBOLS: dict[str, str] = {
    Phase.SUCCEEDED: "✔",
    Phase.FAILED: "✖",
    Phase.ERROR: "⚠",
    Phase.SKIPPED: "○",
    Phase.OMITTED: "○",
    Phase.PENDING: "◷",
    Phase.RUNNING: "●",
}
SUSPENDED = "ǁ"
_COLORS: dict[str, str] = {Phase.SUCCEEDED: "32", Phase.FAILED: "31", Phase.ERROR: "31", Phase.RUNNING: "36", Phase.PENDING: "33"}
_HIDDEN_TYPES = frozenset({"StepGroup"})
_GROUP_PARENTS = frozenset({"TaskGroup", "StepGroup", "Retry"})

Workflow = Mapping[str, Any]
Node = Mapping[str, Any]


# --------------------------------------------------------------------------- time


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (``2024-01-02T03:04:05Z``) as an aware datetime, or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def human_duration(seconds: float | None) -> str:
    """``45s``, ``2m5s``, ``1h2m``, ``3d4h`` (like argo's durations); empty for None."""
    if seconds is None:
        return ""
    total = max(int(round(seconds)), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def _span(item: Mapping[str, Any], now: dt.datetime) -> float | None:
    started = parse_time(item.get("startedAt"))
    if started is None:
        return None
    finished = parse_time(item.get("finishedAt")) or now
    return (finished - started).total_seconds()


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- pieces


def phase_of(workflow: Workflow) -> str:
    """The workflow's phase (``Pending`` when it has none yet)."""
    return str((workflow.get("status") or {}).get("phase") or Phase.PENDING)


def symbol(node: Node) -> str:
    """The one-character status symbol of a node."""
    phase = str(node.get("phase") or Phase.PENDING)
    if phase == Phase.RUNNING and node.get("type") == "Suspend":
        return SUSPENDED
    return SYMBOLS.get(phase, "?")


def paint(text: str, phase: str, color: bool) -> str:
    """*text* in the ANSI colour of *phase* when *color* is on."""
    code = _COLORS.get(phase)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def progress_counts(workflow: Workflow) -> tuple[int, int]:
    """``(done, total)`` from ``status.progress`` (``"N/M"``), else counted from pod nodes."""
    status = workflow.get("status") or {}
    text = status.get("progress")
    if isinstance(text, str) and "/" in text:
        head, _, tail = text.partition("/")
        if head.strip().isdigit() and tail.strip().isdigit():
            return int(head), int(tail)
    pods = [n for n in (status.get("nodes") or {}).values() if n.get("type") == "Pod"]
    done = sum(
        1 for n in pods if n.get("phase") in FULFILLED
    )
    return done, len(pods)


def progress_bar(done: int, total: int, width: int = 20) -> str:
    """``[######--------------]``: *done* of *total* in *width* cells."""
    filled = 0 if total <= 0 else min(width, int(width * done / total))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def progress_line(workflow: Workflow, *, now: dt.datetime | None = None, width: int = 20) -> str:
    """One line: name, bar, ``done/total``, phase, elapsed time."""
    metadata = workflow.get("metadata") or {}
    status = workflow.get("status") or {}
    done, total = progress_counts(workflow)
    elapsed = human_duration(_span(status, _now(now)))
    return f"{metadata.get('name', '?')} {progress_bar(done, total, width)} {done}/{total} {phase_of(workflow)} {elapsed}".rstrip()


# --------------------------------------------------------------------------- tree


@dataclass(frozen=True)
class Row:
    """One line of the node table: tree prefix + node."""

    prefix: str
    node: Node


def _sort_key(node: Node) -> tuple[str, str]:
    return (
        str(node.get("startedAt") or node.get("finishedAt") or "~"),
        str(node.get("name") or ""),
    )


def _group_index(node: Node) -> int:
    name = str(node.get("name") or "")
    if name.endswith("]") and "[" in name:
        digits = name[name.rindex("[") + 1 : -1]
        if digits.isdigit():
            return int(digits)
    return 0


def display_parent(node: Node, candidates: Sequence[str], nodes: Mapping[str, Node]) -> str | None:
    """The node *node* is drawn under, given the nodes whose ``children`` list it.

    Argo links nodes for scheduling, not for display: a step group is a child
    of the previous group's steps, and a DAG task is a child of the tasks it
    depends on. ``argo get`` draws instead: a node under the group or retry
    node it belongs to (its name extends the group's name, ``x[0].a``,
    ``x.a(0:1)``, ``x(1)``), a step group under its steps node, a DAG task
    under its DAG (all tasks of a DAG as one flat list).
    """
    name = str(node.get("name") or "")
    for parent_id in candidates:
        parent = nodes[parent_id]
        parent_name = str(parent.get("name") or "")
        if (
            parent.get("type") in _GROUP_PARENTS
            and parent_name
            and name.startswith(parent_name)
            and name != parent_name
        ):
            return parent_id
    boundary = str(node.get("boundaryID") or "")
    if boundary in nodes and (
        node.get("type") == "StepGroup" or nodes[boundary].get("type") == "DAG"
    ):
        return boundary
    return candidates[0] if candidates else None


def display_children(nodes: Mapping[str, Node]) -> dict[str | None, list[str]]:
    """For each node id, its children as ``argo get`` draws them; key None lists extra roots.

    See :func:`display_parent`. Step groups stay in the tree; :func:`tree_rows`
    draws them as connectors rather than lines.
    """
    parents: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        for child in node.get("children") or ():
            if child in nodes and child != node_id:
                parents.setdefault(child, []).append(node_id)
    shown: dict[str | None, list[str]] = {}
    for node_id, node in nodes.items():
        shown.setdefault(display_parent(node, parents.get(node_id, []), nodes), []).append(node_id)
    for key, children in shown.items():
        parent_node = nodes.get(key) if key is not None else None
        kind = parent_node.get("type") if parent_node is not None else None
        if parent_node is not None and kind in _GROUP_PARENTS:
            order = {c: i for i, c in enumerate(parent_node.get("children") or ())}
            children.sort(key=lambda c: (order.get(c, len(order)), _sort_key(nodes[c])))
        elif kind == "Steps":
            children.sort(key=lambda c: (_group_index(nodes[c]), _sort_key(nodes[c])))
        else:
            children.sort(key=lambda c: _sort_key(nodes[c]))
    return shown


def tree_rows(workflow: Workflow) -> list[Row]:
    """The node tree in display order with its box-drawing prefixes.

    Children of a step group are drawn as one fork (``├─┬─`` ... ``└─``), as
    ``argo get`` does; the group itself gets no line of its own.
    """
    metadata = workflow.get("metadata") or {}
    nodes: Mapping[str, Node] = (workflow.get("status") or {}).get("nodes") or {}
    if not nodes:
        return []
    children = display_children(nodes)
    rows: list[Row] = []
    seen: set[str] = set()

    def visit(node_id: str, lead: str, branch: str, below: str) -> None:
        # lead: indentation of this line; branch: connector before the symbol;
        # below: indentation for this node's own children.
        if node_id in seen:
            return
        seen.add(node_id)
        rows.append(Row(lead + branch, nodes[node_id]))
        walk(node_id, lead + below)

    def walk(node_id: str, indent: str) -> None:
        kids = [c for c in children.get(node_id, []) if c not in seen]
        for index, kid in enumerate(kids):
            last = index == len(kids) - 1
            if nodes[kid].get("type") in _HIDDEN_TYPES:
                seen.add(kid)
                members = [m for m in children.get(kid, []) if m not in seen]
                fork = "└─" if last else "├─"
                carry = "  " if last else "│ "
                if not members:
                    continue
                if len(members) == 1:
                    visit(members[0], indent, fork + "──", carry + "  ")
                    continue
                for position, member in enumerate(members):
                    if position == 0:
                        visit(member, indent, fork + "┬─", carry + "│ ")
                    else:
                        end = position == len(members) - 1
                        visit(member, indent + carry, "└─" if end else "├─", "  " if end else "│ ")
            else:
                visit(kid, indent, "└─" if last else "├─", "  " if last else "│ ")

    root = str(metadata.get("name") or "")
    roots = [root] if root in nodes else []
    roots += [r for r in children.get(None, []) if r != root]
    for top in roots:
        if top not in seen:
            visit(top, "", "", "")
    for node_id in nodes:  # anything unreachable still shows
        if node_id not in seen:
            visit(node_id, "", "", "")
    return rows


def _node_name(node: Node) -> str:
    return str(node.get("displayName") or node.get("name") or node.get("id") or "?")


def _table(headers: list[str], rows: Iterable[list[str]]) -> list[str]:
    body = [headers, *rows]
    widths = [max(len(r[i]) for r in body) for i in range(len(headers))]
    lines = []
    for row in body:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def node_table(
    workflow: Workflow, *, wide: bool = False, color: bool = False, now: dt.datetime | None = None
) -> list[str]:
    """The ``STEP TEMPLATE PODNAME DURATION MESSAGE`` table under ``argo get``."""
    clock = _now(now)
    name = str((workflow.get("metadata") or {}).get("name") or "")
    headers = ["STEP", "TEMPLATE", "PODNAME", "DURATION", "MESSAGE"]
    if wide:
        headers = ["STEP", "TEMPLATE", "PODNAME", "DURATION", "NODE-ID", "OUTPUTS", "MESSAGE"]
    painted: list[tuple[str, str]] = []
    rows: list[list[str]] = []
    for row in tree_rows(workflow):
        node = row.node
        mark = symbol(node)
        step = f" {row.prefix}{mark} {_node_name(node)}"
        template = template_label(node)
        pod = node_pod_name(name, node) if node.get("type") == "Pod" else ""
        duration = human_duration(_span(node, clock)) if node.get("type") == "Pod" else ""
        message = str(node.get("message") or "").replace("\n", " ")
        cells = [step, template, pod, duration]
        if wide:
            cells += [str(node.get("id") or ""), _outputs_text(node)]
        rows.append([*cells, message])
        painted.append((mark, str(node.get("phase") or "")))
    lines = _table(headers, rows)
    if color:
        for i, (mark, phase) in enumerate(painted, start=1):
            lines[i] = lines[i].replace(mark, paint(mark, phase, True), 1)
    return lines


def template_label(node: Node) -> str:
    """The TEMPLATE column: the template's name, or ``<WorkflowTemplate>/<template>`` for a templateRef."""
    ref = node.get("templateRef")
    if isinstance(ref, Mapping) and ref.get("name"):
        return f"{ref.get('name')}/{ref.get('template', '')}"
    return str(node.get("templateName") or "")


def _outputs_text(node: Node) -> str:
    outputs = node.get("outputs") or {}
    parts = [
        f"{p.get('name')}={p.get('value')}"
        for p in outputs.get("parameters") or ()
        if isinstance(p, dict)
    ]
    if outputs.get("result") is not None:
        parts.insert(0, f"result={outputs['result']}")
    if outputs.get("exitCode") is not None:
        parts.append(f"exitCode={outputs['exitCode']}")
    text = ",".join(parts)
    return text if len(text) <= 60 else text[:57] + "..."


def summary_lines(
    workflow: Workflow, *, now: dt.datetime | None = None, color: bool = False
) -> list[str]:
    """The ``Name: / Namespace: / Status: ...`` header of ``argo get``."""
    clock = _now(now)
    metadata = workflow.get("metadata") or {}
    spec = workflow.get("spec") or {}
    status = workflow.get("status") or {}
    phase = phase_of(workflow)
    fields: list[tuple[str, str]] = [
        ("Name", str(metadata.get("name") or "")),
        ("Namespace", str(metadata.get("namespace") or "default")),
        ("ServiceAccount", str(spec.get("serviceAccountName") or "unset")),
        ("Status", paint(phase, phase, color)),
    ]
    if status.get("message"):
        fields.append(("Message", str(status["message"])))
    if metadata.get("creationTimestamp"):
        fields.append(("Created", _when(metadata["creationTimestamp"], clock)))
    if status.get("startedAt"):
        fields.append(("Started", _when(status["startedAt"], clock)))
    if status.get("finishedAt"):
        fields.append(("Finished", _when(status["finishedAt"], clock)))
    if status.get("startedAt"):
        fields.append(("Duration", human_duration(_span(status, clock))))
    done, total = progress_counts(workflow)
    if total or status.get("progress"):
        fields.append(("Progress", f"{done}/{total}"))
    for index, warning in enumerate(warnings_of(workflow)):
        fields.append(("Warnings" if index == 0 else "", warning))
    lines = [f"{label + ':' if label else '':<20} {value}" for label, value in fields]
    parameters = ((spec.get("arguments") or {}).get("parameters")) or []
    if parameters:
        lines.append("Parameters:")
        for parameter in parameters:
            if isinstance(parameter, dict):
                lines.append(
                    f"  {str(parameter.get('name')) + ':':<18} {parameter.get('value', '')}"
                )
    outputs = (status.get("outputs") or {}).get("parameters") or []
    if outputs:
        lines.append("Outputs:")
        for parameter in outputs:
            if isinstance(parameter, dict):
                lines.append(
                    f"  {str(parameter.get('name')) + ':':<18} {parameter.get('value', '')}"
                )
    return lines


def _when(value: Any, now: dt.datetime) -> str:
    moment = parse_time(value)
    if moment is None:
        return str(value)
    ago = human_duration((now - moment).total_seconds())
    local = moment.astimezone().strftime("%a %b %d %H:%M:%S %z")
    return f"{local} ({ago} ago)" if ago and ago != "0s" else local


def render_workflow(
    workflow: Workflow, *, wide: bool = False, color: bool = False, now: dt.datetime | None = None
) -> str:
    """The full ``argo get`` text: summary, a blank line, the node table."""
    lines = summary_lines(workflow, now=now, color=color)
    table = node_table(workflow, wide=wide, color=color, now=now)
    if len(table) > 1:
        lines += ["", *table]
    return "\n".join(lines) + "\n"


def listing(items: Sequence[Mapping[str, Any]], output: str | None, *, status: str | None, namespaces: bool) -> str:
    """``hookbus list``'s output: the workflows whose phase is in *status* (comma-separated,
    any case; ``None``: all) as ``json``, ``yaml``, ``name`` lines or the table."""
    if status:
        wanted = {s.strip().lower() for s in status.split(",")}
        items = [w for w in items if phase_of(w).lower() in wanted]
    if output == "json":
        return json.dumps(items, indent=2, default=str) + "\n"
    if output == "yaml":
        return str(yaml.safe_dump(items, sort_keys=False))
    if output == "name":
        return "".join(f"{(w.get('metadata') or {}).get('name', '')}\n" for w in items)
    return render_list(items, namespaces=namespaces)


def render_list(
    workflows: Iterable[Workflow], *, now: dt.datetime | None = None, namespaces: bool = False
) -> str:
    """The ``argo list`` table: ``NAME STATUS AGE DURATION PRIORITY MESSAGE``."""
    clock = _now(now)
    headers = ["NAME", "STATUS", "AGE", "DURATION", "PRIORITY", "MESSAGE"]
    if namespaces:
        headers.insert(0, "NAMESPACE")
    rows: list[list[str]] = []
    ordered = sorted(
        workflows,
        key=lambda w: str((w.get("metadata") or {}).get("creationTimestamp") or ""),
        reverse=True,
    )
    for workflow in ordered:
        metadata = workflow.get("metadata") or {}
        status = workflow.get("status") or {}
        created = parse_time(metadata.get("creationTimestamp")) or parse_time(
            status.get("startedAt")
        )
        age = human_duration((clock - created).total_seconds()) if created else ""
        row = [
            str(metadata.get("name") or ""),
            phase_of(workflow),
            age,
            human_duration(_span(status, clock)),
            str((workflow.get("spec") or {}).get("priority") or 0),
            str(status.get("message") or "").replace("\n", " "),
        ]
        if namespaces:
            row.insert(0, str(metadata.get("namespace") or "default"))
        rows.append(row)
    return "\n".join(_table(headers, rows)) + "\n"


def plugin_table(plugins: Iterable[Mapping[str, Any]]) -> str:
    """``hookbus plugin list``: ``NAME VERSION LIVE INSTANCES BREAKER HOOKS LAST-ERROR``."""
    headers = ["NAME", "VERSION", "LIVE", "INSTANCES", "BREAKER", "HOOKS", "LAST-ERROR"]
    rows: list[list[str]] = []
    for plugin in plugins:
        live = "yes" if plugin.get("live") else f"no ({plugin.get('state') or 'gone'})"
        error = str(plugin.get("last_error") or "").replace("\n", " ")
        if error and plugin.get("last_error_at"):
            error = f"{plugin['last_error_at']} {error}"
        rows.append(
            [
                str(plugin.get("name") or ""),
                str(plugin.get("version") or ""),
                live,
                str(plugin.get("instances") or 0),
                str(plugin.get("breaker") or ""),
                ",".join(str(h) for h in plugin.get("hooks") or ()),
                error,
            ]
        )
    if not rows:
        return "no plugins registered\n"
    return "\n".join(_table(headers, rows)) + "\n"


# --------------------------------------------------------------------------- live output


class LiveDisplay:
    """Shows a workflow as it runs.

    On a terminal the same screen area is redrawn (a one-line progress bar, or
    the whole tree with ``tree=True``); otherwise a plain line is written each
    time the phase or progress changes, so logs stay readable.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tree: bool = False,
        tty: bool | None = None,
        color: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.color = self.tty if color is None else color
        self.tree = tree
        self._drawn = 0
        self._last: tuple[str, int, int] | None = None
        self._snapshot: Workflow | None = None

    def refresh(self, *, now: dt.datetime | None = None) -> None:
        """Redraw the last snapshot (on a terminal), so elapsed times keep ticking."""
        if self.tty and self._snapshot is not None and self._drawn:
            self.update(self._snapshot, now=now)

    async def tick(self, interval: float = 1.0) -> None:
        """Call :meth:`refresh` every *interval* seconds until cancelled (terminals only)."""
        if not self.tty:
            return
        while True:
            await asyncio.sleep(interval)
            self.refresh()

    def update(self, workflow: Workflow, *, now: dt.datetime | None = None) -> None:
        """Show the latest snapshot."""
        self._snapshot = workflow
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns
            if self.tree:
                # Uncoloured and cut to the terminal's width: a wrapped line would
                # throw off the count of lines to redraw.
                text = render_workflow(workflow, color=False, now=now)
                lines = [line[: max(width - 1, 20)] for line in text.splitlines()]
                lines.append(progress_line(workflow, now=now)[: max(width - 1, 20)])
            else:
                lines = [progress_line(workflow, now=now)[: max(width - 1, 20)]]
            self._clear()
            self.stream.write("\n".join(lines))
            self.stream.flush()
            self._drawn = len(lines)
            return
        done, total = progress_counts(workflow)
        state = (phase_of(workflow), done, total)
        if state != self._last:
            self._last = state
            self.stream.write(progress_line(workflow, now=now) + "\n")
            self.stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            up = f"\x1b[{self._drawn - 1}F" if self._drawn > 1 else "\r"
            self.stream.write(up + "\r\x1b[J")

    def close(self) -> None:
        """Leave the live area: on a terminal, the last drawing is erased."""
        if self.tty and self._drawn:
            self._clear()
            self.stream.flush()
            self._drawn = 0
