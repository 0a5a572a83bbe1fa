"""The last step of a sandboxed node's start: new namespaces, an unprivileged user, limits.

This file runs as a program of its own (``python -I -S sandbox_exec.py CONFIG -- ARGV``),
started by the isolation wrapper (:mod:`.isolation`) as the host's root, inside the node's
private mount namespace once the node's view of the filesystem is mounted at ``root``.
It imports only a few built-in modules (it starts once per container: no ``json``,
``signal`` or ``platform``, whose imports cost more than the rest). *CONFIG* is a dict in
``marshal`` form, hex-encoded (see :func:`hookbus.controller.executors.sandbox.launcher_argv`):

``root``
    the node's view of ``/`` (the overlay mount point); the command runs chrooted there.
``uid_base``, ``id_count``
    the host uids and gids ``uid_base .. uid_base + id_count - 1`` are the node's
    ``0 .. id_count - 1`` (a user namespace, as rootless containers have).
``uid``, ``gid``, ``groups``
    the user the command runs as, inside that range.
``caps``
    capability numbers a command running as uid 0 keeps (all others are dropped from
    every set and from the bounding set); any other uid has none.
``cgroups``
    ``cgroup.procs`` files the node's processes join (memory and cpu limits).
``hostname``
    the node's host name (its own UTS namespace).
``network``
    ``"host"`` keeps the host's network; ``"none"`` gives the container a network
    namespace of its own with only its loopback interface (up).
``read_only_root``
    ``/`` of the view is read-only (``securityContext.readOnlyRootFilesystem``; volumes
    stay as they are).
``ready``
    the file created once the command was exec'ed (the set-up succeeded).

Three processes: this one (the *monitor*, the host's root, outside the node's cgroups
and namespaces) creates new PID, IPC and UTS namespaces and forks the node's *init*;
init (PID 1 of the node) joins the cgroups, mounts a ``/proc`` of its own PID namespace,
makes the view the root of its mount namespace (``pivot_root``, the host's tree detached),
enters a new user namespace whose uid/gid maps the monitor writes, becomes the node's
root (host uid ``uid_base``) and forks the *command*, which takes the node's user,
drops capabilities, sets ``no_new_privs`` and execs ARGV. Init reaps orphans and exits with the command's status
(a signal N as 128+N); the monitor exits with init's. A set-up failure prints one line
``hookbus: cannot sandbox the node: ...`` on stderr and exits 125.
"""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # the C module: ``signal`` imports ``enum``
import ctypes
import marshal
import os
import sys

TYPE_CHECKING = False  # ``typing`` is not imported at run time (it imports ``re``)
if TYPE_CHECKING:
    from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
_SIOCSIFFLAGS = 0x8914
_IFF_UP, _IFF_LOOPBACK, _IFF_RUNNING = 0x1, 0x8, 0x40
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
"""The pivot_root system call's number by machine (glibc has no wrapper)."""
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
CAP_LAST = 40
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
FAIL_CODE = 125

_libc = ctypes.CDLL(None, use_errno=True)
_report_fd = -1
"""Write end of the pipe that tells the monitor the set-up failed (closed at exec: it worked)."""


def _fail(what: str) -> NoReturn:
    os.write(2, f"hookbus: cannot sandbox the node: {what}\n".encode(errors="replace"))
    if _report_fd >= 0:
        os.write(_report_fd, b"f")
    os._exit(FAIL_CODE)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        _fail(f"{what}: {os.strerror(err)}")


def _unshare(flags: int, what: str) -> None:
    _check(_libc.unshare(flags), what)


def _mount(source: str, target: str, fstype: str | None, flags: int, what: str) -> None:
    _check(
        _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, None),
        what,
    )


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_caps(keep: list[int]) -> None:
    """Keep only *keep* (effective, permitted; bounding set too); inheritable and ambient empty."""
    for cap in range(CAP_LAST + 1):
        if cap not in keep:
            _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL for caps this kernel lacks
    mask = 0
    for cap in keep:
        mask |= 1 << cap
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        part = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = part
        data[i].permitted = part
        data[i].inheritable = 0
    _check(_libc.capset(ctypes.byref(header), data), "cannot drop capabilities")


def _status_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _wait_for(child: int) -> int:
    """Reap every child (init's orphans too) until *child* ended; its exit status."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child:
            return _status_code(status)


def _command(config: dict[str, Any], argv: list[str]) -> NoReturn:
    """The node's command: the node's user, no capabilities beyond the kept ones, exec."""
    try:
        os.setgroups([int(g) for g in config["groups"]])
        os.setresgid(config["gid"], config["gid"], config["gid"])
        if config["uid"] == 0:
            os.setresuid(0, 0, 0)
            _drop_caps([int(c) for c in config["caps"]])
        else:
            os.setresuid(config["uid"], config["uid"], config["uid"])  # clears every capability
            _drop_caps([])
    except OSError as exc:
        _fail(f"cannot take the node's user: {exc.strerror or exc}")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "cannot set no_new_privs")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        _fail(f"cannot run {argv[0]!r}: {exc.strerror or exc}")


def _loopback_up() -> None:
    """Bring up ``lo`` in the node's own network namespace (``SIOCSIFFLAGS``, ``IFF_UP``)."""
    import fcntl  # here: only a container without network needs them (start-up time)
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            request = struct.pack("16sH14x", b"lo", _IFF_UP | _IFF_LOOPBACK | _IFF_RUNNING)
            fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, request)
        except OSError as exc:
            _fail(f"cannot bring up the loopback interface: {exc.strerror or exc}")


