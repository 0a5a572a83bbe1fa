"""A private filesystem view per node, for the local executor (Linux, root).

Argo templates write to absolute paths (``/tmp/hello_world.txt``,
``/mnt/out/part.json``, ``/result.txt``); two nodes running at once must not see
each other's files. Each node process therefore runs in its own mount
namespace (``unshare --mount``) whose root is a copy-on-write overlay of the
host's root filesystem: it reads the host's files, and everything it writes
lands in the node's ``upper`` directory on the host, where the executor reads
output parameters after the process exits. ``/proc``, ``/dev`` and ``/sys``
(and ``/run`` when it is a separate mount) are the host's (a sandboxed node mounts
a ``/proc`` of its own over it, see :mod:`.sandbox`). Other separate host
mounts (a tmpfs ``/tmp`` for instance) appear empty inside the node.

The set-up runs with the host's ``PATH``; the node's own ``PATH`` travels in
:data:`NODE_PATH_VAR` and is put in place just before the node's command runs.

With a *launcher* (the sandbox's, :func:`wrap`), the wrapper hides the given host
directories (an empty read-only tmpfs over each in the view) and hands over to the
launcher instead of ``chroot``: it makes the view the root of the node's own mount
namespace and runs the command as an unprivileged user.

Inside the node, the executor's helper commands (``argosay``, ...) are at
:data:`SHIM_DIR` and a script template's source at :data:`SCRIPT_PATH`, as
Argo places it.

When this is not possible (not Linux, not root, ``unshare``/``mount`` missing,
overlayfs refused) nodes run without isolation and the executor says why.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

SHIM_DIR: Final = "/var/lib/hookbus/bin"
"""Where the executor's helper commands appear inside an isolated node."""
SCRIPT_PATH: Final = "/argo/staging/script"
"""Where a script template's source appears inside an isolated node (Argo's path)."""
NODE_PATH_VAR: Final = "HOOKBUS_NODE_PATH"
"""Environment variable carrying the node's ``PATH`` through the set-up (removed before the command runs)."""
READY_MARK: Final = "isolation.ready"
"""File the wrapper creates in the node dir once the namespace is set up."""

ENTER: Final = 'PATH=$HOOKBUS_NODE_PATH; export PATH; unset HOOKBUS_NODE_PATH; mkdir -p "$1" 2>/dev/null; cd "$1" || exit 126; shift; exec "$@"'
"""The shell words run as the first program inside the node's view: the node's ``PATH``, its
working directory (created when missing, as Kubernetes does), then the command."""

_WRAPPER: Final = r"""
root=$1 upper=$2 work=$3 shims=$4 cwd=$5 binds=$6 ready=$7 volumes=$8 hidden=$9 launcher=${10} ENTER=${11}
shift 11
fail() { echo "hookbus: cannot isolate the node: $*" >&2; exit 125; }
mount -t overlay hookbus-node -o "lowerdir=/,upperdir=$upper,workdir=$work" "$root" || fail "overlay mount of / refused"
IFS=:
for dir in $binds; do
  mount --rbind "$dir" "$root$dir" || fail "cannot bind $dir"
done
unset IFS
mkdir -p "$root/var/lib/hookbus/bin" && mount --bind "$shims" "$root/var/lib/hookbus/bin" || fail "cannot bind the helper commands"
while [ "$volumes" -gt 0 ]; do
  mkdir -p "$root$2" && mount --bind "$1" "$root$2" || fail "cannot mount the volume at $2"
  shift 2
  volumes=$((volumes - 1))
done
IFS=:
for dir in $hidden; do
  if [ -d "$root$dir" ]; then mount -t tmpfs -o ro,size=4k,mode=0755 hookbus-hidden "$root$dir" || fail "cannot hide $dir"; fi
done
unset IFS
[ "$launcher" = 1 ] && exec "$@"  # the sandbox launcher, which chroots and creates $ready itself
: > "$ready"
exec chroot "$root" /bin/sh -c "$ENTER" hookbus-node "$cwd" "$@"
"""



@dataclass(frozen=True, slots=True)
class Layout:
    """The host directories of one isolated process."""

    root: Path
    """Mount point of the overlay (empty directory)."""
    upper: Path
    """Everything the process writes, at its absolute path below this directory."""
    work: Path
    """overlayfs work directory (same filesystem as ``upper``)."""

    @classmethod
    def under(cls, base: Path) -> Layout:
        """Create the directories below *base* and return them."""
        layout = cls(base / "root", base / "upper", base / "work")
        for path in (layout.root, layout.upper, layout.work):
            path.mkdir(parents=True, exist_ok=True)
        return layout

    def host_path(self, path: str) -> Path:
        """Where a file the process wrote at absolute *path* is on the host."""
        return self.upper / path.lstrip("/")


