"""Identities for the ``hookbus`` commands: finding a local server's credentials, issuing a
plugin's (``hookbus plugin credentials``) and the configuration of a NATS you run yourself
(``hookbus nats-config``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ...bus.auth import AuthDir, find_note, wait_accepted, write_private
from ...bus.server import reload_server
from ...bus.subjects import validate_plugin_name
from .common import EXIT_OK, EXIT_USAGE, CliError, bus_settings, settings_from_args

if TYPE_CHECKING:
    import argparse


def _auth_dir(args: argparse.Namespace) -> tuple[AuthDir, Path | None]:
    """The identities named by ``--state-dir``, else by the local server at the NATS URL."""
    if getattr(args, "state_dir", None):
        state = Path(args.state_dir)
        store = state / "nats"
        return AuthDir(state / "auth", registry_bucket=bus_settings(args).registry.bucket), store
    settings = bus_settings(args)
    if settings.nats.urls:
        note = find_note(settings.nats.urls[0])
        if note is not None:
            return AuthDir(note.auth_dir), note.store_dir
    raise CliError(
        "no identities found: pass --state-dir DIR (the server's state directory), or run this "
        "on the server's machine with --nats-url / HOOKBUS_NATS_URL naming it",
        EXIT_USAGE,
    )


def plugin_credentials_command(args: argparse.Namespace) -> int:
    """``hookbus plugin credentials NAME``: issue (or show) a plugin's credentials file."""
    try:
        name = validate_plugin_name(args.name)
    except Exception as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    auth, store = _auth_dir(args)
    if not auth.path.is_dir():
        auth.ensure()
    if args.revoke:
        gone = auth.revoke(name)
        reloaded = store is not None and reload_server(store)
        print(
            f"plugin {name!r}: " + ("identity removed" if gone else "had no identity")
            + ("; the server reloaded its configuration" if reloaded and gone else ""),
            file=sys.stderr,
        )
        return EXIT_OK
    credentials, made = auth.plugin(name)
    reloaded = made and store is not None and reload_server(store)
    url = bus_settings(args).nats.urls
    if reloaded and url:
        wait_accepted(url[0], credentials)
    out = Path(args.output) if args.output else auth.plugin_file(name)
    if args.output:
        write_private(out, credentials.to_json())
    print(str(out))
    what = "issued" if made else "already issued"
    tail = "; the server reloaded its configuration" if reloaded else ""
    print(
        f"plugin {name!r}: credentials {what}{tail}. Run it with: "
        f"hookbus plugin run MODULE --nats-creds {out}",
        file=sys.stderr,
    )
    return EXIT_OK


def nats_config_command(args: argparse.Namespace) -> int:
    """``hookbus nats-config``: the ``authorization`` block for a NATS server you run yourself."""
    if not args.state_dir:
        raise CliError("pass --state-dir DIR: the identities are kept in DIR/auth", EXIT_USAGE)
    settings = settings_from_args(args)
    auth = AuthDir(Path(args.state_dir) / "auth", registry_bucket=settings.bus.registry.bucket).ensure()
    for name in args.plugin or ():
        try:
            auth.plugin(validate_plugin_name(name))
        except Exception as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    print(auth.server_config(), end="")
    print(
        f"identities in {auth.path}: the controller connects with --nats-creds {auth.role_file('controller')}, "
        f"users with {auth.role_file('user')}; include this output in the server's configuration "
        "(it holds passwords: keep it private) and reload the server after adding a plugin",
        file=sys.stderr,
    )
    return EXIT_OK
