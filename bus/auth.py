"""Identities on the bus: roles, their credentials files and the nats-server permissions.

Every client of a hookbus NATS server connects as one identity, and the server's
permissions decide what it may publish and subscribe to:

==============  =============================================================================
identity        may
==============  =============================================================================
controller      everything (it owns the workflow store, the registry and the streams)
user            the control API (every ``hookbus.control.v1.workflow.*`` verb and
                ``plugin.list``), read the event and progress streams
reader          the reading control verbs (list, get, watch, logs, plugin.list), read events
events          read the event and progress streams only
plugin-NAME     answer its own hook subjects, reply only to requests it received, write its
                own registration keys, report the end of nodes it took over
==============  =============================================================================

Each identity has its own inbox prefix (``_INBOX.<user>``) and may subscribe only
under it, so nobody reads another identity's replies. Nobody but the controller
writes workflow state, the registry's other keys or the streams.

A credentials file is a small JSON map (``user``, ``password``, ``inbox_prefix``,
``role``) written 0600; :func:`load_credentials` reads it, and
:func:`hookbus.bus.connection.connect_options` accepts it wherever a NATS ``.creds``
file is accepted. :class:`AuthDir` keeps the identities of one server in a 0700
folder and writes the server's ``authorization`` configuration from them
(:func:`server_config`).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import subjects
from .errors import ConfigError

CONTROLLER = "controller"
USER = "user"
READER = "reader"
EVENTS = "events"
PLUGIN = "plugin"
ROLES = (CONTROLLER, USER, READER, EVENTS)
"""The fixed roles; a plugin's identity is made per plugin (:meth:`AuthDir.plugin`)."""
USER_PREFIX = "hookbus-"
"""NATS user names: ``hookbus-<role>`` and ``hookbus-plugin-<name>``."""
CONFIG_FILE = "nats-auth.conf"
"""The ``authorization`` block an :class:`AuthDir` writes for its server."""
READ_VERBS = ("list", "get", "watch", "logs")
"""The control verbs that change nothing (the reader role's)."""
MAX_RESPONSES = 1000
"""Replies a plugin may send to one request it received (``allow_responses``)."""


@dataclass(frozen=True)
class Credentials:
    """One identity: its NATS user, password and inbox prefix. The password is never shown."""

    user: str
    password: str
    role: str
    inbox_prefix: str

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, role={self.role!r})"

    @property
    def plugin(self) -> str | None:
        """The plugin name of a plugin identity, else ``None``."""
        prefix = f"{USER_PREFIX}{PLUGIN}-"
        return self.user[len(prefix):] if self.role == PLUGIN and self.user.startswith(prefix) else None

    def to_json(self) -> str:
        data = {"user": self.user, "password": self.password, "role": self.role, "inbox_prefix": self.inbox_prefix}
        return json.dumps(data, indent=2) + "\n"


def make_credentials(role: str, plugin: str | None = None) -> Credentials:
    """Fresh credentials for *role* (for ``plugin``: of plugin *plugin*)."""
    if role == PLUGIN:
        if plugin is None:
            raise ConfigError("a plugin identity needs the plugin's name")
        user = f"{USER_PREFIX}{PLUGIN}-{subjects.validate_plugin_name(plugin)}"
    elif role in ROLES:
        user = f"{USER_PREFIX}{role}"
    else:
        raise ConfigError(f"unknown role {role!r}; known: {', '.join((*ROLES, PLUGIN))}")
    return Credentials(user=user, password=secrets.token_urlsafe(32), role=role, inbox_prefix=f"_INBOX.{user}")


def is_credentials_file(path: str | Path) -> bool:
    """Whether *path* holds hookbus credentials (JSON), not a NATS ``.creds`` file."""
    try:
        head = Path(path).read_text()[:64].lstrip()
    except OSError:
        return False
    return head.startswith("{")


def load_credentials(path: str | Path) -> Credentials:
    """The credentials in the file at *path*; a clear :class:`ConfigError` if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read credentials file {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(f"{path} is not a hookbus credentials file (JSON)") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) and data.get(k) for k in ("user", "password")):
        raise ConfigError(f"credentials file {path} must hold 'user' and 'password'")
    role = str(data.get("role") or USER)
    prefix = str(data.get("inbox_prefix") or f"_INBOX.{data['user']}")
    return Credentials(user=data["user"], password=data["password"], role=role, inbox_prefix=prefix)


def write_private(path: Path, text: str) -> None:
    """Write *text* to *path* readable by its owner only (0600), atomically; its folder 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


# --------------------------------------------------------------------------- permissions


