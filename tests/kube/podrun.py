"""Pods run for real on this host, for the end-to-end tests of Kubernetes mode.

:class:`HostRule` is a rule for :meth:`tests.support.kubelet.Kubelet.run`: it does what a
container runtime would do with a pod's ``main`` container, on this host. The launcher
(built from ``launcher/hookbus-launcher.c``) is put where the pod's command names it, a
staged script is written where the pod reads it, and the user's command runs behind the
launcher with the container's env. The exit code, the log and the termination message the
launcher wrote become the container's end, so what the controller reads is what the
launcher reported, outputs and all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hookbus.controller.kube.launcher import LAUNCHER_PATH
from hookbus.controller.kube.pods import SCRIPT_PATH
from tests.support.kubelet import Outcome

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "launcher" / "hookbus-launcher.c"


def build_launcher(where: Path) -> Path:
    """The static launcher, compiled into *where*."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("a C compiler (gcc) is needed to build the launcher")
    out = where / "hookbus-launcher"
    subprocess.run([cc, "-static", "-O2", "-o", str(out), str(SOURCE)], check=True)
    return out


def container(pod: dict[str, Any], name: str, key: str = "containers") -> dict[str, Any]:
    return next(c for c in pod["spec"].get(key) or [] if c.get("name") == name)


@dataclass
class HostRule:
    """Runs each pod's ``main`` on this host behind the real launcher (see the module docstring)."""

    launcher: Path
    workdir: Path
    ran: list[str] = field(default_factory=list)
    """Pod names, in the order they ran."""

    def __call__(self, pod: dict[str, Any]) -> Outcome:
        name = pod["metadata"]["name"]
        self.ran.append(name)
        main = container(pod, "main")
        argv = [str(a) for a in [*main.get("command", []), *main.get("args", [])]]
        if not argv or argv[0] != LAUNCHER_PATH:
            raise AssertionError(f"pod {name}: main does not start with the launcher: {argv}")
        here = self.workdir / name
        here.mkdir(parents=True, exist_ok=True)
        init = container(pod, "init", "initContainers")
        script = next((e.get("value") for e in init.get("env") or [] if e.get("name") == "HOOKBUS_SCRIPT"), None)
        if script is not None:
            (here / "script").write_text(str(script))
            argv = [str(here / "script") if a == SCRIPT_PATH else a for a in argv]
        log = here / "termination-log"
        argv = [str(self.launcher), "--termination-log", str(log), "--spill-dir", str(here), *argv[1:]]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update({str(e["name"]): str(e["value"]) for e in main.get("env") or [] if "value" in e})
        proc = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
        output = (proc.stdout + proc.stderr).decode(errors="replace")
        message = log.read_text() if log.exists() else ""
        return Outcome(proc.returncode, output, message)
