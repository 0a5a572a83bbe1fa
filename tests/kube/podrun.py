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

import asyncio
import os
import shutil
import subprocess
import sys
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

    shims: Path | None = None
    """A directory put first on ``PATH`` (stand-ins for programs of images, see :func:`write_shims`)."""
    files: dict[str, str] = field(default_factory=dict)
    """Absolute paths of image files the command names, and the stand-in run instead (``/argosay``)."""

    def __call__(self, pod: dict[str, Any]) -> Outcome:
        argv, env = self.prepare(pod)
        proc = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False, cwd=self.workdir / pod["metadata"]["name"])
        return self.outcome(pod, proc.returncode, proc.stdout + proc.stderr)

    async def run(self, pod: dict[str, Any], timeout: float = 120) -> Outcome:
        """:meth:`__call__` without holding the event loop (pods of many workflows at once)."""
        argv, env = self.prepare(pod)
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.workdir / pod["metadata"]["name"]
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
        return self.outcome(pod, proc.returncode if proc.returncode is not None else 137, out)

    def prepare(self, pod: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
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
        if self.files and "--" in argv:
            at = argv.index("--") + 1
            if at < len(argv) and argv[at] in self.files:
                argv[at] = self.files[argv[at]]
        argv = [str(self.launcher), "--termination-log", str(here / "termination-log"), "--spill-dir", str(here), *argv[1:]]
        path = os.environ.get("PATH", "/usr/bin:/bin")
        env = {"PATH": f"{self.shims}:{path}" if self.shims else path}
        env.update({str(e["name"]): str(e["value"]) for e in main.get("env") or [] if "value" in e})
        return argv, env

    def outcome(self, pod: dict[str, Any], code: int, output: bytes) -> Outcome:
        log = self.workdir / pod["metadata"]["name"] / "termination-log"
        message = log.read_text() if log.exists() else ""
        return Outcome(code, output.decode(errors="replace"), message)


def write_shims(where: Path) -> tuple[Path, dict[str, str]]:
    """Stand-ins for programs of Argo's test images, as the local executor has them: ``argosay``
    (and ``/argosay``, the path in ``argoproj/argosay:v2``) and ``python`` for ``python3``."""
    from hookbus.controller.executors import argosay

    where.mkdir(parents=True, exist_ok=True)
    shim = where / "argosay"
    shim.write_text(f"#!{sys.executable}\n" + Path(argosay.__file__).read_text(encoding="utf-8"))
    shim.chmod(0o755)
    if shutil.which("python") is None:
        (where / "python").symlink_to(sys.executable)
    return where, {"/argosay": str(shim)}
