"""Ownership of a taken-over node: who may report its end.

A plugin that answers ``node.preExecute`` with ``takeOver`` owns the node until it
reports the node's end. Three things must hold for that report
(``hookbus.control.v1.plugin.<name>.complete``) to be accepted:

1. the caller is the plugin: the subject names it, and the server's permissions let only
   the plugin's identity publish there (:mod:`hookbus.bus.auth`);
2. it carries the take-over capability: every ``node.preExecute`` request the plugin
   received for that workflow carried it (``capability`` in the request), an HMAC of the
   plugin's and the workflow's names under a secret only the controller holds
   (:meth:`TakeOverGuard.capability`), so nobody who was not asked can forge it;
3. the controller saw that very plugin take that very node over, and the node is still
   running (:meth:`TakeOverGuard.owner`).

The capability is computed once per plugin, hook and workflow (it sits in the request's
envelope, which the dispatcher builds once for them), so it costs the hook path nothing
per item. The controller's record of take-overs and its secret are kept in memory: a restarted
controller asks the plugins about a taken-over node again (``node.preExecute``), and the
owner's new ``takeOver`` answer records it again, under the capability that request carried.

On the plugin's side, :data:`capabilities` keeps the capability of every workflow whose
``node.preExecute`` requests a plugin of this process received, so that
:func:`hookbus.bus.complete_node` finds it without the plugin author passing it on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import weakref
from collections import OrderedDict
from dataclasses import dataclass

SECRET_BYTES = 32
CAPABILITY_FIELD = "capability"
"""The field of a ``node.preExecute`` request (and of a ``complete`` request) that carries it."""


@dataclass(frozen=True, slots=True)
class TakenOver:
    """The controller's record of one take-over."""

    plugin: str


class TakeOverGuard:
    """The controller's side: issues capabilities, records take-overs, checks completions."""

    def __init__(self, secret: bytes | None = None, *, limit: int = 1_000_000) -> None:
        self._secret = secret or secrets.token_bytes(SECRET_BYTES)
        self._owners: dict[tuple[str, str, str], TakenOver] = {}
        self._waiting: dict[tuple[str, str, str], list[asyncio.Future[None]]] = {}
        self._limit = limit

    def capability(self, plugin: str, namespace: str, workflow: str) -> str:
        """The capability of *plugin* for the nodes it takes over in one workflow."""
        message = f"{plugin}\n{namespace}\n{workflow}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:40]

    def valid(self, plugin: str, namespace: str, workflow: str, capability: object) -> bool:
        """Whether *capability* is *plugin*'s for that workflow."""
        if not isinstance(capability, str) or not capability:
            return False
        return hmac.compare_digest(capability, self.capability(plugin, namespace, workflow))

    def note(self, plugin: str, namespace: str, workflow: str, node_id: str) -> None:
        """*plugin* took the node over."""
        if len(self._owners) >= self._limit:
            self._owners.pop(next(iter(self._owners)))  # the oldest: far beyond any real fan-out
        key = (namespace, workflow, node_id)
        self._owners[key] = TakenOver(plugin)
        for waiter in self._waiting.pop(key, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait_owner(self, namespace: str, workflow: str, node_id: str, timeout: float) -> str | None:
        """:meth:`owner`, waiting up to *timeout* seconds for a take-over still being recorded
        (a plugin may report a quick node's end before the controller has handled its reply)."""
        key = (namespace, workflow, node_id)
        if (found := self.owner(*key)) is not None or timeout <= 0:
            return found
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout)
        finally:
            waiters = self._waiting.get(key)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiting[key]
        return self.owner(*key)

    def owner(self, namespace: str, workflow: str, node_id: str) -> str | None:
        """The plugin that took the node over, if one did (and it has not reported yet)."""
        record = self._owners.get((namespace, workflow, node_id))
        return record.plugin if record else None

    def release(self, namespace: str, workflow: str, node_id: str) -> None:
        """The node's end was reported: nobody owns it any more."""
        self._owners.pop((namespace, workflow, node_id), None)

    def forget(self, namespace: str, workflow: str) -> None:
        """The workflow was deleted: drop its take-overs (a new one of that name owns nothing)."""
        for key in [k for k in self._owners if k[0] == namespace and k[1] == workflow]:
            del self._owners[key]


class Capabilities:
    """The plugin's side: the capability last received per plugin and workflow, newest kept."""

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._by_workflow: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()
        self._serving: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()

    def serving(self, plugin: str, connection: object) -> None:
        """Plugin *plugin* of this process serves on *connection* (its reports go out there)."""
        self._serving.setdefault(connection, set()).add(plugin)

    def plugins_on(self, connection: object) -> frozenset[str]:
        """The plugins of this process that serve on *connection*."""
        try:
            return frozenset(self._serving.get(connection, ()))
        except TypeError:  # not weakly referable: serves nobody
            return frozenset()

    def remember(self, plugin: str, namespace: str, workflow: str, capability: str) -> None:
        key = (namespace, workflow)
        held = self._by_workflow.get(key)
        if held is None:
            if len(self._by_workflow) >= self._limit:
                self._by_workflow.popitem(last=False)
            held = self._by_workflow[key] = {}
        held[plugin] = capability

    def find(
        self, namespace: str, workflow: str, plugin: str | None = None, *, connection: object = None
    ) -> tuple[str, str] | None:
        """``(plugin, capability)`` for the workflow: *plugin*'s, else that of the one plugin
        serving on *connection* that holds one."""
        held = self._by_workflow.get((namespace, workflow))
        if not held:
            return None
        if plugin is not None:
            found = held.get(plugin)
            return (plugin, found) if found else None
        candidates = [(p, c) for p, c in held.items() if p in self.plugins_on(connection)]
        return candidates[0] if len(candidates) == 1 else None

    def clear(self) -> None:
        self._by_workflow.clear()


capabilities = Capabilities()
"""Every plugin of this process records here what its requests carried."""