def _stream_reader(stream: str) -> list[str]:
    """What reading a stream through a pull consumer publishes: consumer API calls and acks."""
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _event_reader() -> list[str]:
    return _stream_reader(subjects.EVENTS_STREAM) + _stream_reader(subjects.PROGRESS_STREAM)


def permissions(credentials: Credentials, *, registry_bucket: str = subjects.REGISTRY_BUCKET) -> dict[str, Any]:
    """The nats-server ``permissions`` of one identity."""
    inbox = f"{credentials.inbox_prefix}.>"
    control = subjects.CONTROL_ROOT
    role = credentials.role
    if role == CONTROLLER:
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    if role == USER:
        publish = [f"{control}.workflow.>", f"{control}.plugin.list", *_event_reader()]
    elif role == READER:
        publish = [*(f"{control}.workflow.{v}" for v in READ_VERBS), f"{control}.plugin.list", *_event_reader()]
    elif role == EVENTS:
        publish = _event_reader()
    elif role == PLUGIN:
        name = credentials.plugin
        if name is None:
            raise ConfigError(f"plugin identity {credentials.user!r} names no plugin")
        stream = f"KV_{registry_bucket}"
        publish = [
            f"{control}.plugin.{name}.>",
            f"$KV.{registry_bucket}.{name}.*",
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.$KV.{registry_bucket}.>",
        ]
        return {
            "publish": {"allow": publish},
            "subscribe": {"allow": [subjects.hook_wildcard(name), inbox]},
            "allow_responses": {"max": MAX_RESPONSES},
        }
    else:
        raise ConfigError(f"unknown role {role!r} of {credentials.user!r}")
    return {"publish": {"allow": publish}, "subscribe": {"allow": [inbox]}}


def _quote(value: str) -> str:
    return json.dumps(value)


def _conf(value: Any, indent: str = "") -> str:
    """*value* in nats-server configuration syntax (a JSON superset: maps, lists, strings)."""
    if isinstance(value, dict):
        inner = indent + "  "
        body = "".join(f"{inner}{key}: {_conf(v, inner)}\n" for key, v in value.items())
        return "{\n" + body + indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_conf(v, indent) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _quote(str(value))


def server_config(identities: list[Credentials], *, registry_bucket: str = subjects.REGISTRY_BUCKET) -> str:
    """The nats-server ``authorization`` block: every identity with its permissions."""
    users = [
        {"user": c.user, "password": c.password, "permissions": permissions(c, registry_bucket=registry_bucket)}
        for c in identities
    ]
    return "# generated by hookbus: one user per identity; edit the identities, not this file\n" + (
        "authorization " + _conf({"users": users}) + "\n"
    )


# --------------------------------------------------------------------------- one server's identities


class AuthDir:
    """The identities of one server, one 0600 file each in a 0700 folder.

    ``controller.json``, ``user.json``, ``reader.json``, ``events.json`` are made on
    first use; ``plugins/<name>.json`` by :meth:`plugin`. :meth:`write_config` writes
    the server's ``authorization`` block (:data:`CONFIG_FILE`) from all of them.
    """

    def __init__(self, path: str | Path, *, registry_bucket: str = subjects.REGISTRY_BUCKET) -> None:
        self.path = Path(path)
        self.registry_bucket = registry_bucket

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    def role_file(self, role: str) -> Path:
        return self.path / f"{role}.json"

    def plugin_file(self, name: str) -> Path:
        return self.path / "plugins" / f"{subjects.validate_plugin_name(name)}.json"

    def ensure(self) -> AuthDir:
        """Make the folder and every fixed role's credentials that are missing; write the config."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path, 0o700)
        for role in ROLES:
            file = self.role_file(role)
            if not file.exists():
                write_private(file, make_credentials(role).to_json())
        self.write_config()
        return self

    def credentials(self, role: str) -> Credentials:
        """The credentials of a fixed *role*."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        return load_credentials(self.role_file(role))

    def plugin(self, name: str, *, create: bool = True) -> tuple[Credentials, bool]:
        """Plugin *name*'s credentials and whether they were made now (then the config is rewritten)."""
        file = self.plugin_file(name)
        if file.exists():
            return load_credentials(file), False
        if not create:
            raise ConfigError(f"plugin {name!r} has no credentials here; issue them with 'hookbus plugin credentials {name}'")
        credentials = make_credentials(PLUGIN, name)
        write_private(file, credentials.to_json())
        self.write_config()
        return credentials, True

    def credentials_of(self, plugin: str) -> Credentials:
        """Plugin *plugin*'s credentials (it must have an identity)."""
        return load_credentials(self.plugin_file(plugin))

    def revoke(self, name: str) -> bool:
        """Remove plugin *name*'s identity; whether it had one (the config is rewritten)."""
        file = self.plugin_file(name)
        if not file.exists():
            return False
        file.unlink()
        self.write_config()
        return True

    def identities(self) -> list[Credentials]:
        """Every identity: the fixed roles, then the plugins by name."""
        found = [self.credentials(role) for role in ROLES if self.role_file(role).exists()]
        plugins = self.path / "plugins"
        if plugins.is_dir():
            found.extend(load_credentials(f) for f in sorted(plugins.glob("*.json")))
        return found

    def server_config(self) -> str:
        return server_config(self.identities(), registry_bucket=self.registry_bucket)

    def write_config(self) -> Path:
        write_private(self.config_file, self.server_config())
        return self.config_file


