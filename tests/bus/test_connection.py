"""Connecting with the settings' authentication options, and failing clearly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hookbus.bus import ConnectError, EmbeddedServer, NatsSettings
from hookbus.bus.connection import connect
from hookbus.bus.settings import from_env
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path


async def test_user_and_password(tmp_path: Path) -> None:
    config = 'authorization { user: "hb", password: "s3cret" }'
    async with EmbeddedServer(store_dir=tmp_path, config=config) as server:
        nc = await connect(NatsSettings(urls=(server.url,), user="hb", password="s3cret"))
        assert nc.is_connected
        await nc.close()
        with pytest.raises(ConnectError, match="cannot connect to NATS"):
            await connect(NatsSettings(urls=(server.url,), user="hb", password="wrong", connect_attempts=1))


async def test_token(tmp_path: Path) -> None:
    async with EmbeddedServer(store_dir=tmp_path, config='authorization { token: "t0ken" }') as server:
        nc = await connect(NatsSettings(urls=(server.url,), token="t0ken"))
        assert nc.is_connected
        await nc.close()


async def test_unreachable_server_is_a_clear_error_not_a_hang() -> None:
    with pytest.raises(ConnectError, match=r"nats://127\.0\.0\.1:1: no server answered after 2 attempts"):
        await connect(NatsSettings(urls=("nats://127.0.0.1:1",), connect_attempts=2, reconnect_wait=0.01))


def test_settings_from_environment_keep_secrets_out_of_reprs() -> None:
    settings = from_env(
        {
            "HOOKBUS_NATS_URL": "nats://a:1, nats://b:2",
            "HOOKBUS_NATS_USER": "u",
            "HOOKBUS_NATS_PASSWORD": "hunter2",
            "HOOKBUS_PLUGIN_ALLOW": "x,y",
            "HOOKBUS_HOOK_TIMEOUT": "1.5",
        }
    )
    assert settings.nats.urls == ("nats://a:1", "nats://b:2")
    assert settings.registry.allow == ("x", "y")
    assert settings.dispatch.default_timeout == 1.5
    assert "hunter2" not in repr(settings)


def test_invalid_numbers_in_the_environment_name_the_variable() -> None:
    from hookbus.bus import ConfigError

    with pytest.raises(ConfigError, match="HOOKBUS_HOOK_TIMEOUT='soon'"):
        from_env({"HOOKBUS_HOOK_TIMEOUT": "soon"})


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=hookbus-test-ca")
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (folder / f"{name}.ext").write_text(extra + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext")
    return {n: folder / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


async def test_mutual_tls(tmp_path: Path) -> None:
    certs = _certificates(tmp_path)
    config = (
        "tls {\n"
        f'  cert_file: "{certs["server.pem"]}"\n  key_file: "{certs["server.key"]}"\n'
        f'  ca_file: "{certs["ca.pem"]}"\n  verify: true\n'
        "}"
    )
    async with EmbeddedServer(store_dir=tmp_path / "store", config=config) as server:
        url = server.url.replace("nats://", "tls://")
        nc = await connect(
            NatsSettings(urls=(url,), tls_ca=str(certs["ca.pem"]), tls_cert=str(certs["client.pem"]), tls_key=str(certs["client.key"]))
        )
        assert nc.is_connected
        await nc.close()
        with pytest.raises(ConnectError):
            await connect(NatsSettings(urls=(url,), tls_ca=str(certs["ca.pem"]), connect_attempts=1))


async def test_large_reads_move_every_message_whole_and_in_order(tmp_path: Path) -> None:
    from nats.aio import client as nats_client

    from hookbus.bus.connection import READ_BYTES

    async with EmbeddedServer(store_dir=tmp_path) as server:
        receiver = await connect(NatsSettings(urls=(server.url,)))
        sender = await connect(NatsSettings(urls=(server.url,)))
        try:
            assert nats_client.DEFAULT_BUFFER_SIZE >= READ_BYTES
            got: list[bytes] = []

            async def keep(msg: object) -> None:
                got.append(msg.data)  # type: ignore[attr-defined]

            await receiver.subscribe("pieces", cb=keep)
            await receiver.flush()
            # around the read size, well above it, and small ones between: each must
            # arrive whole whether it ends inside a read or spans several
            sizes = [1, READ_BYTES - 1, READ_BYTES, 17, READ_BYTES + 1, 3 * READ_BYTES + 5, 0, 900_000, 2]
            sent = [bytes([n % 251]) * size + n.to_bytes(2, "big") for n, size in enumerate(sizes)]
            for payload in sent:
                await sender.publish("pieces", payload)
            await sender.flush()
            await wait_for(lambda: len(got) >= len(sent), timeout=10)
            assert got == sent
        finally:
            await sender.close()
            await receiver.close()


def test_large_reads_never_shrink_a_larger_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from nats.aio import client as nats_client

    from hookbus.bus.connection import READ_BYTES, read_in_large_pieces

    monkeypatch.setattr(nats_client, "DEFAULT_BUFFER_SIZE", 4 * READ_BYTES)
    read_in_large_pieces()
    assert nats_client.DEFAULT_BUFFER_SIZE == 4 * READ_BYTES
    monkeypatch.setattr(nats_client, "DEFAULT_BUFFER_SIZE", 1024)
    read_in_large_pieces()
    assert nats_client.DEFAULT_BUFFER_SIZE == READ_BYTES
