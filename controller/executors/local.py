"""The local executor: each container or script template runs as a host process.

The template's ``image`` is recorded, never pulled. What runs is the
container's ``command + args`` (Kubernetes semantics; when ``command`` is
empty the image's entrypoint would run, which is known only for the images in
:mod:`.images`). Script templates get their ``source`` written to a file that
is appended to the command, as Argo does.

Per node, under ``state_dir/<namespace>/<workflow>/<node id>/``:

- ``<container>.log``: stdout and stderr of each container (``main.log`` is the
  node's log); stdout of ``main`` is also kept for ``outputs.result``.
- ``fs/upper/``: every file the node wrote, at its absolute path, when the node
  ran isolated (see :mod:`.isolation`); output parameters and artifacts are read
  from there. Init containers share ``main``'s view (what they write, ``main``
  sees); each sidecar has its own. Volume mounts (``TaskSpec.mounts``) are real
  bind mounts shared by all containers of the node.

Without isolation, nodes run directly on the host: absolute paths are the
host's, shared by concurrent nodes, and volume mounts are not applied.

Outcome: exit code 0 is ``Succeeded``; non-zero is ``Failed`` with Argo's
message ``Error (exit code N)``. A command that is not an executable file
(looked up as Argo's executor does) is ``Failed`` with exit code 64 and Argo's
``... exec: "foo": executable file not found in $PATH``, also written to the
container's log; a missing one is named as missing on this host, with its image.
A node that cannot run at all (unknown image entrypoint, isolation failure) is
``Error``. Init containers run first, in order; sidecars start before ``main``
and are stopped (SIGTERM, then SIGKILL after ``kill_grace``) when it ends. A
deadline or a cancelled node (:meth:`cancel`, or a cancelled :meth:`run`) kills the
process group at once.

Helper commands for image-only tools are put on the PATH of node processes:
``argosay`` (see :mod:`.argosay`) and ``python`` when the host has only
``python3``. Images whose files the helpers stand in for (``/argosay`` of
``argoproj/argosay:v2``, see :mod:`.images`) get them at their path: in an
isolated node's view as a link to the helper; without isolation, every shell
word naming the path in the command, arguments and script source is rewritten
to the helper's host path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import structlog

from . import isolation
from . import sandbox as sandboxing
from .base import (
    ERROR,
    FAILED,
    RESULT_MAX_BYTES,
    SUCCEEDED,
    ProcessSpec,
    TaskExecutor,
    TaskResult,
    TaskSpec,
    trim_result,
)
from .container_set import run_container_set, set_processes
from .images import (
    NO_SUCH_FILE,
    NOT_IN_PATH,
    CommandError,
    ExecutableNotFound,
    container_argv,
    image_helpers,
    not_executable,
    rewrite_paths,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

log = structlog.get_logger(__name__)

DEFAULT_INHERIT_ENV: Final = ("HOME", "LANG", "LC_ALL", "TZ", "USER", "PYENV_ROOT", "PYENV_VERSION")
"""Host environment variables node processes inherit (besides ``PATH``); template env wins."""
DEADLINE_MESSAGE: Final = "Pod was active on the node longer than the specified deadline"
NOT_FOUND_EXIT_CODE: Final = 64
"""Exit code of Argo's executor (emissary) when the container's command cannot be found or run."""
PARAMETER_MAX_BYTES: Final = 256 * 1024
"""An output parameter file larger than this fails the node (Argo stores outputs in a 256 kB annotation)."""
CLOSED_MESSAGE: Final = "the local executor is closed (the controller is stopping); retry after a restart"
_NOT_FOUND = re.compile(rb"([^\s:'\"]+): (?:command )?not found")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class _Outcome:
    phase: str
    exit_code: int | None
    message: str
    stdout: bytes | None = None


class _Running:
    """One started container process: its readers and its log."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        readers: list[asyncio.Task[None]],
        log_file: BinaryIO,
        stdout: bytearray,
        ready: Path | None,
        cgroup: sandboxing.NodeCgroup | None = None,
    ) -> None:
        self.proc = proc
        self.readers = readers
        self.log_file = log_file
        self.stdout = stdout
        self.ready = ready
        self.cgroup = cgroup
        self.oom_killed = False
        """Whether the kernel killed a process of the container for its memory limit."""


