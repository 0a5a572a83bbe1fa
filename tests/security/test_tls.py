"""The embedded server with TLS on request: clients verify it, plain connections are refused."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from nats.aio.client import Client

from hookbus.bus.auth import USER, find_note
from hookbus.bus.control import ControlClient
from hookbus.controller.app import Hookbus
from hookbus.controller.settings import EmbeddedNatsSettings, ExecutorSettings, HookbusSettings

if TYPE_CHECKING:
    from pathlib import Path


async def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    proc = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    assert await proc.wait() == 0
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
async def test_the_embedded_server_requires_tls_when_given_a_certificate(tmp_path: Path) -> None:
    cert, key = await _certificate(tmp_path)
    settings = HookbusSettings(
        executor=ExecutorSettings(kind="simulate"),
        embedded=replace(EmbeddedNatsSettings(), tls_cert=cert, tls_key=key),
        state_dir=tmp_path / "state",
    )
    async with Hookbus(settings) as app:
        assert app.nats_url.startswith("tls://")
        note = find_note(app.nats_url)
        assert note is not None and note.tls_ca == cert.resolve()
        assert app.auth is not None
        user = app.auth.credentials(USER)
        context = ssl.create_default_context(cafile=str(cert))
        nc = Client()
        await nc.connect(app.nats_url, tls=context, user=user.user, password=user.password, inbox_prefix=user.inbox_prefix, allow_reconnect=False)
        try:
            assert await ControlClient(nc).list() == []
        finally:
            await nc.close()
        # a client that does not speak TLS gets nothing but the demand for it
        host, _, port = app.nats_url.removeprefix("tls://").rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            info = json.loads((await reader.readline()).decode().removeprefix("INFO "))
        finally:
            writer.close()
            await writer.wait_closed()
        assert info["tls_required"] is True