def bind_mounts() -> tuple[str, ...]:
    """Host mounts shared into every node: ``/proc``, ``/dev``, ``/sys`` and ``/run`` if separate."""
    binds = ["/proc", "/dev", "/sys"]
    if os.path.ismount("/run"):
        binds.append("/run")
    return tuple(binds)


def wrap(
    argv: tuple[str, ...],
    layout: Layout,
    *,
    shims: Path,
    cwd: str,
    ready: Path,
    binds: tuple[str, ...],
    volumes: Mapping[str, str] | None = None,
    hidden: tuple[str, ...] = (),
    launcher: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """The host command that runs *argv* isolated in *layout*, in directory *cwd*.

    *volumes* maps a mount path inside the node to the host directory mounted there.
    *hidden* directories of the host appear empty (and read-only) in the node's view.
    *launcher* (the sandbox, :mod:`.sandbox`) is the program that chroots into the view
    and runs the command (its words end with ``--``); without it, ``chroot`` does, as the
    host's root.
    """
    pairs = [part for inside, host in (volumes or {}).items() for part in (host, inside)]
    tail = (*launcher, "/bin/sh", "-c", ENTER, "hookbus-node", cwd, *argv) if launcher else argv
    return (
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        _WRAPPER,
        "hookbus-isolate",
        str(layout.root),
        str(layout.upper),
        str(layout.work),
        str(shims),
        cwd,
        ":".join(binds),
        str(ready),
        str(len(pairs) // 2),
        ":".join(hidden),
        "1" if launcher else "0",
        ENTER,
        *pairs,
        *tail,
    )


def missing_requirements() -> str | None:
    """Why isolation cannot work on this host, or ``None`` if it may (the probe decides)."""
    if not sys.platform.startswith("linux"):
        return f"mount namespaces need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"mount namespaces and overlay mounts need root (the controller runs as uid {os.geteuid()})"
    for tool in ("unshare", "mount", "chroot"):
        if shutil.which(tool) is None:
            return f"the {tool!r} command (util-linux/coreutils) is not installed"
    if not Path("/bin/sh").exists():
        return "/bin/sh is missing"
    return None


async def probe(base: Path, shims: Path) -> str | None:
    """Try an isolated process once; ``None`` if isolation works, else why not."""
    reason = missing_requirements()
    if reason:
        return reason
    shutil.rmtree(base, ignore_errors=True)
    layout = Layout.under(base)
    marker = f"/tmp/hookbus-isolation-probe-{os.getpid()}"
    ready = base / READY_MARK
    argv = wrap(
        ("/bin/sh", "-c", f"echo probe > {marker}"),
        layout,
        shims=shims,
        cwd="/",
        ready=ready,
        binds=bind_mounts(),
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, NODE_PATH_VAR: os.environ.get("PATH", "/usr/bin:/bin")},
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    except (OSError, TimeoutError) as exc:
        return f"the isolation probe could not run: {exc or type(exc).__name__}"
    return _check_probe(proc.returncode, err, marker, layout, base)


def _check_probe(code: int | None, err: bytes, marker: str, layout: Layout, base: Path) -> str | None:
    try:
        if code != 0:
            detail = err.decode(errors="replace").strip().splitlines()
            return f"the isolation probe failed (exit code {code}): {detail[-1] if detail else 'no message'}"
        if Path(marker).exists():
            Path(marker).unlink()
            return "a file written inside the probe appeared on the host: the overlay does not isolate"
        if not layout.host_path(marker).is_file():
            return "a file written inside the probe was not found in its overlay directory"
        return None
    finally:
        shutil.rmtree(base, ignore_errors=True)


def view_path(path: str, layout: Layout | None, volumes: Mapping[str, str]) -> Path:
    """Where the file a node sees at absolute *path* is on the host: in a volume, in what the
    node wrote, else the host's own file (the lower layer of its view)."""
    if layout is None:
        return Path(path)
    mapped = host_of(path, layout, volumes)
    if mapped != layout.host_path(path) or os.path.lexists(mapped):
        return mapped
    return Path(path)


def place_helpers(helpers: tuple[tuple[str, str], ...], layout: Layout) -> None:
    """Put the image's helper files (``/argosay``) in an isolated node's view, as links to the helpers."""
    for inside, name in helpers:
        target = layout.host_path(inside)
        if not os.path.lexists(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(f"{SHIM_DIR}/{name}")


def host_of(path: str, layout: Layout | None, volumes: Mapping[str, str]) -> Path:
    """Where absolute *path* of an isolated node is on the host: in a volume mounted over it, else in its view."""
    if layout is None:
        return Path(path)  # not isolated: the host's own path (volumes are not applied)
    for inside in sorted(volumes, key=len, reverse=True):
        base = inside.rstrip("/") or "/"
        if path == base or path.startswith(base.rstrip("/") + "/"):
            return Path(volumes[inside]) / path[len(base) :].lstrip("/")
    return layout.host_path(path)
