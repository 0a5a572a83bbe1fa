"""Pods run for real on this host, for the end-to-end tests of Kubernetes mode.

:class:`HostRule` is a rule for :meth:`tests.support.kubelet.Kubelet.run`: it does what a
kubelet and a container runtime would do with a pod, on this host:

* each of the pod's volumes is one host directory per pod (:meth:`HostRule.volumes`):
  an ``emptyDir`` a fresh directory under the pod's work directory, a ``configMap`` or
  ``secret`` its keys written as files from the test API server, a ``hostPath`` itself, a
  ``persistentVolumeClaim`` one directory per claim that every pod mounting it shares;
* the launcher's ``init`` container runs for real (the launcher built from
  ``launcher/hookbus-launcher.c``, ``install`` with its options), its mounts mapped to
  those directories: it stages the script and places the input artifacts from the
  node's ConfigMap;
* then the user's init containers, in order, then ``main`` behind the launcher, with
  every sidecar running beside it until ``main`` ended. Each container runs in a mount
  namespace of its own (``unshare``, as root), chrooted into a view of the host's root
  filesystem whose writes go to a tmpfs thrown away with the namespace
  (:attr:`HostRule.root_view`: an overlay of ``/``; where the kernel cannot, the host's
  root itself and a warning), with a ``/tmp`` of its own when asked
  (:attr:`HostRule.private_tmp`; the stand-in's own directories under the host's ``/tmp``
  are at :data:`HOST_TMP` there), and its volume mounts (``subPath`` included) as bind
  mounts at their paths, so containers of one pod share their ``emptyDir`` volumes as in a
  pod and nothing else they write, and concurrent pods do not see each other's mounts or
  files. The launcher and the staged script are reached by rewriting their paths instead.

The exit code, the log and the termination message the launcher wrote become the
container's end, so what the controller reads is what the launcher reported, outputs and
all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from hookbus.controller.engine.ports import ProcessSpec
from hookbus.controller.executors.images import CommandError, container_argv, image_defaults
from hookbus.controller.kube.launcher import LAUNCHER_PATH
from hookbus.controller.kube.pods import LAUNCHER_VOLUME, SCRIPT_PATH, STAGING_VOLUME
from tests.support.kubelet import Outcome

if TYPE_CHECKING:
    from tests.support.kubeapi import KubeApi

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


_CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


@functools.cache
def root_view_error() -> str | None:
    """Why containers cannot get a root view of their own on this host (None: they can).

    Tried once: a tmpfs and an overlay of ``/`` on it in a throwaway mount namespace. When
    root could isolate containers but the kernel refuses, a warning says that containers
    write on the host's root filesystem.
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "not root, or no unshare"
    with tempfile.TemporaryDirectory(prefix="hookbus-root-view-") as where:
        probe = (
            'mount -t tmpfs hookbus-root "$1" && mkdir "$1/u" "$1/w" "$1/v" && '
            'mount -t overlay hookbus-root -o "lowerdir=/,upperdir=$1/u,workdir=$1/w" "$1/v" && '
            'mount --rbind /dev "$1/v/dev" && test -x "$1/v/bin/sh"'
        )
        argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", probe, "sh", where]
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    if done.returncode == 0 and shutil.which("chroot") is not None:
        return None
    reason = done.stderr.decode(errors="replace").strip() or ("no chroot" if done.returncode == 0 else f"exit code {done.returncode}")
    structlog.get_logger(__name__).warning(
        "containers write on the host's root filesystem: no overlay of / in a mount namespace", reason=reason
    )
    return reason


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
    api: KubeApi | None = None
    """Where ``configMap`` and ``secret`` volumes are read from (the node's input ConfigMap too)."""
    isolate: bool = field(default_factory=lambda: os.geteuid() == 0 and shutil.which("unshare") is not None)
    """Containers in mount namespaces of their own (root only); without, volume mounts are not made."""
    private_tmp: bool = False
    """Each container gets a ``/tmp`` of its own, as in a pod (the conformance runner's pods:
    examples write ``/tmp`` freely); off, containers share the host's ``/tmp`` (tests that
    leave files for a later pod on the host)."""
    root_view: bool = field(default_factory=lambda: root_view_error() is None)
    """Each container's root is a view of the host's whose writes are thrown away (an overlay
    in its mount namespace, see :meth:`_in_root_view`); off (the kernel cannot), containers
    write on the host's root filesystem outside their mounts."""
    mount_points: dict[Path, int] = field(default_factory=dict)
    """Mount points the stand-in made on the host, and how many running containers use each."""
    _pending: list[Path] = field(default_factory=list)

    def __call__(self, pod: dict[str, Any]) -> Outcome:
        steps = self.prepare(pod)
        try:
            return self._call(pod, steps)
        finally:
            self.release(steps.made)

    def _call(self, pod: dict[str, Any], steps: Steps) -> Outcome:
        here = self.workdir / pod["metadata"]["name"]
        log = b""
        for argv, env in steps.init:
            proc = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False, cwd=here)
            log += proc.stdout + proc.stderr
            if proc.returncode != 0:
                return Outcome(proc.returncode, log.decode(errors="replace"), "")
        sidecars = []
        for a, e in steps.sidecars:
            with contextlib.suppress(OSError):  # a program the host lacks: the sidecar does not run
                sidecars.append(subprocess.Popen(a, env=e, cwd=here, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        try:
            proc = subprocess.run(steps.main[0], capture_output=True, env=steps.main[1], timeout=60, check=False, cwd=here)
        finally:
            for side in sidecars:  # main ended: the sidecars and what they started go
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(side.pid, signal.SIGKILL)
                side.wait()
        return self.outcome(pod, proc.returncode, log + proc.stdout + proc.stderr)

    async def run(self, pod: dict[str, Any], timeout: float = 120) -> Outcome:
        """:meth:`__call__` without holding the event loop (pods of many workflows at once)."""
        steps = self.prepare(pod)
        try:
            return await self._run_steps(pod, steps, timeout)
        finally:
            self.release(steps.made)

    async def _run_steps(self, pod: dict[str, Any], steps: Steps, timeout: float) -> Outcome:
        here = self.workdir / pod["metadata"]["name"]
        log = b""
        for argv, env in steps.init:
            code, out = await _run(argv, env, here, timeout)
            log += out
            if code != 0:
                return Outcome(code, log.decode(errors="replace"), "")
        sidecars = []
        for a, e in steps.sidecars:
            with contextlib.suppress(OSError):  # a program the host lacks: the sidecar does not run
                sidecars.append(
                    await asyncio.create_subprocess_exec(
                        *a, env=e, cwd=here, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
                    )
                )
        try:
            code, out = await _run(steps.main[0], steps.main[1], here, timeout)
        finally:
            for side in sidecars:  # main ended: the sidecars and what they started go
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(side.pid, signal.SIGKILL)
                await side.wait()
        return self.outcome(pod, code, log + out)

    def prepare(self, pod: dict[str, Any]) -> Steps:
        """The pod's volumes made, the launcher installed (script staged, input artifacts
        placed); the commands of its user init containers, sidecars and ``main``."""
        name = pod["metadata"]["name"]
        self.ran.append(name)
        main = container(pod, "main")
        argv = [str(a) for a in [*main.get("command", []), *main.get("args", [])]]
        if not argv or argv[0] != LAUNCHER_PATH:
            raise AssertionError(f"pod {name}: main does not start with the launcher: {argv}")
        here = self.workdir / name
        here.mkdir(parents=True, exist_ok=True)
        volumes = self.volumes(pod, here)
        self.install(pod, volumes)
        staged = volumes[STAGING_VOLUME] / "script"
        argv = [str(staged) if a == SCRIPT_PATH else a for a in argv]
        if self.files and "--" in argv:
            at = argv.index("--") + 1
            if at < len(argv) and argv[at] in self.files:
                argv[at] = self.files[argv[at]]
        argv = [str(self.launcher), "--termination-log", str(here / "termination-log"), "--spill-dir", str(here), *argv[1:]]
        spec = pod["spec"]
        inits = [c for c in spec.get("initContainers") or [] if c.get("name") != "init"]
        sidecars = [c for c in spec.get("containers") or [] if c.get("name") != "main"]
        self._pending = []
        steps = Steps(
            init=[self._process(c, self._argv(c), volumes, here) for c in inits],
            # a sidecar whose image's entrypoint is not known does not run (the host could not run it anyway)
            sidecars=[self._process(c, self._argv(c), volumes, here) for c in sidecars if c.get("command") or image_defaults(c.get("image"))],
            main=self._process(main, argv, volumes, here),
            made=self._pending,
        )
        self._pending = []
        return steps

    def _argv(self, c: dict[str, Any]) -> list[str]:
        """The container's argv; without ``command``, its image's entrypoint as the local
        executor knows Argo's example images (a kubelet reads it from the image)."""
        command = [str(a) for a in c.get("command") or []]
        args = [str(a) for a in c.get("args") or []]
        if command:
            argv = [*command, *args]
        else:
            spec = ProcessSpec(str(c.get("name")), c.get("image"), (), tuple(args), {})
            try:
                argv = list(container_argv(spec, available=lambda name: shutil.which(name) is not None))
            except CommandError as exc:
                raise AssertionError(f"the stand-in kubelet cannot start container {c.get('name')!r}: {exc}") from None
        if argv and argv[0] in self.files:
            argv[0] = self.files[argv[0]]
        return argv

    def _process(self, c: dict[str, Any], argv: list[str], volumes: dict[str, Path], here: Path) -> tuple[list[str], dict[str, str]]:
        """*argv* of container *c* with its env, in a mount namespace of its own: a private
        ``/tmp`` (a container's own), its volume mounts as bind mounts at their paths."""
        path = os.environ.get("PATH", "/usr/bin:/bin")
        env = {"PATH": f"{self.shims}:{path}" if self.shims else path}
        env.update({str(e["name"]): str(e["value"]) for e in c.get("env") or [] if "value" in e})
        workdir = f"cd {shlex.quote(str(c.get('workingDir') or '/'))}"  # the examples' images work in /
        if not self.isolate:
            return ["/bin/sh", "-c", f'{workdir} && exec "$@"', "sh", *argv], env
        if self.root_view:
            return self._in_root_view(c, argv, volumes, here, env, workdir)
        steps: list[str] = []
        private: Path | None = None
        if self.private_tmp:
            private = here / "containers" / _safe(str(c.get("name"))) / "tmp"
            private.mkdir(parents=True, exist_ok=True)
            private.chmod(0o1777)
            HOST_TMP.mkdir(parents=True, exist_ok=True)
            steps = [f"mount --bind /tmp {HOST_TMP}", f"mount --bind {shlex.quote(str(private))} /tmp"]
        mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") not in (LAUNCHER_VOLUME, STAGING_VOLUME)]
        for m in sorted(mounts, key=lambda m: len(str(m["mountPath"]))):
            source = volumes[str(m["name"])] / str(m.get("subPath") or "")
            if source.is_dir() or not source.exists():
                source.mkdir(parents=True, exist_ok=True)
            target = Path(str(m["mountPath"]))
            if private is not None and _under_tmp(target):  # made in the container's own /tmp
                _make(private / target.relative_to("/tmp"), directory=source.is_dir())
            else:
                self._mount_point(target, directory=source.is_dir())
            steps.append(f"mount --bind {shlex.quote(_reached(source) if private else str(source))} {shlex.quote(str(target))}")
        script = " && ".join([*steps, workdir, 'exec "$@"'])
        if private is None:
            return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", *argv], env
        ours = [str(p) for p in (self.workdir, self.launcher.parent, self.shims) if p is not None and _under_tmp(p)]
        ours += [v for v in self.files.values() if _under_tmp(Path(v))]

        def reached(arg: str) -> str:  # the stand-in's own files, as the namespace reaches them
            return _reached(Path(arg)) if any(arg == o or arg.startswith(o + "/") for o in ours) else arg

        env["PATH"] = ":".join(reached(p) for p in env["PATH"].split(":"))
        argv = [reached(a) for a in argv]
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", *argv], env

    def _in_root_view(
        self, c: dict[str, Any], argv: list[str], volumes: dict[str, Path], here: Path, env: dict[str, str], workdir: str
    ) -> tuple[list[str], dict[str, str]]:
        """*argv* of container *c* chrooted into a view of the host's root filesystem of its own.

        In the container's mount namespace: a tmpfs at ``containers/<name>/root`` of the pod's
        directory holds an overlay whose lower layer is the host's ``/`` (read, never
        written) and whose upper layer is on that tmpfs, so whatever the container writes
        outside its mounts goes with the namespace when it ends. On it: the host's ``/dev``
        (a ``/dev/shm`` of its own), ``/proc`` and ``/sys``; ``/tmp`` (the container's own with
        :attr:`private_tmp`, the host's otherwise); the stand-in's own directories (pods,
        launcher, stand-ins for image programs), writable, where the command names them; and
        the volume mounts at their paths.
        """
        box = here / "containers" / _safe(str(c.get("name")))
        root = box / "root"
        root.mkdir(parents=True, exist_ok=True)
        view = root / "view"
        q = shlex.quote

        def at(path: str | Path) -> str:  # a path inside the view, as the namespace reaches it before the chroot
            return q(f"{view}{path}")

        steps = [
            f"mount -t tmpfs -o mode=0755 hookbus-root {q(str(root))}",
            f"mkdir {q(str(root / 'upper'))} {q(str(root / 'work'))} {q(str(view))}",
            f"mount -t overlay hookbus-root -o {q(f'lowerdir=/,upperdir={root}/upper,workdir={root}/work')} {q(str(view))}",
            *(f"mount --rbind {d} {at(d)}" for d in ("/dev", "/proc", "/sys")),
            f"mount -t tmpfs -o mode=1777 hookbus-shm {at('/dev/shm')}",
        ]
        private: Path | None = None
        if self.private_tmp:
            private = box / "tmp"
            private.mkdir(parents=True, exist_ok=True)
            private.chmod(0o1777)
            steps.append(f"mount --bind {q(str(private))} {at('/tmp')}")
        else:
            steps.append(f"mount --rbind /tmp {at('/tmp')}")
        ours = self._own_dirs()
        for own in ours:
            if private is None and _under_tmp(own):
                continue  # reached through the host's /tmp
            inside = _reached(own) if private is not None else str(own)
            steps += [f"mkdir -p {at(inside)}", f"mount --bind {q(str(own))} {at(inside)}"]
        mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") not in (LAUNCHER_VOLUME, STAGING_VOLUME)]
        for m in sorted(mounts, key=lambda m: len(str(m["mountPath"]))):
            source = volumes[str(m["name"])] / str(m.get("subPath") or "")
            if source.is_dir() or not source.exists():
                source.mkdir(parents=True, exist_ok=True)
            directory = source.is_dir()
            target = Path(str(m["mountPath"]))
            if _under_tmp(target):
                if private is not None:  # made in the container's own /tmp
                    _make(private / target.relative_to("/tmp"), directory=directory)
                else:  # the host's /tmp: made there, removed by release()
                    self._mount_point(target, directory=directory)
            else:  # made in the view's upper layer; links resolved as the host's root has them
                target = Path(os.path.realpath(target))
                steps.append(
                    f"mkdir -p {at(target)}" if directory else f"mkdir -p {at(target.parent)} && {{ [ -e {at(target)} ] || touch {at(target)}; }}"
                )
            steps.append(f"mount --bind {q(str(source))} {at(target)}")
        if private is not None:
            mine = [str(p) for p in ours if _under_tmp(p)]

            def reached(arg: str) -> str:  # the stand-in's own files, as the view reaches them
                return _reached(Path(arg)) if any(arg == o or arg.startswith(o + "/") for o in mine) else arg

            env["PATH"] = ":".join(reached(p) for p in env["PATH"].split(":"))
            argv = [reached(a) for a in argv]
        inner = f'{workdir} && exec "$@"'
        steps.append(f'exec {q(_CHROOT)} {q(str(view))} /bin/sh -c {q(inner)} sh "$@"')
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", " && ".join(steps), "sh", *argv], env

    def _own_dirs(self) -> list[Path]:
        """The stand-in's directories a container reaches: pods, the launcher's, the stand-ins'
        (none inside another)."""
        dirs = {self.workdir, self.launcher.parent, *(Path(v).parent for v in self.files.values())}
        if self.shims is not None:
            dirs.add(self.shims)
        return sorted(d for d in dirs if not any(o in d.parents for o in dirs))

    def _mount_point(self, target: Path, *, directory: bool) -> None:
        """Make *target* (and its missing parents) on the host, counted in :attr:`mount_points`.

        A mount point must exist where a bind mount goes; the mount itself is in the
        container's namespace only. What the stand-in made is removed again by
        :meth:`release` once no running container uses it.
        """
        missing: list[Path] = []
        at = target
        while not at.exists() and not at.is_symlink():
            missing.append(at)
            at = at.parent
        for made in reversed(missing):
            if made == target and not directory:
                made.touch()
            else:
                made.mkdir()
        for made in [*missing, *(p for p in [target] if p in self.mount_points and p not in missing)]:
            self.mount_points[made] = self.mount_points.get(made, 0) + 1
            self._pending.append(made)

    def release(self, made: list[Path]) -> None:
        """Remove the mount points in *made* that no running container uses any more (if empty)."""
        for path in sorted(made, key=lambda p: -len(p.parts)):
            left = self.mount_points.get(path, 0) - 1
            if left > 0:
                self.mount_points[path] = left
                continue
            self.mount_points.pop(path, None)
            with contextlib.suppress(OSError):  # something wrote into it on the host: kept
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                elif path.stat().st_size == 0:
                    path.unlink()

    def volumes(self, pod: dict[str, Any], here: Path) -> dict[str, Path]:
        """Volume name -> its host directory for this pod (made; ConfigMaps and Secrets written out)."""
        out: dict[str, Path] = {}
        namespace = pod["metadata"].get("namespace") or "default"
        for volume in pod["spec"].get("volumes") or []:
            name = str(volume["name"])
            where = here / "volumes" / name
            if "hostPath" in volume:
                out[name] = Path(volume["hostPath"]["path"])
                continue
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:  # a claim outlives its pods: one directory per claim, shared by every pod
                out[name] = self.workdir / "claims" / namespace / str(claim)
                out[name].mkdir(parents=True, exist_ok=True)
                continue
            where.mkdir(parents=True, exist_ok=True)
            out[name] = where
            for kind, plural in (("configMap", "configmaps"), ("secret", "secrets")):
                ref = volume.get(kind)
                if ref is None or self.api is None:
                    continue
                obj = self.api.get(plural, namespace, str(ref.get("name") or ref.get("secretName")))
                if obj is None:
                    raise AssertionError(f"pod {pod['metadata']['name']}: {kind} volume {name!r}: no such object")
                files = {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
                encoded = kind == "secret"
                files.update({k: base64.b64decode(v) if encoded else str(v).encode() for k, v in (obj.get("data") or {}).items()})
                for key, data in files.items():
                    (where / key).write_bytes(data)
        out.setdefault(STAGING_VOLUME, here)
        return out

    def install(self, pod: dict[str, Any], volumes: dict[str, Path]) -> None:
        """Run the launcher's ``init`` container: the real ``install``, its mounts mapped to *volumes*."""
        init = container(pod, "init", "initContainers")
        mapped = sorted(
            ((str(m["mountPath"]), volumes[str(m["name"])]) for m in init.get("volumeMounts") or []),
            key=lambda pair: -len(pair[0]),
        )

        def host(arg: str) -> str:
            for inside, outside in mapped:
                arg = arg.replace(inside + "/", f"{outside}/")
            return arg

        argv = [str(self.launcher), *(host(str(a)) for a in init["command"][1:])]
        env = {str(e["name"]): str(e["value"]) for e in init.get("env") or [] if "value" in e}
        done = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
        if done.returncode != 0:
            raise AssertionError(f"pod {pod['metadata']['name']}: the launcher's init failed: {done.stderr.decode(errors='replace')}")

    def outcome(self, pod: dict[str, Any], code: int, output: bytes) -> Outcome:
        log = self.workdir / pod["metadata"]["name"] / "termination-log"
        message = log.read_text() if log.exists() else ""
        return Outcome(code, output.decode(errors="replace"), message)


HOST_TMP = Path("/run/hookbus-kubelet-host-tmp")
"""Where a container with a ``/tmp`` of its own reaches the host's: the stand-in's own
directories under it in a root view, the whole of it without one."""


def _under_tmp(path: Path) -> bool:
    return path == Path("/tmp") or Path("/tmp") in path.parents


def _reached(path: Path) -> str:
    """A host path as a container's namespace reaches it (the host's /tmp moved to :data:`HOST_TMP`)."""
    return str(HOST_TMP / path.relative_to("/tmp")) if _under_tmp(path) else str(path)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "container"


def _make(path: Path, *, directory: bool) -> None:
    """*path* (and its parents) made as a mount point, unless it exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        path.mkdir()
    else:
        path.touch()


@dataclass(frozen=True)
class Steps:
    """What runs in a pod after the launcher's ``init``: each as ``(argv, env)``."""

    init: list[tuple[list[str], dict[str, str]]]
    sidecars: list[tuple[list[str], dict[str, str]]]
    main: tuple[list[str], dict[str, str]]
    made: list[Path]
    """Mount points made for the pod (:meth:`HostRule.release` once it ended)."""


async def _run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, bytes]:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    return (proc.returncode if proc.returncode is not None else 137), out


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
