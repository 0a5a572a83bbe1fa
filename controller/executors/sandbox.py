"""The sandbox of an isolated node: who it runs as, what it may do, how much it may use.

An isolated node (:mod:`.isolation`) already has its own mount namespace and a
copy-on-write view of ``/``. The sandbox adds, through :mod:`.sandbox_exec`:

- a user namespace: the node's uids and gids ``0 .. 65535`` are the host's
  ``uid_base .. uid_base + 65535`` (``100000`` by default), so a step that is root
  inside (what Argo's images expect) is an unprivileged user on the host;
- ``securityContext.runAsUser``/``runAsGroup``/``runAsNonRoot`` (container over pod),
  refusing what cannot be honoured (:class:`Refused`);
- new PID, IPC and UTS namespaces (the controller's processes are not in the node's
  ``/proc``), ``no_new_privs``, every capability but Docker's default set dropped (all
  of them for a non-root user), and those capabilities only count inside the user
  namespace;
- ``resources.limits.memory``/``cpu`` as a cgroup per container (:class:`NodeCgroup`):
  a container over its memory limit is killed (``OOMKilled (exit code 137)``).

The executor's state directory is hidden in the node's view (an empty read-only
directory), so a step reaches neither other nodes' files nor the controller's.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog

from . import isolation
from .images import CommandError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .base import ProcessSpec, TaskSpec

log = structlog.get_logger(__name__)

UID_BASE: Final = 100_000
"""First host uid (and gid) of the nodes' user namespaces: the node's 0 is this uid."""
ID_COUNT: Final = 65_536
"""How many uids and gids a node's user namespace maps."""
OOM_MESSAGE: Final = "OOMKilled (exit code 137)"
"""Argo's message for a container the kernel killed for using more than its memory limit."""
LAUNCHER: Final = Path(__file__).with_name("sandbox_exec.py")
DEFAULT_CAPS: Final = (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)
"""Capabilities a container running as root keeps (Docker's default set, by number):
CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE,
NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP; they apply inside the user namespace only."""
CAP_NAMES: Final = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7,
    "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18, "MKNOD": 27,
    "AUDIT_WRITE": 29, "SETFCAP": 31,
}
_SKIP_TOP: Final = frozenset({"proc", "dev", "sys", "run", "lost+found"})
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:([eE][0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|m))?$")
_SUFFIX: Final = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 10**-3,
}
_CGROUP_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_UNHONOURED: Final = ("seLinuxOptions", "windowsOptions", "appArmorProfile", "procMount", "sysctls")


class Refused(ValueError):
    """A container asks for what the sandbox cannot honour (the node ends ``Error``)."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """The user a container runs as, inside its user namespace."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: tuple[int, ...] = DEFAULT_CAPS
    """Capability numbers kept (by a uid 0 only)."""
    read_only_root: bool = False


def quantity(text: object, what: str) -> float:
    """A Kubernetes quantity (``16Mi``, ``1G``, ``500m``, ``0.5``) as a number; :class:`Refused` if malformed."""
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        raise Refused(f"{what}: {text!r} is not a quantity (e.g. 64Mi, 1G, 500m)")
    number = float(match.group(1))
    if match.group(2):
        return number * 10.0 ** int(match.group(2)[1:])
    return number * float(_SUFFIX[match.group(3)]) if match.group(3) else number


@dataclass(frozen=True, slots=True)
class Limits:
    """A container's ``resources.limits`` the sandbox enforces."""

    memory: int | None = None
    """Bytes."""
    cpu: float | None = None
    """CPUs (``500m`` is 0.5)."""

    @classmethod
    def of(cls, resources: Mapping[str, Any] | None, container: str) -> Limits:
        """The ``limits`` of *resources* (``requests`` are not enforced); :class:`Refused` if malformed."""
        limits = (resources or {}).get("limits") or {}
        memory = cpu = None
        if limits.get("memory") is not None:
            memory = int(quantity(limits["memory"], f"container {container!r}: resources.limits.memory"))
            if memory < 4096:
                raise Refused(f"container {container!r}: resources.limits.memory {limits['memory']} is below one page")
        if limits.get("cpu") is not None:
            cpu = quantity(limits["cpu"], f"container {container!r}: resources.limits.cpu")
            if cpu <= 0:
                raise Refused(f"container {container!r}: resources.limits.cpu must be more than 0")
        return cls(memory, cpu)

    def __bool__(self) -> bool:
        return self.memory is not None or self.cpu is not None


