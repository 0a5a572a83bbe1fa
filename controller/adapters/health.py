"""Liveness and readiness over HTTP, for a process supervisor (Kubernetes probes).

``GET /healthz`` answers 200 while the process can still do its work and 503 with the
reason once it cannot (the embedded nats-server died for good, the lease was lost): a
supervisor then restarts it. ``GET /readyz`` answers 200 once every part has started
and the NATS connection is up, 503 with the reason before that (a standby waiting for
the lease is alive, not ready). Nothing else is served, and nothing of a workflow shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = structlog.get_logger("hookbus.health")



class HealthServer:
    """Serves ``/healthz`` and ``/readyz`` on *host*:*port* (port 0: any free port).

    *live* and *ready* return ``None`` when the process is live / ready, else the reason.
    """

    def __init__(
        self,
        port: int,
        *,
        live: Callable[[], str | None],
        ready: Callable[[], str | None],
        host: str = "0.0.0.0",  # probes come from the node, not from loopback
    ) -> None:
        self.port = port
        self.host = host
        self._live = live
        self._ready = ready
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Start serving; returns the port bound."""
        app = web.Application()
        app.router.add_get("/healthz", self._answer(self._live))
        app.router.add_get("/readyz", self._answer(self._ready))
        runner = self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        bound = runner.addresses[0][1]
        log.info("health endpoints served", port=bound)
        return int(bound)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @staticmethod
    def _answer(check: Callable[[], str | None]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            reason = check()
            if reason is None:
                return web.Response(text="ok\n")
            return web.Response(status=503, text=f"{reason}\n")

        return handler
