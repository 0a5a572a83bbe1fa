"""A simulated kubelet for the test API server: moves pods through their phases.

A real kubelet runs a pod's containers and writes what happens into ``pod.status``; here a
test (or :meth:`Kubelet.run`) decides how each pod ends. :meth:`Kubelet.start` marks a pod
Running with its containers running; :meth:`Kubelet.finish` ends a container with an exit
code, a log (served by ``pods/log``) and a termination message, and the pod's phase follows
(Succeeded when every container exited 0, else Failed). :meth:`Kubelet.run` does this for
every pod that appears, by a rule the test gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from .kubeapi import KubeApi

Obj = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """How a container ends."""

    exit_code: int = 0
    log: str = ""
    message: str = ""
    """The termination message (``terminationMessagePath``), at most 4 KiB as the kubelet keeps."""
    container: str = "main"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _containers(pod: Obj) -> list[str]:
    return [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []] or ["main"]


class Kubelet:
    """Pod status changes on *api*'s stored pods."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self.node_name = "test-node"

    def start(self, namespace: str, name: str) -> Obj:
        """Pending → Running: scheduled, every container running."""
        started = _now()

        def change(pod: Obj) -> None:
            spec = pod.setdefault("spec", {})
            spec.setdefault("nodeName", self.node_name)
            status = pod.setdefault("status", {})
            status.update(phase="Running", startTime=started, podIP="10.0.0.2")
            status["containerStatuses"] = [
                {"name": c, "ready": True, "restartCount": 0, "image": "", "imageID": "", "started": True,
                 "state": {"running": {"startedAt": started}}}
                for c in _containers(pod)
            ]

        return self.api.modify("pods", namespace, name, change)

    def finish(self, namespace: str, name: str, outcome: Outcome | None = None) -> Obj:
        """End one container (``outcome.container``) as *outcome* says; once every container
        has ended, the pod is Succeeded (all exit 0) or Failed."""
        outcome = outcome or Outcome()
        self.api.logs[(namespace, name, outcome.container)] = outcome.log
        finished = _now()

        def change(pod: Obj) -> None:
            status = pod.setdefault("status", {})
            statuses = status.get("containerStatuses") or [
                {"name": c, "ready": False, "restartCount": 0, "state": {}} for c in _containers(pod)
            ]
            for entry in statuses:
                if entry["name"] != outcome.container:
                    continue
                started = ((entry.get("state") or {}).get("running") or {}).get("startedAt", finished)
                terminated: Obj = {
                    "exitCode": outcome.exit_code,
                    "reason": "Completed" if outcome.exit_code == 0 else "Error",
                    "startedAt": started,
                    "finishedAt": finished,
                }
                if outcome.message:
                    terminated["message"] = outcome.message.encode()[:4096].decode(errors="ignore")
                entry.update(ready=False, started=False, state={"terminated": terminated})
            status["containerStatuses"] = statuses
            ended = [((e.get("state") or {}).get("terminated")) for e in statuses]
            if all(ended):
                status["phase"] = "Succeeded" if all(t["exitCode"] == 0 for t in ended if t) else "Failed"

        return self.api.modify("pods", namespace, name, change)

    @contextlib.asynccontextmanager
    async def run(self, rule: Callable[[Obj], Outcome | None] | None = None, *, delay: float = 0.0) -> AsyncIterator[Kubelet]:
        """While the block runs, start every new pod and end its containers as
        ``rule(pod)`` says (``None``: leave the pod running; no rule: exit 0)."""
        seen: set[tuple[str, str]] = set()

        async def loop() -> None:
            while True:
                changed = self.api.changed
                for pod in self.api.objects("pods"):
                    meta = pod["metadata"]
                    key = (meta["namespace"], meta["name"])
                    if key in seen or (pod.get("status") or {}).get("phase") != "Pending":
                        continue
                    seen.add(key)
                    self.start(*key)
                    if delay:
                        await asyncio.sleep(delay)
                    outcome = rule(pod) if rule is not None else Outcome()
                    if outcome is not None and self.api.get("pods", *key) is not None:
                        for container in _containers(pod):
                            self.finish(*key, Outcome(outcome.exit_code, outcome.log, outcome.message, container))
                await changed.wait()

        task = asyncio.create_task(loop(), name="kubelet")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