class LocalExecutor(TaskExecutor):
    """Runs nodes as host processes, isolated per node when the host allows it.

    Each node is a coroutine of the controller's process (see :class:`~.base.TaskExecutor`)
    that owns its processes: a node does not outlive the controller, so :meth:`attach`
    finds nothing after a restart. :class:`~.supervision.SupervisedLocalExecutor` runs
    each node under a supervisor process that does (the same :meth:`run`, in there).

    ``state_dir``: where node directories go (``None``: a temporary directory
    removed by :meth:`close`). ``isolate``: ``None`` detects once whether
    isolation works and falls back with a warning; ``True`` requires it (nodes
    fail with ``Error`` when it is impossible); ``False`` turns it off.
    After the first run, :attr:`isolated` tells which it is and
    :attr:`isolation_note` why.

    ``sandbox`` (isolated nodes only, see :mod:`.sandbox`): ``None`` sandboxes nodes when
    the host allows it (else warns once), ``True`` requires it, ``False`` turns it off.
    ``uid_base``: the host uid of a node's root. ``network``: ``host`` or ``none`` (a
    network namespace of its own). ``hidden``: host directories shown empty to nodes
    besides ``state_dir``. ``sandbox.enabled`` and ``sandbox.note`` tell the outcome.
    """

    name = "local"

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        isolate: bool | None = None,
        kill_grace: float = 5.0,
        inherit_env: tuple[str, ...] = DEFAULT_INHERIT_ENV,
        sandbox: bool | None = None,
        uid_base: int = sandboxing.UID_BASE,
        network: str = "host",
        hidden: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hookbus-local-")
            state_dir = self._tmp.name
        self.state_dir = Path(state_dir).resolve()
        self.isolate = isolate
        self.kill_grace = kill_grace
        self.inherit_env = inherit_env
        self.isolated: bool | None = None
        """Whether nodes run isolated (``None`` until the first run decided it)."""
        self.isolation_note = "not decided yet"
        """Why nodes do or do not run isolated."""
        self._shims = self.state_dir / "shims" / "bin"
        self._binds: tuple[str, ...] = ()
        self._ready_lock = asyncio.Lock()
        self._ready = False
        self._live: set[asyncio.subprocess.Process] = set()
        self._closed = False
        self._keep_node_dirs = False
        """Whether node directories are used as found (a supervisor's executor: the
        controller prepared them), not cleared first."""
        self.sandbox = sandboxing.Sandbox(
            self.state_dir, wanted=sandbox, uid_base=uid_base, network=network, hidden=hidden
        )
        """What runs nodes sandboxed (:attr:`~.sandbox.Sandbox.enabled` and ``note`` tell whether and why)."""

    # -- set-up ---------------------------------------------------------------

    async def prepare(self) -> None:
        """Install helper commands and decide isolation (done by the first :meth:`run`)."""
        async with self._ready_lock:
            if self._ready:
                return
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._install_shims()
            if self.isolate is False:
                self.isolated, self.isolation_note = False, "isolation turned off in the executor settings"
            else:
                reason = await isolation.probe(self.state_dir / "isolation-probe", self._shims)
                self.isolated = reason is None
                self.isolation_note = reason or "each node runs in its own mount namespace over a private overlay of /"
                if reason:
                    log.warning(
                        "local executor runs nodes WITHOUT isolation: concurrent nodes share /tmp and every absolute path",
                        reason=reason,
                        required=bool(self.isolate),
                    )
                self._binds = isolation.bind_mounts()
            await self.sandbox.decide(self.isolation_note if not self.isolated else None, self._shims, self._binds)
            self._ready = True

    def _install_shims(self) -> None:
        self._shims.mkdir(parents=True, exist_ok=True)
        source = Path(__file__).with_name("argosay.py").read_text(encoding="utf-8")
        python = os.path.realpath(sys.executable)
        target = self._shims / "argosay"
        target.write_text(f"#!{python} -IS\n{source}", encoding="utf-8")
        target.chmod(0o755)
        host_path = os.environ.get("PATH", _DEFAULT_PATH)
        if shutil.which("python", path=host_path) is None:
            python3 = shutil.which("python3", path=host_path)
            link = self._shims / "python"
            if python3 and not link.exists():
                link.symlink_to(python3)

    # -- the same decisions in a supervisor (see :mod:`.supervisor`) ------------

    def supervisor_config(self) -> dict[str, Any]:
        """What a supervisor needs to run a node as this (prepared) executor would; read
        back by :meth:`for_supervisor`. Plain JSON data."""
        return {
            "state_dir": str(self.state_dir),
            "isolated": bool(self.isolated),
            "isolation_note": self.isolation_note,
            "binds": list(self._binds),
            "kill_grace": self.kill_grace,
            "inherit_env": list(self.inherit_env),
            "sandbox": {
                "wanted": self.sandbox.wanted,
                "uid_base": self.sandbox.uid_base,
                "network": self.sandbox.network,
                "hidden": list(self.sandbox.hidden[1:]),
                "enabled": self.sandbox.enabled,
                "note": self.sandbox.note,
                "limits_note": self.sandbox.limits_note,
            },
        }

    @classmethod
    def for_supervisor(cls, config: Mapping[str, Any]) -> LocalExecutor:
        """The executor a supervisor runs its node with: prepared as the controller's was
        (isolation decided, helpers installed), using the node directory as it finds it."""
        sandbox = config["sandbox"]
        executor = cls(
            config["state_dir"],
            isolate=bool(config["isolated"]),
            kill_grace=float(config["kill_grace"]),
            inherit_env=tuple(config["inherit_env"]),
            sandbox=sandbox["wanted"],
            uid_base=int(sandbox["uid_base"]),
            network=str(sandbox["network"]),
            hidden=tuple(sandbox["hidden"]),
        )
        executor.sandbox.enabled = sandbox["enabled"]
        executor.sandbox.note = str(sandbox["note"])
        executor.sandbox.limits_note = sandbox["limits_note"]
        executor.isolated = bool(config["isolated"])
        executor.isolation_note = str(config["isolation_note"])
        executor._binds = tuple(config["binds"])
        executor._keep_node_dirs = True
        executor._ready = True
        return executor

    # -- running --------------------------------------------------------------

    async def run(self, task: TaskSpec) -> TaskResult:
        """Run *task*'s containers and report the outcome (node failures are results, not exceptions)."""
        started = time.time()
        if self._closed:
            return self._result(ERROR, None, CLOSED_MESSAGE, None, {}, None, started)
        await self.prepare()
        bound = log.bind(workflow=f"{task.namespace}/{task.workflow}", node=task.node_id)
        node_dir = self._node_dir(task)
        log_path = node_dir / f"{_SAFE.sub('_', task.main.name or 'main')}.log"
        if self.isolate is True and not self.isolated:
            return self._result(ERROR, None, f"node isolation is required but impossible: {self.isolation_note}", None, {}, None, started)
        refusal = self.sandbox.refusal(task)
        if refusal is not None:
            return self._result(ERROR, None, refusal, None, {}, None, started)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + task.timeout if task.timeout is not None else None
        layout = isolation.Layout.under(node_dir / "fs") if self.isolated else None
        created: set[str] = set()
        volumes = self._volumes(task, node_dir, created)
        problem = self._place_inputs(task.input_files, layout, volumes)
        if problem:
            return self._result(ERROR, None, problem, None, {}, None, started)
        self.sandbox.give(layout, volumes, created)
        sidecars: list[_Running] = []
        init, containers = (task.init, ()) if task.container_set is None else set_processes(task.container_set, task.init, task.main)
        try:
            for spec in init:
                outcome = await self._run_one(task, spec, node_dir, layout, deadline, volumes, keep_stdout=False)
                if outcome.phase != SUCCEEDED:
                    message = f"init container {spec.name!r} failed: {outcome.message}"
                    return self._result(outcome.phase, outcome.exit_code, message, None, {}, log_path, started)
            for spec in task.sidecars:
                side_layout = isolation.Layout.under(node_dir / "sidecars" / _SAFE.sub("_", spec.name)) if self.isolated else None
                self.sandbox.give(side_layout, {}, set())
                try:
                    sidecars.append(await self._start(task, spec, node_dir, side_layout, volumes))
                except ExecutableNotFound as exc:
                    message = f"sidecar {spec.name!r}: {_cannot_find(node_dir, spec, exc, keep_stdout=False).message}"
                    await self._kill_all(sidecars)
                    return self._result(FAILED, None, message, None, {}, None, started)
                except CommandError as exc:
                    await self._kill_all(sidecars)
                    return self._result(ERROR, None, f"sidecar {spec.name!r}: {exc}", None, {}, None, started)
            if task.container_set is None:
                outcome = await self._run_one(task, task.main, node_dir, layout, deadline, volumes, keep_stdout=True)
            else:
                main, failed = await run_container_set(
                    task.container_set, containers,
                    lambda spec, keep: self._run_one(
                        task, spec, node_dir, layout if keep else self._container_layout(node_dir, spec), deadline, volumes, keep_stdout=keep
                    ),
                )
                outcome = main if failed is None and main is not None else _set_failure(failed)
        except BaseException:
            await self._kill_all(sidecars)
            raise
        if sidecars:
            await self._stop_sidecars(sidecars)
        if outcome.exit_code is None and outcome.phase == ERROR:
            return self._result(ERROR, None, outcome.message, None, {}, log_path if log_path.exists() else None, started)
        parameters, problem = self._read_parameters(task.output_parameters, layout, volumes)
        phase, message = outcome.phase, outcome.message
        if problem and phase == SUCCEEDED:
            phase, message = ERROR, problem
        result = trim_result(outcome.stdout) if outcome.stdout is not None else None
        bound.debug("node finished", phase=phase, exit_code=outcome.exit_code)
        done = self._result(phase, outcome.exit_code, message, result, parameters, log_path, started)
        artifacts = self._find_artifacts(task.output_artifacts, layout, volumes)
        return replace(done, artifacts=artifacts) if artifacts else done

    async def _run_one(
        self,
        task: TaskSpec,
        spec: ProcessSpec,
        node_dir: Path,
        layout: isolation.Layout | None,
        deadline: float | None,
        volumes: Mapping[str, str],
        *,
        keep_stdout: bool,
    ) -> _Outcome:
        try:
            running = await self._start(task, spec, node_dir, layout, volumes, keep_stdout=keep_stdout)
        except ExecutableNotFound as exc:
            return _cannot_find(node_dir, spec, exc, keep_stdout=keep_stdout)
        except CommandError as exc:
            return _Outcome(ERROR, None, str(exc))
        proc = running.proc
        timed_out = cancelled = False
        try:
            remaining = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
            try:
                await asyncio.wait_for(proc.wait(), remaining)
            except TimeoutError:
                timed_out = True
        finally:
            # The container is over: nothing it started outlives it (cancellation included).
            _signal_group(proc, signal.SIGKILL)
            if proc.returncode is None:
                try:
                    await asyncio.shield(proc.wait())
                except asyncio.CancelledError:
                    cancelled = True
                    await proc.wait()
            await self._finish(running)
        if cancelled:
            raise asyncio.CancelledError
        code = proc.returncode
        assert code is not None
        exit_code = 128 - code if code < 0 else code
        stdout = bytes(running.stdout) if keep_stdout else None
        if timed_out:
            return _Outcome(FAILED, None, DEADLINE_MESSAGE, stdout)
        if running.ready is not None and not running.ready.exists():
            return _Outcome(ERROR, None, self._isolation_failure(node_dir, spec), None)
        if running.oom_killed:
            return _Outcome(FAILED, 137, sandboxing.OOM_MESSAGE, stdout)
        if exit_code == 0:
            return _Outcome(SUCCEEDED, 0, "", stdout)
        message = f"Error (exit code {exit_code})"
        if exit_code == 127:
            missing = self._missing_command(node_dir, spec)
            if missing:
                message += ": " + _unavailable(missing, spec.image)
        return _Outcome(FAILED, exit_code, message, stdout)

    async def _start(
        self,
        task: TaskSpec,
        spec: ProcessSpec,
        node_dir: Path,
        layout: isolation.Layout | None,
        volumes: Mapping[str, str],
        *,
        keep_stdout: bool = False,
    ) -> _Running:
        env = self._env(task, spec, isolated=layout is not None)
        host_path = f"{self._shims}:{spec.env.get('PATH') or os.environ.get('PATH', _DEFAULT_PATH)}"
        helpers = image_helpers(spec.image)
        # Files of the image the executor provides (``/argosay``): in the node's own view when
        # it has one, else every word naming them points at the helper on the host.
        rewrites = {inside: str(self._shims / name) for inside, name in helpers} if layout is None else {}
        script: str | None = None
        if spec.source is not None:
            script = self._write_script(node_dir, spec, layout, rewrite_paths(spec.source, rewrites))
        argv = container_argv(spec, script_path=script, available=lambda name: shutil.which(name, path=host_path) is not None)
        if rewrites:
            argv = tuple(rewrite_paths(arg, rewrites) for arg in argv)
        if layout is not None and helpers:
            isolation.place_helpers(helpers, layout)
        if layout is None or argv[0] not in dict(helpers):
            cwd_inside = spec.working_dir or ("/" if layout is not None else str(node_dir / "work"))
            argv = (self._resolve(argv[0], host_path, cwd_inside, layout, volumes), *argv[1:])
        ready: Path | None = None
        cgroup: sandboxing.NodeCgroup | None = None
        if layout is not None:
            ready = node_dir / f"{_SAFE.sub('_', spec.name)}.{isolation.READY_MARK}"
            ready.unlink(missing_ok=True)
            launcher, cgroup = self.sandbox.launcher(task, spec, layout.root, ready)
            argv = isolation.wrap(
                argv, layout, shims=self._shims, cwd=spec.working_dir or "/", ready=ready, binds=self._binds, volumes=volumes,
                hidden=self.sandbox.hidden if self.sandbox.enabled else (), launcher=launcher,
            )
            cwd = None
        else:
            cwd = _make_dir(spec.working_dir or str(node_dir / "work"))
        log_file = _open_log(node_dir, spec)
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        )
        try:
            # Shielded: a cancel that lands while the process is being set up must still
            # find the process, to kill its group, rather than leave it running unseen.
            proc = await asyncio.shield(spawn)
        except OSError as exc:
            log_file.close()
            if cgroup is not None:
                cgroup.remove()
            raise CommandError(f"cannot start {argv[0]!r} for container {spec.name!r}: {exc.strerror or exc}") from exc
        except asyncio.CancelledError:
            log_file.close()
            if cgroup is not None:
                cgroup.remove()
            with contextlib.suppress(Exception):
                started = await spawn
                _signal_group(started, signal.SIGKILL)
                await started.wait()
            raise
        self._live.add(proc)
        stdout = bytearray()
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(_pump(proc.stdout, log_file, stdout if keep_stdout else None), name=f"hookbus-local-stdout-{task.node_id}"),
            asyncio.create_task(_pump(proc.stderr, log_file, None), name=f"hookbus-local-stderr-{task.node_id}"),
        ]
        return _Running(proc, readers, log_file, stdout, ready, cgroup)

    async def _finish(self, running: _Running) -> None:
        """Wait for the output readers (briefly: a process that escaped the group may hold the pipes)."""
        try:
            await asyncio.wait(running.readers, timeout=5.0)
        finally:
            for reader in running.readers:
                if not reader.done():
                    reader.cancel()
            await asyncio.gather(*running.readers, return_exceptions=True)
            if not running.log_file.closed:
                running.log_file.close()
            self._live.discard(running.proc)
            if running.cgroup is not None and running.proc.returncode is not None:
                running.oom_killed = running.cgroup.oom_killed()
                running.cgroup.remove()

    async def _stop_sidecars(self, sidecars: list[_Running]) -> None:
        """SIGTERM every sidecar's group, SIGKILL what is left after ``kill_grace``."""
        for sidecar in sidecars:
            _signal_group(sidecar.proc, signal.SIGTERM)
        waits = [asyncio.create_task(s.proc.wait(), name="hookbus-local-sidecar-wait") for s in sidecars]
        try:
            await asyncio.wait(waits, timeout=self.kill_grace)
        finally:
            await self._kill_all(sidecars)
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _kill_all(self, running: list[_Running]) -> None:
        """SIGKILL these containers' groups and collect them."""
        for item in running:
            _signal_group(item.proc, signal.SIGKILL)
        for item in running:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(item.proc.wait())
            await self._finish(item)

    # -- helpers --------------------------------------------------------------

    def _container_layout(self, node_dir: Path, spec: ProcessSpec) -> isolation.Layout | None:
        """A filesystem of its own for a container of a set that is not its main one: the set's
        containers may run side by side, and share only their volumes (as in a pod)."""
        if not self.isolated:
            return None
        layout = isolation.Layout.under(node_dir / "containers" / _SAFE.sub("_", spec.name))
        self.sandbox.give(layout, {}, set())
        return layout

    def _node_dir_path(self, task: TaskSpec) -> Path:
        return self.state_dir / _SAFE.sub("_", task.namespace) / _SAFE.sub("_", task.workflow) / _SAFE.sub("_", task.node_id)

    def _node_dir(self, task: TaskSpec) -> Path:
        path = self._node_dir_path(task)
        if path.exists() and not self._keep_node_dirs:
            shutil.rmtree(path, ignore_errors=True)  # an earlier, interrupted attempt of this node
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _env(self, task: TaskSpec, spec: ProcessSpec, *, isolated: bool) -> dict[str, str]:
        env = {k: os.environ[k] for k in self.inherit_env if k in os.environ}
        shims = isolation.SHIM_DIR if isolated else str(self._shims)
        env["PATH"] = f"{shims}:{os.environ.get('PATH', _DEFAULT_PATH)}"
        env["ARGO_CONTAINER_NAME"] = spec.name
        env["ARGO_NODE_ID"] = task.node_id
        env["ARGO_TEMPLATE_NAME"] = task.template_name
        for key, value in spec.env.items():
            env[key] = f"{shims}:{value}" if key == "PATH" else value
        env.update(spec.secret_env)  # in the environment, never in argv
        if isolated:
            # the namespace set-up needs the host's tools; the node's PATH is restored inside
            env[isolation.NODE_PATH_VAR] = env["PATH"]
            env["PATH"] = os.environ.get("PATH", _DEFAULT_PATH) + ":" + _DEFAULT_PATH
        return env

    def _write_script(self, node_dir: Path, spec: ProcessSpec, layout: isolation.Layout | None, source: str) -> str:
        if layout is not None:
            host = layout.host_path(isolation.SCRIPT_PATH)
            inside = isolation.SCRIPT_PATH
        else:
            host = node_dir / "staging" / "script"
            inside = str(host)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_text(source, encoding="utf-8")
        host.chmod(0o755)  # ``sh -c <file>`` runs it as a program, as Argo's staged script allows
        return inside

    def _resolve(
        self, command: str, host_path: str, cwd: str, layout: isolation.Layout | None, volumes: Mapping[str, str]
    ) -> str:
        """The program to exec, found as Argo's executor finds it (Go's ``exec.LookPath``).

        A name without ``/`` is looked up on the PATH (helper commands first); a path must
        be an executable file in the node's view of the filesystem (relative to *cwd*, the
        working directory there). An absolute path the host lacks whose name is on the PATH
        runs that program (``/usr/local/bin/python`` of an image is the host's ``python``).
        Raises :class:`ExecutableNotFound` with Go's reason.
        """
        isolated = layout is not None
        if "/" not in command:
            found = shutil.which(command, path=host_path) if command else None
            if found is None:
                raise ExecutableNotFound(command, NOT_IN_PATH)
            return command if isolated else found
        inside = posixpath.normpath(posixpath.join(cwd, command))  # an absolute command stays itself
        problem = not_executable(isolation.view_path(inside, layout, volumes), command)
        if problem is None:
            return command
        base = posixpath.basename(command)
        if command.startswith("/") and problem.endswith(NO_SUCH_FILE) and base:
            found = shutil.which(base, path=host_path)
            if found is not None:
                return base if isolated else found
        raise ExecutableNotFound(command, problem)

    def host_path(self, task: TaskSpec, path: str) -> Path:
        """Where a file the node wrote at absolute *path* is on the host (after or during its run)."""
        node_dir = self._node_dir_path(task)
        if self.isolated:
            return isolation.Layout(node_dir / "fs" / "root", node_dir / "fs" / "upper", node_dir / "fs" / "work").host_path(path)
        return Path(path)

    def _volumes(self, task: TaskSpec, node_dir: Path, created: set[str]) -> dict[str, str]:
        """Host directories of the node's volume mounts (``""`` becomes a fresh one); those
        made now are added to *created*."""
        volumes: dict[str, str] = {}
        for index, (inside, host) in enumerate(sorted(task.mounts.items())):
            path = Path(host) if host else node_dir / "volumes" / str(index)
            if not path.exists():
                created.add(str(path))
            path.mkdir(parents=True, exist_ok=True)
            volumes[inside] = str(path)
        return volumes

    def _place_inputs(self, files: Mapping[str, str], layout: isolation.Layout | None, volumes: Mapping[str, str]) -> str | None:
        for inside, source in files.items():
            target = isolation.host_of(inside, layout, volumes)
            if os.path.isdir(source) and target.resolve().is_relative_to(Path(source).resolve()):
                return f"cannot place input {inside}: it is inside the directory copied there ({source}); run the node isolated"
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if os.path.isdir(source):
                    shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
                else:
                    shutil.copy2(source, target)
            except OSError as exc:
                return f"cannot place input {inside} (from {source}): {exc.strerror or exc}"
        return None

    def _find_artifacts(self, paths: Mapping[str, str], layout: isolation.Layout | None, volumes: Mapping[str, str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for name, path in paths.items():
            host = isolation.host_of(path, layout, volumes)
            if host.is_file() or host.is_dir():
                found[name] = str(host)
        return found

    def _read_parameters(
        self, paths: Mapping[str, str], layout: isolation.Layout | None, volumes: Mapping[str, str]
    ) -> tuple[dict[str, str], str | None]:
        values: dict[str, str] = {}
        for name, path in paths.items():
            host = isolation.host_of(path, layout, volumes)
            try:
                if not host.is_file():  # missing, a directory, or an overlay whiteout (deleted)
                    continue
                size = host.stat().st_size
                if size > PARAMETER_MAX_BYTES:
                    return values, f"output parameter {name!r} ({path}) is {size} bytes, more than the {PARAMETER_MAX_BYTES} allowed"
                values[name] = host.read_bytes().decode("utf-8", errors="replace")
            except OSError as exc:
                return values, f"cannot read output parameter {name!r} from {path}: {exc.strerror or exc}"
        return values, None

    def _missing_command(self, node_dir: Path, spec: ProcessSpec) -> str | None:
        """The command a shell reported as not found (exit code 127), from the container's log tail."""
        path = node_dir / f"{_SAFE.sub('_', spec.name or 'main')}.log"
        try:
            with path.open("rb") as fh:
                fh.seek(max(0, path.stat().st_size - 4096))
                tail = fh.read()
        except OSError:
            return None
        found = _NOT_FOUND.findall(tail)
        return found[-1].decode(errors="replace") if found else None

    def _isolation_failure(self, node_dir: Path, spec: ProcessSpec) -> str:
        path = node_dir / f"{_SAFE.sub('_', spec.name or 'main')}.log"
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.startswith("hookbus:")] if path.exists() else []
        return lines[-1] if lines else "hookbus: cannot isolate the node (the namespace set-up failed)"

    def _result(
        self,
        phase: str,
        exit_code: int | None,
        message: str,
        result: str | None,
        parameters: dict[str, str],
        log_path: Path | None,
        started: float,
    ) -> TaskResult:
        return TaskResult(
            phase=phase,
            exit_code=exit_code,
            message=message,
            result=result,
            parameters=parameters,
            log_path=str(log_path) if log_path is not None else None,
            started_at=started,
            finished_at=time.time(),
        )

    async def close(self) -> None:
        """Stop every node, kill every process still running and remove a temporary state dir. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await super().close()
        for proc in list(self._live):
            _signal_group(proc, signal.SIGKILL)
        for proc in list(self._live):
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _set_failure(failed: tuple[str, _Outcome] | None) -> _Outcome:
    """A container set's outcome from its first failed container, named as Argo names it."""
    if failed is None:
        return _Outcome(ERROR, None, "the container set's main container did not run")
    name, outcome = failed
    return replace(outcome, message=f"{name}: {outcome.message}")


def _open_log(node_dir: Path, spec: ProcessSpec) -> BinaryIO:
    """The container's log file, opened for appending (closed by ``_finish``).

    Readable by the controller's user only (0600): a node's output may hold what its
    secrets resolved to.
    """
    path = node_dir / f"{_SAFE.sub('_', spec.name or 'main')}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was there before, or the umask was wider
    return os.fdopen(fd, "ab")


def _make_dir(path: str) -> str:
    """Create a working directory if missing (Kubernetes does); returns *path*."""
    with contextlib.suppress(OSError):
        Path(path).mkdir(parents=True, exist_ok=True)
    return path


def _cannot_find(node_dir: Path, spec: ProcessSpec, exc: ExecutableNotFound, *, keep_stdout: bool) -> _Outcome:
    """Argo's outcome for a command that is not an executable file: the executor prints why to
    the container's log and exits 64, a ``Failed`` node. A missing command is also named as
    missing on this host, with the image it would come from."""
    with _open_log(node_dir, spec) as log_file:
        log_file.write(f"{exc}\n".encode(errors="replace"))
    message = f"Error (exit code {NOT_FOUND_EXIT_CODE}): {exc}"
    if exc.reason == NOT_IN_PATH or exc.reason.endswith(NO_SUCH_FILE):
        message += "; " + _unavailable(exc.command, spec.image)
    return _Outcome(FAILED, NOT_FOUND_EXIT_CODE, message, b"" if keep_stdout else None)


def _unavailable(command: str, image: str | None) -> str:
    where = f" (it is part of image {image})" if image else ""
    return f"command {command!r} is not available on this host{where}"


def _signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _pump(stream: asyncio.StreamReader, log_file: BinaryIO, keep: bytearray | None) -> None:
    write = log_file.write
    cap = RESULT_MAX_BYTES + 1
    while chunk := await stream.read(65536):
        write(chunk)
        if keep is not None:
            keep += chunk
            if len(keep) > cap:
                del keep[:-cap]
