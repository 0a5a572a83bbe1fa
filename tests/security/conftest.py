"""A controller whose embedded NATS has authentication on, as ``hookbus server`` starts it,
and raw NATS clients connecting to it as one identity or another (or none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nats
import pytest

from hookbus.bus.settings import BusSettings, RegistrySettings
from hookbus.controller.app import Hookbus
from hookbus.controller.settings import ExecutorSettings, HookbusSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from nats.aio.client import Client

    from hookbus.bus.auth import AuthDir, Credentials


@dataclass
class Raw:
    """A plain nats-py client and the errors the server sent it (permission violations)."""

    nc: Client
    errors: list[str] = field(default_factory=list)

    def refused(self, what: str) -> bool:
        return any("permissions violation" in e.lower() and what.lower() in e.lower() for e in self.errors)


@dataclass
class Secured:
    app: Hookbus
    clients: list[Raw] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.app.nats_url

    @property
    def auth(self) -> AuthDir:
        assert self.app.auth is not None
        return self.app.auth

    def identity(self, role: str) -> Credentials:
        return self.auth.credentials(role)

    async def plugin_identity(self, name: str) -> Credentials:
        """Issue plugin *name*'s identity and have the running server take it in (no restart)."""
        credentials, made = self.auth.plugin(name)
        if made:
            assert self.app.server is not None
            await self.app.server.reload()
        return credentials

    async def connect(self, credentials: Credentials | None, **options: Any) -> Raw:
        """A raw client as *credentials* (``None``: no credentials at all)."""
        errors: list[str] = []

        async def collect(exc: Exception) -> None:
            errors.append(str(exc))

        extra: dict[str, Any] = {"error_cb": collect, "allow_reconnect": False, **options}
        if credentials is not None:
            extra.update(user=credentials.user, password=credentials.password, inbox_prefix=credentials.inbox_prefix)
        nc = await nats.connect(self.url, **extra)
        raw = Raw(nc, errors)
        self.clients.append(raw)
        return raw


@pytest.fixture
def executor() -> str:
    """The executor of :func:`secured`'s controller (a test may override this fixture)."""
    return "simulate"


@pytest.fixture
async def secured(tmp_path: Path, executor: str) -> AsyncIterator[Secured]:
    settings = HookbusSettings(
        bus=BusSettings(registry=RegistrySettings(resync=2.0, ttl=3.0)),
        executor=ExecutorSettings(kind=executor, state_dir=tmp_path / "executor"),
        state_dir=tmp_path / "state",
    )
    app = Hookbus(settings)
    await app.start()
    stack = Secured(app)
    try:
        yield stack
    finally:
        for raw in stack.clients:
            if not raw.nc.is_closed:
                await raw.nc.close()
        await app.close()