def run_as(container: str, security: Mapping[str, Any] | None, pod: Mapping[str, Any] | None) -> RunAs:
    """The user of *container* from its ``securityContext`` over the pod's; :class:`Refused` when
    it asks for what cannot be honoured (a uid outside the namespace, ``privileged``, added
    capabilities beyond the default set, SELinux/AppArmor/seccomp profiles, ...)."""
    sc = {**(pod or {}), **(security or {})}
    where = f"container {container!r}: securityContext"
    for key in _UNHONOURED:
        if sc.get(key):
            raise Refused(f"{where}.{key} cannot be honoured by the local sandbox")
    seccomp = (sc.get("seccompProfile") or {}).get("type")
    if seccomp and seccomp != "Unconfined":
        raise Refused(f"{where}.seccompProfile {seccomp} cannot be honoured: the local sandbox has no seccomp filter")
    if sc.get("privileged"):
        raise Refused(f"{where}.privileged is refused: local steps never run privileged")
    uid = _id(sc.get("runAsUser"), f"{where}.runAsUser", 0)
    gid = _id(sc.get("runAsGroup"), f"{where}.runAsGroup", 0)
    if sc.get("runAsNonRoot") and uid == 0:
        if sc.get("runAsUser") is None:
            raise Refused(f"{where}: container has runAsNonRoot and image will run as root")
        raise Refused(f"{where}: container's runAsUser breaks non-root policy")
    groups = tuple(_id(g, f"{where}.supplementalGroups", 0) for g in sc.get("supplementalGroups") or ())
    if sc.get("fsGroup") is not None:
        groups = (*groups, _id(sc["fsGroup"], f"{where}.fsGroup", 0))
    wanted = sc.get("capabilities") or {}
    added = [str(n).upper().removeprefix("CAP_") for n in wanted.get("add") or ()]
    for name in added:
        if name not in CAP_NAMES:
            raise Refused(f"{where}.capabilities.add {name} is refused: local steps keep at most Docker's default capabilities")
    dropped = {str(n).upper().removeprefix("CAP_") for n in wanted.get("drop") or ()}
    kept = () if "ALL" in dropped else tuple(c for c in DEFAULT_CAPS if c not in {CAP_NAMES.get(n) for n in dropped})
    caps = tuple(sorted({*kept, *(CAP_NAMES[n] for n in added)}))
    return RunAs(uid, gid, tuple(sorted(set(groups))), caps, bool(sc.get("readOnlyRootFilesystem")))


def _id(value: object, what: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) and not (isinstance(value, str) and value.isdigit()):
        raise Refused(f"{what}: {value!r} is not a number")
    number = int(value)
    if not 0 <= number < ID_COUNT:
        raise Refused(f"{what} {number} cannot be honoured: local steps have the ids 0-{ID_COUNT - 1}")
    return number


def unsandboxed_refusal(container: str, security: Mapping[str, Any] | None, pod: Mapping[str, Any] | None) -> str | None:
    """Why *container*'s ``securityContext`` cannot be honoured without the sandbox, or ``None``.

    Without the sandbox a step runs as the controller's user: ``runAsUser``/``runAsGroup`` other
    than that, and ``runAsNonRoot`` when that is root, are refused (never silently ignored)."""
    sc = {**(pod or {}), **(security or {})}
    where = f"container {container!r}: securityContext"
    if sc.get("privileged"):
        return f"{where}.privileged is refused: local steps never run privileged"
    uid, gid = os.geteuid(), os.getegid()
    if sc.get("runAsUser") is not None and str(sc["runAsUser"]) != str(uid):
        return f"{where}.runAsUser {sc['runAsUser']} cannot be honoured without the sandbox (steps run as uid {uid})"
    if sc.get("runAsGroup") is not None and str(sc["runAsGroup"]) != str(gid):
        return f"{where}.runAsGroup {sc['runAsGroup']} cannot be honoured without the sandbox (steps run as gid {gid})"
    if sc.get("runAsNonRoot") and uid == 0:
        return f"{where}.runAsNonRoot cannot be honoured without the sandbox: steps run as the controller's root"
    return None