def _pivot(root: str) -> None:
    """Make *root* the root of the node's mount namespace and drop the host's (``pivot_root``):
    unlike a ``chroot``, nothing of the host's tree is left to escape to."""
    machine = os.uname().machine
    number = _PIVOT_ROOT.get(machine)
    if number is None:
        _fail(f"pivot_root is not known on {machine}")
    try:
        os.chdir(root)
    except OSError as exc:
        _fail(f"cannot enter the node's view: {exc.strerror or exc}")
    _check(_libc.syscall(number, b".", b"."), "pivot_root refused")
    _check(_libc.umount2(b".", MNT_DETACH), "cannot detach the host's root")
    os.chdir("/")


def _init(config: dict[str, Any], argv: list[str], ready_w: int, go_r: int) -> NoReturn:
    """PID 1 of the node: cgroups, /proc, user namespace, then the command; reaps and reports."""
    global _report_fd
    try:
        for procs in config["cgroups"]:
            with open(procs, "w") as fh:
                fh.write("0")
    except OSError as exc:
        _fail(f"cannot join the node's cgroup: {exc.strerror or exc}")
    root = config["root"]
    _unshare(CLONE_NEWNS, "cannot create the node's mount namespace")  # the monitor keeps the host's view
    _mount("none", f"{root}/proc", None, MS_REC | MS_PRIVATE, "cannot make /proc private")
    _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "cannot mount /proc")
    if config.get("read_only_root"):
        _mount("none", root, None, MS_REMOUNT | MS_BIND | MS_RDONLY, "cannot make / read-only")
    _pivot(root)
    if config.get("network") == "none":
        _loopback_up()
    if config.get("hostname"):
        _check(_libc.sethostname(config["hostname"].encode(), len(config["hostname"].encode())), "cannot set the host name")
    _unshare(CLONE_NEWUSER, "cannot create a user namespace")
    os.write(ready_w, b"u")
    os.close(ready_w)
    if os.read(go_r, 1) != b"g":
        _fail("the user namespace was not mapped")
    os.close(go_r)
    try:  # from now on init too is the node's root, an unprivileged uid on the host
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as exc:
        _fail(f"cannot become the node's root: {exc.strerror or exc}")
    signal.signal(signal.SIGTERM, lambda *_: None)  # the command gets the group's signals itself
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGHUP, lambda *_: None)
    child = os.fork()
    if child == 0:
        _command(config, argv)
    os.close(_report_fd)
    _report_fd = -1
    _drop_caps([])  # init only waits from now on: nothing for the command to take over
    os._exit(_wait_for(child))


def main(args: list[str]) -> NoReturn:
    """Run ARGV sandboxed as CONFIG says (see the module docstring)."""
    global _report_fd
    if len(args) < 3 or args[1] != "--":
        _fail("usage: sandbox_exec.py CONFIG -- ARGV")
    config: dict[str, Any] = marshal.loads(bytes.fromhex(args[0]))
    argv = args[2:]
    flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if config.get("network") == "none":
        flags |= CLONE_NEWNET
    _unshare(flags, "cannot create the node's namespaces")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    report_r, _report_fd = os.pipe2(os.O_CLOEXEC)
    signal.signal(signal.SIGTERM, lambda *_: None)  # killed with the group's SIGKILL; init reports
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGHUP, lambda *_: None)
    init = os.fork()
    if init == 0:
        os.close(ready_r)
        os.close(go_w)
        os.close(report_r)
        _init(config, argv, ready_w, go_r)
    os.close(ready_w)
    os.close(go_r)
    os.close(_report_fd)
    _report_fd = -1
    if os.read(ready_r, 1) == b"u":
        base, count = int(config["uid_base"]), int(config["id_count"])
        try:
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{init}/{name}", "w") as fh:
                    fh.write(f"0 {base} {count}\n")
        except OSError as exc:
            os.kill(init, signal.SIGKILL)
            _fail(f"cannot map the node's user namespace: {exc.strerror or exc}")
        os.write(go_w, b"g")
    os.close(go_w)
    os.close(ready_r)
    if os.read(report_r, 1) == b"" and config.get("ready"):
        with open(config["ready"], "w"):
            pass  # the command was exec'ed: what fails now is the node's own failure
    os.close(report_r)
    os._exit(_wait_for(init))


if __name__ == "__main__":
    main(sys.argv[1:])
