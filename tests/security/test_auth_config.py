"""The identities' files and the permissions generated from them, without a server."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest

from hookbus.bus.auth import (
    PLUGIN,
    USER,
    AuthDir,
    ServerNote,
    find_note,
    load_credentials,
    make_credentials,
    note_path,
    permissions,
    remove_note,
    write_note,
)
from hookbus.bus.connection import connect
from hookbus.bus.errors import ConfigError, ConnectError
from hookbus.bus.server import EmbeddedServer
from hookbus.bus.settings import NatsSettings

if TYPE_CHECKING:
    from pathlib import Path


def test_each_role_gets_only_its_subjects() -> None:
    plugin = permissions(make_credentials(PLUGIN, "vault"))
    assert plugin["subscribe"]["allow"] == ["hookbus.hook.v1.vault.>", "_INBOX.hookbus-plugin-vault.>"]
    assert "hookbus.control.v1.plugin.vault.>" in plugin["publish"]["allow"]
    assert "$KV.hookbus-plugins.vault.*" in plugin["publish"]["allow"]
    assert not any(s.startswith(("hookbus.event", "hookbus.control.v1.workflow", "$KV.hookbus-workflows")) for s in plugin["publish"]["allow"])
    assert plugin["allow_responses"]
    user = permissions(make_credentials(USER))
    assert user["subscribe"]["allow"] == ["_INBOX.hookbus-user.>"]
    assert "hookbus.control.v1.workflow.>" in user["publish"]["allow"]
    assert not any(s.startswith(("$KV.", "hookbus.event", "hookbus.hook")) for s in user["publish"]["allow"])


def test_identity_files_are_private_and_made_once(tmp_path: Path) -> None:
    auth = AuthDir(tmp_path / "auth").ensure()
    first = auth.credentials(USER)
    assert AuthDir(tmp_path / "auth").ensure().credentials(USER) == first, "a restart keeps the identities"
    credentials, made = auth.plugin("vault")
    assert made and auth.plugin("vault") == (credentials, False)
    for file in [*auth.path.glob("*.json"), *auth.path.glob("plugins/*.json"), auth.config_file]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert "hookbus-plugin-vault" in auth.config_file.read_text()
    assert auth.revoke("vault") and "hookbus-plugin-vault" not in auth.config_file.read_text()
    assert "password" not in repr(first) and first.password not in repr(first)


def test_bad_credentials_files_and_names_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read credentials file"):
        load_credentials(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a hookbus credentials file"):
        load_credentials(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(ConfigError, match="must hold 'user' and 'password'"):
        load_credentials(tmp_path / "empty.json")
    with pytest.raises(ConfigError, match="invalid"):
        make_credentials(PLUGIN, "Bad_Name")


def test_a_note_leads_local_clients_to_a_servers_identities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKBUS_RUNTIME_DIR", str(tmp_path / "run"))
    auth = AuthDir(tmp_path / "auth").ensure()
    url = "nats://127.0.0.1:4222"
    write_note(url, auth.path, tmp_path / "nats")
    assert find_note("nats://127.0.0.1:4222,nats://other:4222") == ServerNote(url, auth.path.resolve(), (tmp_path / "nats").resolve())
    assert find_note("nats://127.0.0.1:4333") is None
    assert note_path("nats://no-port") is None
    remove_note(url, auth.path)
    assert find_note(url) is None


async def test_a_refused_identity_is_named_as_such(tmp_path: Path) -> None:
    auth = AuthDir(tmp_path / "auth").ensure()
    async with EmbeddedServer(store_dir=tmp_path / "nats", include=auth.config_file) as server:
        with pytest.raises(ConnectError, match="refused these credentials"):
            await connect(NatsSettings(urls=(server.url,), reconnect_wait=0.05))
        nc = await connect(NatsSettings(urls=(server.url,), creds_file=str(auth.role_file(USER))))
        await nc.close()


def test_authentication_is_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from hookbus.controller.cli import build_parser, settings_from_args
    from hookbus.controller.settings import from_env

    assert from_env({}).embedded.auth is True
    assert from_env({"HOOKBUS_NATS_AUTH": "0"}).embedded.auth is False
    with pytest.raises(ConfigError, match="HOOKBUS_NATS_AUTH"):
        from_env({"HOOKBUS_NATS_AUTH": "maybe"})
    monkeypatch.delenv("HOOKBUS_NATS_AUTH", raising=False)
    assert settings_from_args(build_parser().parse_args(["server"])).embedded.auth is True
    assert settings_from_args(build_parser().parse_args(["server", "--no-nats-auth"])).embedded.auth is False