def launcher_argv(
    root: Path,
    who: RunAs,
    *,
    uid_base: int,
    cgroups: Iterable[str],
    hostname: str,
    network: str,
    ready: Path,
) -> tuple[str, ...]:
    """The words that start :mod:`.sandbox_exec` for one container (they end with ``--``)."""
    config = {
        "root": str(root),
        "uid_base": uid_base,
        "id_count": ID_COUNT,
        "uid": who.uid,
        "gid": who.gid,
        "groups": list(who.groups),
        "caps": list(who.caps),
        "cgroups": list(cgroups),
        "hostname": hostname[:63],
        "network": network,
        "ready": str(ready),
        "read_only_root": who.read_only_root,
    }
    return (os.path.realpath(sys.executable), "-I", "-S", str(LAUNCHER), marshal.dumps(config).hex(), "--")


def own_view(upper: Path, uid_base: int) -> None:
    """Make the node's root able to write where Argo's images let root write.

    overlayfs checks permissions against a directory's owner in the upper layer when it
    has one: the top-level directories of ``/`` (and ``/`` itself) are created in *upper*
    with the host's modes, owned by the node's root, so a step may create ``/result.txt``
    or ``/mnt/out`` (a separately mounted ``/tmp`` appears empty, with its mode); files the host has stay the host's (the node may read, not change,
    them). Everything the executor placed in *upper* before (inputs, scripts) is given to
    the node's root too.
    """
    for current, dirs, files in os.walk(upper):
        for name in (*dirs, *files):
            _give(Path(current) / name, uid_base)
    _give(upper, uid_base, Path("/"))
    try:
        entries = list(os.scandir("/"))
    except OSError:
        return
    for entry in entries:
        if entry.name in _SKIP_TOP or not entry.is_dir(follow_symlinks=False):
            continue  # (a link such as /bin -> usr/bin stays the host's link)
        target = upper / entry.name
        if not os.path.lexists(target):
            target.mkdir()
        _give(target, uid_base, Path(entry.path))


def _give(path: Path, uid_base: int, like: Path | None = None) -> None:
    """Chown *path* to the node's ids of its owner (or of *like*'s, whose mode it also takes)."""
    try:
        st = os.lstat(like or path)
        uid = uid_base + st.st_uid if st.st_uid < ID_COUNT else uid_base
        gid = uid_base + st.st_gid if st.st_gid < ID_COUNT else uid_base
        os.lchown(path, uid, gid)
        if like is not None:
            os.chmod(path, st.st_mode & 0o7777)
    except OSError:
        pass


def own_volume(path: Path, uid_base: int) -> None:
    """Give a directory the executor made for a volume (``emptyDir``, a claim) to the node's root."""
    try:
        st = os.lstat(path)
        if st.st_uid == os.geteuid() and st.st_uid < uid_base:
            os.lchown(path, uid_base + st.st_uid if st.st_uid < ID_COUNT else uid_base, uid_base + st.st_gid if st.st_gid < ID_COUNT else uid_base)
    except OSError:
        pass


