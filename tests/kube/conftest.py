"""Fixtures of the Kubernetes tests: the test API server and a client connected to it; and
the session-wide union of the permissions each identity's requests needed.

Every server :func:`~tests.support.kubeapi.serve` started adds what its requests needed
(:func:`tests.support.rbac.needs`, by ``User-Agent`` identity) to :data:`SESSION_NEEDS`. At
the end of the session the summary names the controller's needs that ``deploy/``'s RBAC does
not grant (namespaces aside: tests run controllers in several namespaces); with
``HOOKBUS_KUBE_REQUESTS=FILE`` the whole union is written there as JSON. It fails nothing:
``tests/kube/test_rbac.py`` is the check, on a run of its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.controller.kube.client import Backoff
from hookbus.controller.kube.config import connect
from tests.support.kubeapi import SERVED, serve
from tests.support.rbac import Need, allowed, needs, subject_rules

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

SESSION_NEEDS: dict[str, set[Need]] = {}
"""What the requests of each identity needed, over every test API server of the session."""


def _collect(api: KubeApi) -> None:
    for identity in {r.identity for r in api.log}:
        SESSION_NEEDS.setdefault(identity, set()).update(needs(api.log, identity))


if _collect not in SERVED:
    SERVED.append(_collect)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    path = os.environ.get("HOOKBUS_KUBE_REQUESTS")
    if path:
        union = {who: [dataclasses.asdict(n) for n in sorted(found, key=Need.key)] for who, found in SESSION_NEEDS.items()}
        with open(path, "w") as out:
            json.dump(union, out, indent=1)
    controller = SESSION_NEEDS.get("hookbus-controller")
    if not controller:
        return
    from tests.kube.test_deploy import render

    rules = subject_rules(render("overlays/quick-start"), "ServiceAccount", "hookbus-controller", "hookbus")
    anywhere = [dataclasses.replace(r, namespace=None) for r in rules]
    missing = sorted(str(n) for n in controller if not allowed(anywhere, dataclasses.replace(n, name=None)))
    terminalreporter.write_sep("-", "Kubernetes requests of the controller in this session")
    terminalreporter.write_line(f"{len(controller)} permissions needed; not granted by deploy/'s RBAC: {missing or 'none'}")


@pytest.fixture
async def kube_api() -> AsyncIterator[KubeApi]:
    """A test API server on a free port, with every resource hookbus uses."""
    async with serve() as api:
        yield api


@pytest.fixture
async def kube(kube_api: KubeApi) -> AsyncIterator[KubeClient]:
    """A client of :func:`kube_api` with short backoff (its requests name it ``hookbus-tests``)."""
    client = await connect(server=str(kube_api.url), agent="hookbus-tests/1")
    client.backoff = Backoff(first=0.01, limit=0.05, attempts=4)
    yield client
    await client.close()