# --------------------------------------------------------------------------- finding a local server's identities


def runtime_dir() -> Path:
    """Where servers on this machine leave a note of their identities' folder for local clients:
    ``$HOOKBUS_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/hookbus``, else ``~/.hookbus/run``."""
    explicit = os.environ.get("HOOKBUS_RUNTIME_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir():
        return Path(xdg) / "hookbus"
    return Path.home() / ".hookbus" / "run"


def _server_key(url: str) -> str | None:
    """``host_port`` of the first URL in *url*, or ``None`` if it names no port."""
    first = url.split(",")[0].strip()
    _, _, rest = first.rpartition("://")
    rest = rest.rsplit("@", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return f"{host.strip('[]').replace(':', '_')}_{port}"


def note_path(url: str) -> Path | None:
    key = _server_key(url)
    return runtime_dir() / f"{key}.json" if key else None


@dataclass(frozen=True)
class ServerNote:
    """What a server on this machine left for local clients: where its identities are."""

    url: str
    auth_dir: Path
    store_dir: Path | None
    """Its JetStream store (with its pid file), to ask it to reload its configuration."""
    tls_ca: Path | None = None
    """The certificate to verify it with, when it requires TLS."""


def write_note(url: str, auth_dir: Path, store_dir: Path | None = None, tls_ca: Path | None = None) -> Path | None:
    """Note that the server at *url* keeps its identities in *auth_dir* (for :func:`find_note`)."""
    path = note_path(url)
    if path is None:
        return None
    data = {
        "url": url,
        "auth_dir": str(auth_dir.resolve()),
        "store_dir": str(store_dir.resolve()) if store_dir else None,
        "tls_ca": str(tls_ca.resolve()) if tls_ca else None,
    }
    write_private(path, json.dumps(data) + "\n")
    return path


def remove_note(url: str, auth_dir: Path) -> None:
    """Remove the note of *url* if it is still this server's."""
    path = note_path(url)
    note = find_note(url)
    if path is not None and note is not None and note.auth_dir == auth_dir.resolve():
        path.unlink(missing_ok=True)


def find_note(url: str) -> ServerNote | None:
    """The note of a server on this machine at *url*, if it left a readable one."""
    path = note_path(url)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
        auth_dir = Path(str(data["auth_dir"]))
        store = data.get("store_dir")
        ca = data.get("tls_ca")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not auth_dir.is_dir():
        return None
    return ServerNote(
        url=str(data.get("url") or url),
        auth_dir=auth_dir,
        store_dir=Path(store) if store else None,
        tls_ca=Path(ca) if ca else None,
    )


# --------------------------------------------------------------------------- waiting for a reload


def accepted(url: str, credentials: Credentials, timeout: float = 1.0) -> bool:
    """Whether the server at *url* (plain ``nats://``) accepts *credentials* now: one
    CONNECT and PING over a socket, so it can be asked before any event loop runs."""
    first = url.split(",")[0].strip()
    scheme, _, rest = first.rpartition("://")
    if scheme not in ("", "nats"):
        return True  # TLS: not probed here; the client's own connection tells
    host, _, port = rest.rsplit("@", 1)[-1].rstrip("/").rpartition(":")
    connect = json.dumps({"user": credentials.user, "pass": credentials.password, "verbose": False, "pedantic": False})
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            reader = sock.makefile("rb")
            reader.readline()  # INFO
            sock.sendall(f"CONNECT {connect}\r\nPING\r\n".encode())
            return reader.readline().startswith(b"PONG")
    except (OSError, ValueError):
        return False


def wait_accepted(url: str, credentials: Credentials, timeout: float = 5.0) -> bool:
    """Poll :func:`accepted` until the server took a reload in (or *timeout* seconds passed)."""
    deadline = time.monotonic() + timeout
    while True:
        if accepted(url, credentials):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
