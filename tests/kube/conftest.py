"""Fixtures of the Kubernetes tests: the test API server and a client connected to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hookbus.controller.kube.client import Backoff
from hookbus.controller.kube.config import connect
from tests.support.kubeapi import serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi


@pytest.fixture
async def kube_api() -> AsyncIterator[KubeApi]:
    """A test API server on a free port, with every resource hookbus uses."""
    async with serve() as api:
        yield api


@pytest.fixture
async def kube(kube_api: KubeApi) -> AsyncIterator[KubeClient]:
    """A client of :func:`kube_api` with short backoff."""
    client = await connect(server=str(kube_api.url), agent="hookbus-tests/1")
    client.backoff = Backoff(first=0.01, limit=0.05, attempts=4)
    yield client
    await client.close()
