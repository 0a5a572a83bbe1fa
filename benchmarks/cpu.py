"""CPU per process of a benchmark's process tree, by role, and while hook calls are in flight.

A benchmark child runs the controller in its own process and starts nats-server, the
plugin processes and the event counter under it. :func:`process_roles` names them,
:func:`cpu_seconds` reads what each role has used (Linux ``/proc``; elsewhere nothing),
and :class:`CpuDuringCalls` adds up what they used while the dispatcher had a call in
flight (its :class:`~hookbus.bus.activity.Activity`). :func:`per_decision` turns that
into CPU microseconds per plugin decision and the ceiling those costs set: how many
decisions per second the machine's cores could move at that cost, were all of them busy
with nothing else.

:func:`thread_preemptions` and :func:`preempted` count how often each role's threads were
taken off a core while they still had work (the kernel's involuntary context switches).
Per plugin request (:func:`plugin_preemptions`) it says how many times a plugin was
interrupted answering one: each time it resumes with caches another process has filled,
one reason decoding costs a plugin more in a run than in a loop.

:func:`machine_times` and :func:`machine_shares` read the whole machine's CPU time by
kind (``/proc/stat``), so a report says how busy the machine was and how much of its time
the hypervisor gave to other guests (``steal``): on a shared host, the same code moves
very different figures from hour to hour, and steal is the part of that a guest can see.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hookbus.bus.activity import Activity

JSON = dict[str, Any]

ROLES = ("controller", "nats-server", "plugins", "event counter", "other")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_roles(root: int | None = None) -> dict[int, str]:
    """*root* (this process) as ``controller`` and every process under it, by role."""
    root = os.getpid() if root is None else root
    roles = {root: "controller"}
    todo = [root]
    while todo:
        for child in _children(todo.pop()):
            if child not in roles:
                roles[child] = _role(child)
                todo.append(child)
    return roles


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _role(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "other"
    if b"nats-server" in cmdline:
        return "nats-server"
    if b"noop_plugin" in cmdline:
        return "plugins"
    if b"event_counter" in cmdline:
        return "event counter"
    return "other"


def cpu_seconds(roles: dict[int, str]) -> dict[str, float]:
    """CPU seconds (user + system) each role of *roles* has used so far (ended processes count 0)."""
    used = dict.fromkeys(sorted(set(roles.values()), key=ROLES.index), 0.0)
    for pid, role in roles.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        used[role] += (int(fields[11]) + int(fields[12])) / _TICK
    return used


def thread_preemptions(roles: dict[int, str]) -> dict[tuple[str, int], int]:
    """Involuntary context switches so far of every thread of the processes of *roles*, by
    role and thread id (Linux ``/proc``; elsewhere nothing)."""
    counted: dict[tuple[str, int], int] = {}
    for pid, role in roles.items():
        try:
            threads = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for thread in threads:
            try:
                status = (thread / "status").read_text()
            except OSError:
                continue
            at = status.find("nonvoluntary_ctxt_switches:")
            if at >= 0:
                counted[(role, int(thread.name))] = int(status[at:].split(None, 2)[1])
    return counted


def preempted(before: Mapping[tuple[str, int], int], after: Mapping[tuple[str, int], int]) -> dict[str, int]:
    """Involuntary context switches by role between two :func:`thread_preemptions` counts.

    A thread that ended in between is missing from *after*: what it had since *before* is
    not counted (a count may fall short, never below zero)."""
    by_role = dict.fromkeys(sorted({role for role, _ in after}, key=ROLES.index), 0)
    for (role, thread), count in after.items():
        by_role[role] += max(0, count - before.get((role, thread), 0))
    return by_role


MACHINE_KINDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
"""The first fields of ``/proc/stat``'s ``cpu`` line, in order (guest time is within user)."""


def machine_times(stat: str | None = None) -> dict[str, int]:
    """Clock ticks the machine's CPUs have spent so far by kind (:data:`MACHINE_KINDS`),
    from *stat* (the text of ``/proc/stat``; read when ``None``). Empty where there is none."""
    if stat is None:
        try:
            stat = Path("/proc/stat").read_text()
        except OSError:
            return {}
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1 : 1 + len(MACHINE_KINDS)]]
            return dict(zip(MACHINE_KINDS, values + [0] * (len(MACHINE_KINDS) - len(values)), strict=True))
    return {}


def machine_shares(before: Mapping[str, int], after: Mapping[str, int]) -> JSON:
    """The machine's CPU time between two :func:`machine_times` readings, as shares of all
    of it: ``busy`` (user, nice, system, irq, softirq), ``idle`` (with iowait) and
    ``steal`` (taken by the hypervisor for other guests). Empty when nothing was read."""
    if not before or not after:
        return {}
    spent = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in MACHINE_KINDS}
    total = sum(spent.values())
    if total <= 0:
        return {}
    idle = spent["idle"] + spent["iowait"]
    steal = spent["steal"]
    return {
        "busy": round((total - idle - steal) / total, 3),
        "idle": round(idle / total, 3),
        "steal": round(steal / total, 3),
        "seconds": round(total / _TICK, 2),
    }


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each role of *after* used since *before*."""
    return {role: after[role] - before.get(role, 0.0) for role in after}


def plugin_preemptions(switches: Mapping[str, int], requests: int) -> JSON:
    """*switches* (involuntary, by role, over some requests; see :func:`preempted`) as
    figures: how often a plugin process was preempted per request it answered."""
    if not requests or "plugins" not in switches:
        return {}
    return {
        "involuntary_switches": dict(switches),
        "plugin_preemptions_per_request": round(switches["plugins"] / requests, 2),
    }


class CpuDuringCalls:
    """What each role of *roles* used while *activity* was busy, added up over the run."""

    def __init__(self, activity: Activity, roles: dict[int, str]) -> None:
        self.roles = roles
        self.seconds: dict[str, float] = dict.fromkeys(cpu_seconds(roles), 0.0)
        self._start: dict[str, float] = {}
        activity.on_busy(self._busy)
        activity.on_idle(self._idle)

    def _busy(self) -> None:
        self._start = cpu_seconds(self.roles)

    def _idle(self) -> None:
        for role, used in difference(cpu_seconds(self.roles), self._start).items():
            self.seconds[role] = self.seconds.get(role, 0.0) + used


def per_decision(seconds: dict[str, float], decisions: int, busy_s: float) -> JSON:
    """*seconds* of CPU by role, spent on *decisions* over *busy_s* wall seconds, as figures."""
    if not seconds or not decisions or busy_s <= 0:
        return {}
    total = sum(seconds.values())
    cores = _cores()
    return {
        "cpu_s": {role: round(s, 2) for role, s in seconds.items()},
        "cpu_us_per_decision": {role: round(s / decisions * 1e6, 2) for role, s in seconds.items()},
        "cpu_us_per_decision_total": round(total / decisions * 1e6, 2),
        "cores_busy": round(total / busy_s, 2),
        "cores": cores,
        "ceiling_decisions_per_s": round(cores * decisions / total) if total > 0 else None,
    }


def _cores() -> int:
    """The cores this process may run on (its affinity, which a container may narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