class NodeCgroup:
    """One container's cgroup (cgroup v1 memory/cpu controllers, or v2), with its limits."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        """Controller name (``memory``, ``cpu``, ``unified``) -> the cgroup's directory."""

    @property
    def procs(self) -> list[str]:
        """The ``cgroup.procs`` files the container's processes join."""
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    @classmethod
    def create(cls, name: str, limits: Limits) -> NodeCgroup:
        """A cgroup named *name* below this process's own, with *limits*; OSError when impossible."""
        dirs: dict[str, Path] = {}
        made = cls(dirs)
        try:
            v2 = _v2_root()
            if v2 is not None:
                path = v2 / "hookbus" / name
                path.mkdir(parents=True, exist_ok=True)
                dirs["unified"] = path
                if limits.memory is not None:
                    (path / "memory.max").write_text(str(limits.memory))
                    _maybe_write(path / "memory.swap.max", "0")
                if limits.cpu is not None:
                    (path / "cpu.max").write_text(f"{int(limits.cpu * 100_000)} 100000")
                return made
            if limits.memory is not None:
                path = _v1_root("memory") / "hookbus" / name
                path.mkdir(parents=True, exist_ok=True)
                dirs["memory"] = path
                (path / "memory.limit_in_bytes").write_text(str(limits.memory))
                _maybe_write(path / "memory.memsw.limit_in_bytes", str(limits.memory))
                _maybe_write(path / "memory.swappiness", "0")
            if limits.cpu is not None:
                path = _v1_root("cpu") / "hookbus" / name
                path.mkdir(parents=True, exist_ok=True)
                dirs["cpu"] = path
                (path / "cpu.cfs_period_us").write_text("100000")
                (path / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpu * 100_000))))
        except OSError:
            made.remove()
            raise
        return made

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for its memory limit."""
        for key in ("unified", "memory"):
            path = self.dirs.get(key)
            if path is None:
                continue
            name = "memory.events" if key == "unified" else "memory.oom_control"
            try:
                for line in (path / name).read_text().splitlines():
                    field, _, value = line.partition(" ")
                    if field == "oom_kill" and int(value) > 0:
                        return True
            except (OSError, ValueError):
                continue
        return False

    def remove(self) -> None:
        """Remove the cgroup (its processes have ended). Idempotent."""
        for path in self.dirs.values():
            try:
                path.rmdir()
            except OSError:
                pass


def _maybe_write(path: Path, value: str) -> None:
    if path.exists():
        try:
            path.write_text(value)
        except OSError:
            pass


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path for *controller* (``""``: the v2 hierarchy)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return path
    raise OSError(f"no {controller or 'unified'} cgroup for this process")


def _v2_root() -> Path | None:
    """The v2 cgroup directory of this process when the memory controller is there."""
    base = Path("/sys/fs/cgroup")
    if not (base / "cgroup.controllers").exists():
        return None
    if "memory" not in (base / "cgroup.controllers").read_text().split():
        return None
    return base / _own_cgroup("").lstrip("/")


def _v1_root(controller: str) -> Path:
    mount = Path("/sys/fs/cgroup") / controller
    if not mount.is_dir():
        raise OSError(f"the cgroup v1 {controller} controller is not mounted at {mount}")
    return mount / _own_cgroup(controller).lstrip("/")


def cgroups_available(memory: bool = True) -> str | None:
    """Why containers cannot get cgroup limits here, or ``None`` when they can."""
    try:
        probe = NodeCgroup.create(f"probe-{os.getpid()}", Limits(64 * 2**20 if memory else None, 1.0))
    except OSError as exc:
        return f"cannot create a cgroup: {exc.strerror or exc}"
    probe.remove()
    return None


async def probe(base: Path, shims: Path, *, uid_base: int, binds: tuple[str, ...]) -> str | None:
    """Run one sandboxed process; ``None`` if the sandbox works, else why not."""
    reason = missing_requirements()
    if reason:
        return reason
    shutil.rmtree(base, ignore_errors=True)
    layout = isolation.Layout.under(base)
    own_view(layout.upper, uid_base)
    ready = base / "sandbox.ready"
    launcher = launcher_argv(layout.root, RunAs(), uid_base=uid_base, cgroups=(), hostname="probe", network="host", ready=ready)
    argv = isolation.wrap(
        ("/bin/sh", "-c", "echo probe > /hookbus-sandbox-probe"),
        layout, shims=shims, cwd="/", ready=ready, binds=binds, launcher=launcher,
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, isolation.NODE_PATH_VAR: os.environ.get("PATH", "/usr/bin:/bin")},
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    except (OSError, TimeoutError) as exc:
        return f"the sandbox probe could not run: {exc or type(exc).__name__}"
    try:
        if proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            return f"the sandbox probe failed (exit code {proc.returncode}): {lines[-1] if lines else 'no message'}"
        written = layout.host_path("/hookbus-sandbox-probe")
        if not written.is_file() or written.stat().st_uid != uid_base:
            return f"a file the probe wrote as the node's root is not owned by host uid {uid_base}"
        return None
    finally:
        shutil.rmtree(base, ignore_errors=True)


def missing_requirements() -> str | None:
    """Why the sandbox cannot work here beyond isolation's own needs, or ``None`` if it may."""
    if not Path("/proc/self/uid_map").exists():
        return "this kernel has no user namespaces"
    if not Path(LAUNCHER).is_file():
        return f"the sandbox launcher {LAUNCHER} is missing"
    if shutil.which("sh") is None:
        return "no sh on the PATH"
    return None


class Sandbox:
    """The local executor's sandbox: decided once, then asked per node and per container.

    *wanted*: ``None`` sandboxes isolated nodes when the host allows it (else warns once),
    ``True`` requires it (a node that cannot have it ends ``Error``), ``False`` turns it off.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        wanted: bool | None = None,
        uid_base: int = UID_BASE,
        network: str = "host",
        hidden: tuple[str, ...] = (),
    ) -> None:
        if network not in ("host", "none"):
            raise ValueError(f"sandbox network must be 'host' or 'none', not {network!r}")
        if not 0 < uid_base <= 2**32 - 1 - ID_COUNT:
            raise ValueError(f"sandbox uid base {uid_base} is not a usable host uid")
        self.state_dir = state_dir
        self.wanted = wanted
        self.uid_base = uid_base
        self.network = network
        self.hidden = (str(state_dir), *hidden)
        """Host directories shown empty and read-only in every sandboxed node's view."""
        self.enabled: bool | None = None
        """Whether isolated nodes run sandboxed (``None`` until decided)."""
        self.note = "not decided yet"
        """Why nodes do or do not run sandboxed."""
        self.limits_note: str | None = "not decided yet"
        """Why ``resources.limits`` cannot be enforced (``None``: they are)."""

    async def decide(self, not_isolated: str | None, shims: Path, binds: tuple[str, ...]) -> None:
        """Probe once (*not_isolated*: why nodes do not run isolated, ``None`` when they do)."""
        if self.wanted is False:
            self.enabled, self.note = False, "the sandbox is turned off in the executor settings"
        elif not_isolated is not None:
            self.enabled, self.note = False, f"nodes do not run isolated: {not_isolated}"
        else:
            reason = await probe(self.state_dir / "sandbox-probe", shims, uid_base=self.uid_base, binds=binds)
            self.enabled = reason is None
            self.note = reason or f"nodes run in user, PID, IPC and UTS namespaces as host uids from {self.uid_base}"
        self.limits_note = cgroups_available() if self.enabled else "the sandbox is off"
        if not self.enabled:
            log.warning(
                "local executor runs nodes WITHOUT the sandbox: steps run as the controller's user",
                reason=self.note,
                required=bool(self.wanted),
            )
        elif self.limits_note is not None:
            log.warning("local executor cannot enforce resources.limits: nodes that set them fail", reason=self.limits_note)

    def refusal(self, task: TaskSpec) -> str | None:
        """Why a container of *task* cannot run as its ``securityContext``/``resources`` say."""
        if self.wanted is True and not self.enabled:
            return f"the sandbox is required but impossible: {self.note}"
        for spec in (*task.init, *task.sidecars, task.main):
            if not self.enabled:
                refusal = unsandboxed_refusal(spec.name, spec.security_context, task.pod_security_context)
                if refusal is not None:
                    return f"{refusal} ({self.note})"
                continue
            try:
                run_as(spec.name, spec.security_context, task.pod_security_context)
                limits = Limits.of(spec.resources, spec.name)
            except Refused as exc:
                return str(exc)
            if limits and self.limits_note is not None:
                return f"container {spec.name!r}: resources.limits cannot be enforced here: {self.limits_note}"
        return None

    def give(self, layout: isolation.Layout | None, volumes: Mapping[str, str], created: set[str]) -> None:
        """Let the node's root write its view and the volume directories hookbus made (in the
        state directory, or *created* for this node); other host directories keep their owner."""
        if layout is None or not self.enabled:
            return
        own_view(layout.upper, self.uid_base)
        for host in volumes.values():
            if host in created or Path(host).is_relative_to(self.state_dir):
                own_volume(Path(host), self.uid_base)

    def launcher(
        self, task: TaskSpec, spec: ProcessSpec, root: Path, ready: Path
    ) -> tuple[tuple[str, ...], NodeCgroup | None]:
        """The launcher words for *spec* (none without the sandbox) and its cgroup (with limits only).

        Raises :class:`~.images.CommandError` when the cgroup cannot be made."""
        if not self.enabled:
            return (), None
        who = run_as(spec.name, spec.security_context, task.pod_security_context)
        limits = Limits.of(spec.resources, spec.name)
        cgroup = None
        if limits:
            name = _CGROUP_SAFE.sub("_", f"{task.namespace}.{task.workflow}.{task.node_id}.{spec.name}")
            try:
                cgroup = NodeCgroup.create(name, limits)
            except OSError as exc:
                raise CommandError(f"cannot limit container {spec.name!r}: {exc.strerror or exc}") from exc
        words = launcher_argv(
            root, who, uid_base=self.uid_base, cgroups=cgroup.procs if cgroup else (),
            hostname=task.node_id, network=self.network, ready=ready,
        )
        return words, cgroup
