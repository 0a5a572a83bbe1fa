"""The controller side of blocking hooks: one call, many items, every registered plugin.

``Dispatcher.call(hook, workflow_meta, items)`` picks the live plugins for the
hook, drops the items each one does not care about (filters), sends only the
fields it asked for (projection), splits the rest into requests of about
:data:`REQUEST_BYTES` (never above the server's payload limit; deflated first for a
plugin that takes compressed requests, so that a pass's alike items, such as the pods
of a fan-out, travel in one request), and merges the
replies into one :class:`ItemOutcome` per item, naming the plugin behind each
verdict. Plugins that get the same items with the same projection share one
encoding of them; a reply saying "no opinion" on every item is recognised by
its bytes and costs neither a decode nor a merge.

Mutating plugins run one after another (priority, then name), each seeing the
item as the previous one left it; validating plugins run concurrently on the
final item. Once a plugin settled an item (a rejection, or a hook's decision
such as a short-circuit), later plugins are not asked about it. Mutating plugins
that declare no side effects are asked speculatively, at the same time as the
mutating plugins before them: the outcome is what asking one after another would
give, because an answer is kept only if no plugin before it changed or settled an
item, and the plugins after such a change are asked again.

Every failure is mapped once, here, to a :class:`PluginCallError` and then to
the plugin's failure policy: ``Fail`` turns the items into rejections marked as
errors, ``Ignore`` records and counts the failure and goes on.
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import jsonpatch
import structlog
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from . import subjects
from .activity import Activity
from .auth_takeover import TakeOverGuard
from .breaker import CircuitBreaker
from .codec import Encoding, ListEnvelope, decode_map, encode
from .deflate import deflate
from .errors import BusError, DecodeError, EncodeError
from .filters import ItemPredicate, compile_item_filter, projector, workflow_matches
from .hooks import HOOKS, Hook
from .manifest import FailurePolicy, HookSpec, PluginManifest
from .requests import Requester, Sent
from .settings import DispatchSettings
from .wire import (
    DEFLATE,
    H_CONTENT_ENCODING,
    H_CONTENT_TYPE,
    H_ERROR_CODE,
    H_ERROR_TEXT,
    H_REQUEST_ID,
    H_TIMEOUT_MS,
    JSON,
    MAX_INFLATED,
    PROTOCOL_VERSION,
    HookRequestHead,
    WorkflowMeta,
    no_opinion_reply,
)

if TYPE_CHECKING:
    from nats.aio.client import Client

    from .registry import RegistryView

log = structlog.get_logger("hookbus.bus.dispatch")

ERROR_CODE = H_ERROR_CODE
ERROR_TEXT = H_ERROR_TEXT
TIMEOUT_HEADER = H_TIMEOUT_MS
REQUEST_ID_HEADER = H_REQUEST_ID
PAYLOAD_HEADROOM = 4096
"""Bytes kept free below max_payload for headers."""
PACK_ITEM_BYTES = 1024
"""Bytes per item from which a request above the target is deflated rather than cut. Smaller
items (a node's, 250-400 bytes) are many records for their bytes: plugins answer them
fastest in plain requests of about the target, and deflating each of them cost the
controller as much CPU again per decision as the rest of the hook path (measured)."""
PACK_SLACK = 256
"""Bytes a deflated request keeps below the hard limit: it is measured in the envelope of the
plugin it was cut for, and other plugins' envelopes (their names) deflate a little longer."""
MIN_WAVE = 64
"""Fewest items in a wave cut only so that mutating plugins answer in a pipeline."""

REQUEST_BYTES = 192 * 1024
"""Target size of one request: NATS request/reply moves records fastest in messages of
roughly 20-200 KB (bigger ones cost the plugin more per record; smaller ones cost more
requests), so requests are cut near this size as well as at max_batch items; an item
larger than this still travels alone."""

_RESERVED_KEYS = frozenset({"patch", "mergePatch", "warnings"})
_SAMPLE = 16
"""Items encoded to guess the size of a large call's items before cutting it into requests."""


class PluginCallError(BusError):
    """A hook request to a plugin failed. ``kind`` says how; ``retryable`` whether to try again."""

    def __init__(self, plugin: str, hook: Hook, kind: str, detail: str, *, retryable: bool = False) -> None:
        self.plugin = plugin
        self.hook = hook
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        super().__init__(f"plugin {plugin!r} failed hook {hook.value}: {detail}")


@dataclass(slots=True)
class Warning:
    plugin: str
    message: str


MAX_WARNING_CHARS = 1024
"""A plugin warning longer than this is cut, with a note saying how much was left out."""
MAX_WARNINGS_PER_REPLY = 16
"""Warnings kept from one plugin for one item; the rest are counted in one last warning."""
MAX_MESSAGE_CHARS = 4096
"""A plugin's message (a rejection, a failure) longer than this is cut, with a note."""


def clip(text: str, limit: int) -> str:
    """*text*, cut to *limit* characters with a note of what was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters cut)"


def bounded_warnings(plugin: str, warnings: list[Any]) -> tuple[Warning, ...]:
    """A reply's warnings as kept: at most :data:`MAX_WARNINGS_PER_REPLY`, each clipped.

    A plugin's text is stored on the workflow, logged and shown by the CLI; one huge or
    endless list must not make the workflow too large to store.
    """
    kept = tuple(Warning(plugin, clip(str(w), MAX_WARNING_CHARS)) for w in warnings[:MAX_WARNINGS_PER_REPLY])
    if len(warnings) > MAX_WARNINGS_PER_REPLY:
        kept += (Warning(plugin, f"... and {len(warnings) - MAX_WARNINGS_PER_REPLY:,} more warnings cut"),)
    return kept


@dataclass(slots=True)
class Verdict:
    plugin: str
    result: Mapping[str, Any]


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class ItemOutcome:
    """What the plugins made of one item. Read-only for callers.

    Items no plugin said anything about share one instance (:data:`NO_OPINION`),
    so a call of 100k items that plugins let pass allocates next to nothing.
    """

    __slots__ = ("ignored", "patched_by", "plugin", "result", "shadow", "target", "warnings")

    def __init__(self) -> None:
        self.result: Mapping[str, Any] = _NOTHING
        """The settling result (a rejection or a hook decision), empty if no plugin settled the item."""
        self.plugin: str | None = None
        """The plugin behind :attr:`result`."""
        self.target: Any = None
        """The hook's target object after every applied patch (``None`` if nothing was patched)."""
        self.patched_by: tuple[str, ...] = ()
        self.warnings: tuple[Warning, ...] = ()
        self.shadow: tuple[Verdict, ...] = ()
        """What plugins in shadow mode said (recorded, not applied)."""
        self.ignored: tuple[str, ...] = ()
        """Failures skipped under the ``Ignore`` policy, as messages naming the plugin."""

    @property
    def allowed(self) -> bool:
        return self.result.get("allowed", True) is not False

    @property
    def error(self) -> bool:
        """Whether the item was rejected because a plugin failed (not because it said no)."""
        return bool(self.result.get("error"))

    @property
    def message(self) -> str:
        return clip(str(self.result.get("message", "")), MAX_MESSAGE_CHARS)

    @property
    def settled(self) -> bool:
        return bool(self.result)

    def __repr__(self) -> str:
        return f"ItemOutcome(result={dict(self.result)!r}, plugin={self.plugin!r}, patched_by={self.patched_by!r})"


NO_OPINION = ItemOutcome()
"""The outcome of every item no plugin had anything to say about."""


@dataclass(slots=True)
class CallStats:
    requests: int = 0
    items_sent: int = 0
    plugins_called: int = 0
    failures: int = 0
    ignored: int = 0
    breaker_skips: int = 0
    not_implemented: int = 0
    retries: int = 0
    busy_s: float = 0.0
    """Wall seconds spent in calls that had a plugin to ask. For one call, its duration; for
    :attr:`Dispatcher.stats`, the seconds during which at least one call was in flight
    (calls that overlap count once)."""

    def add(self, other: CallStats) -> None:
        """Add *other*'s counters (not ``busy_s``: the dispatcher keeps the union of busy time)."""
        for name in self.__slots__:
            if name != "busy_s":
                setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class CallResult:
    items: list[ItemOutcome]
    stats: CallStats

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ItemOutcome:
        return self.items[index]


_Reply = tuple[list[int], "list[JSON] | PluginCallError | None"]
"""The replies of one request: the item indexes it carried and their results, its failure,
or ``None`` when the plugin had no opinion on any of them."""

@dataclass(slots=True)
class _Packed:
    """A request sent compressed: its body as deflated for the envelope it was cut with."""

    envelope: ListEnvelope
    body: bytes


_Chunk = tuple[list[int], bytes, "_Packed | None"]
"""Item indexes of one request, their encoded list of items, and whether (and how) the
request goes compressed (``None``: it goes as it is)."""

_SharedKey = tuple[tuple[str, ...], Encoding, int, bool]
"""What makes two plugins' requests alike: projection, encoding, items per request and
whether the plugin takes compressed requests."""


@dataclass(slots=True)
class _Encoded:
    """The items of one wave as one projection encodes them, chunked, shared by plugins alike."""

    indexes: list[int]
    chunks: list[_Chunk]


@dataclass(slots=True)
class _Call:
    """What every request of one :meth:`Dispatcher.call` shares."""

    hook: Hook
    workflow_meta: dict[str, Any]
    meta_key: bytes
    """The metadata encoded: with plugin, hook and encoding, the key of its request envelope."""
    items: list[Mapping[str, Any]]
    """The items as the plugins asked so far left them (patches applied)."""
    outcomes: list[ItemOutcome | None]
    stats: CallStats
    deadline: float | None


@dataclass(slots=True)
class _Plan:
    manifest: PluginManifest
    spec: HookSpec
    match: ItemPredicate | None


def _split(start: int, end: int, parts: int) -> list[tuple[int, int]]:
    """*start*..*end* in *parts* ranges of equal size (the last may be smaller), the first
    range last: ready to be taken from the end of the list in order."""
    step = math.ceil((end - start) / parts)
    return [(part, min(part + step, end)) for part in range(start, end, step)][::-1]


class Dispatcher:
    """Makes hook calls to plugins on behalf of the controller."""

    def __init__(
        self,
        nc: Client,
        registry: RegistryView,
        settings: DispatchSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        request_bytes: int = REQUEST_BYTES,
    ) -> None:
        """*request_bytes*: target size of one request (see :data:`REQUEST_BYTES`)."""
        self._nc = nc
        self.registry = registry
        self.settings = settings or DispatchSettings()
        self.request_bytes = request_bytes
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._last_errors: dict[str, tuple[float, str]] = {}
        """Per plugin: wall-clock time and message of its last failed request (status output)."""
        self._filters: dict[tuple[str, Hook], tuple[PluginManifest, ItemPredicate | None]] = {}
        self.stats = CallStats()
        self._request_seq = 0
        self._requests = Requester(nc)
        self.activity = Activity()
        """The calls in flight, weighted by their items (work that can wait reads it, see :mod:`hookbus.bus.activity`)."""
        self._subjects: dict[tuple[str, Hook], str] = {}
        self._envelopes: dict[tuple[str, Hook, Encoding, bytes], ListEnvelope] = {}
        self.takeovers = TakeOverGuard()
        """Take-over capabilities (in ``node.preExecute`` requests) and the record of who took
        which node over, which the control API checks a ``complete`` report against."""

    # -- public -----------------------------------------------------------------

    def breaker(self, plugin: str) -> CircuitBreaker:
        breaker = self._breakers.get(plugin)
        if breaker is None:
            breaker = CircuitBreaker(self.settings.breaker_threshold, self.settings.breaker_cooldown, clock=self._clock)
            self._breakers[plugin] = breaker
        return breaker

    def breaker_state(self, plugin: str) -> str:
        """``closed``, ``open`` or ``half-open``: the state of *plugin*'s circuit breaker."""
        breaker = self._breakers.get(plugin)
        return "closed" if breaker is None else breaker.state.value

    def last_error(self, plugin: str) -> tuple[float, str] | None:
        """Wall-clock time and message of *plugin*'s last failed request, if any failed."""
        return self._last_errors.get(plugin)

    def wants(self, hook: Hook, workflow_meta: Mapping[str, Any] | None = None) -> bool:
        """Whether any live plugin could be called for *hook* (cheap; lets callers skip building items)."""
        return any(
            workflow_meta is None or workflow_matches(m.hooks[hook].filters, workflow_meta)
            for m in self.registry.plugins_for(hook)
        )

    def side_effect_free(self, hook: Hook, workflow_meta: Mapping[str, Any]) -> bool:
        """Whether every plugin that could be called for *hook* declared no side effects."""
        return all(not plan.spec.side_effects for plan in self._plans(hook, workflow_meta))

    async def call(
        self,
        hook: Hook,
        workflow_meta: WorkflowMeta | Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        *,
        timeout: float | None = None,
    ) -> CallResult:
        """Ask every interested plugin about *items*; one :class:`ItemOutcome` per item, in order.

        *workflow_meta* is the workflow's :class:`~hookbus.bus.wire.WorkflowMeta`; *items*
        are the hook's items (:class:`~hookbus.bus.wire.NodeItem`, ...), each with an ``id``.

        *timeout* bounds the whole call; each request also has its plugin's own timeout.
        """
        stats = CallStats()
        outcomes: list[ItemOutcome | None] = [None] * len(items)
        plans = self._plans(hook, workflow_meta)
        if not plans or not items:
            return CallResult([NO_OPINION] * len(items), stats)
        started = time.perf_counter()
        self.activity.enter(len(items))
        deadline = None if timeout is None else self._clock() + timeout
        meta = dict(workflow_meta)
        call = _Call(hook, meta, encode(meta), list(items), outcomes, stats, deadline)
        mutators = sorted((p for p in plans if p.spec.mutating), key=lambda p: (p.spec.priority, p.manifest.name))
        validators = sorted((p for p in plans if not p.spec.mutating), key=lambda p: p.manifest.name)

        async def chain(wave: range) -> None:
            # Plugins with the same projection get the same encoded items, until a
            # patch changes them; while no plugin said anything about the wave's
            # items, all of them are still open (no per-item check needed).
            shared: dict[_SharedKey, _Encoded] = {}
            fresh = True
            stages = list(mutators)
            while stages:
                # Side-effect-free mutators are asked together with the ones before them;
                # an answer stands if no plugin before it changed or settled an item.
                run = _speculative_run(stages)
                all_replies = await self._call_all(run, call, wave, fresh, shared)
                done = len(run)
                for index, (plan, replies) in enumerate(zip(run, all_replies, strict=True)):
                    touched, patched = self._merge(plan, call, replies)
                    fresh = fresh and not touched
                    if patched:
                        shared.clear()
                    if touched:
                        done = index + 1  # the answers after this one saw items as they no longer are
                        break
                del stages[:done]
            if validators:
                all_replies = await self._call_all(validators, call, wave, fresh, shared)
                for plan, replies in zip(validators, all_replies, strict=True):
                    self._merge(plan, call, replies)

        # Large calls travel in waves of max_batch items, several waves in flight:
        # while plugin B answers wave 1, plugin A already answers wave 2, so every
        # plugin process stays busy and each item still meets the plugins in order.
        size = max(1, self.settings.max_batch)
        if len(mutators) > 1 and len(_speculative_run(mutators)) < len(mutators):
            # A call of one wave would keep all mutators but one idle at any moment:
            # give each mutator a wave of its own (of at least MIN_WAVE items).
            waves_wanted = min(len(mutators), len(items) // MIN_WAVE)
            if waves_wanted > 1:
                size = min(size, -(-len(items) // waves_wanted))
        waves = deque(range(start, min(start + size, len(items))) for start in range(0, len(items), size))

        async def worker() -> None:
            while waves:
                await chain(waves.popleft())

        workers = min(self.settings.max_in_flight, len(waves))
        try:
            if workers == 1:
                await worker()
            else:
                await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            ended = time.perf_counter()
            self.activity.leave(len(items))
            self.stats.busy_s = self.activity.busy_s
        stats.busy_s = ended - started
        self.stats.add(stats)
        return CallResult([o if o is not None else NO_OPINION for o in outcomes], stats)

    # -- planning ---------------------------------------------------------------

    def _plans(self, hook: Hook, workflow_meta: Mapping[str, Any]) -> list[_Plan]:
        plans = []
        for manifest in self.registry.plugins_for(hook):
            spec = manifest.hooks[hook]
            if not workflow_matches(spec.filters, workflow_meta):
                continue
            cached = self._filters.get((manifest.name, hook))
            if cached is None or cached[0] is not manifest:
                cached = (manifest, _with_ownership(hook, manifest, compile_item_filter(spec.filters)))
                self._filters[(manifest.name, hook)] = cached
            plans.append(_Plan(manifest, spec, cached[1]))
        return plans

    async def _call_all(
        self, plans: Sequence[_Plan], call: _Call, wave: range, fresh: bool, shared: dict[_SharedKey, _Encoded]
    ) -> list[list[_Reply]]:
        """Ask *plans* about the same items at once; their replies, in order."""
        if len(plans) == 1:
            return [await self._call_plugin(plans[0], call, wave, fresh, shared)]
        return await asyncio.gather(*(self._call_plugin(plan, call, wave, fresh, shared) for plan in plans))

    # -- one plugin ---------------------------------------------------------------

    async def _call_plugin(
        self, plan: _Plan, call: _Call, wave: range, fresh: bool, shared: dict[_SharedKey, _Encoded]
    ) -> list[_Reply]:
        hook, items, outcomes, stats = call.hook, call.items, call.outcomes, call.stats
        match = plan.match
        open_items = list(wave) if fresh else [i for i in wave if (o := outcomes[i]) is None or not o.result]
        indexes = open_items if match is None else [i for i in open_items if match(items[i])]
        if not indexes:
            return []
        name = plan.manifest.name
        breaker = self.breaker(name)
        if not breaker.allow():
            stats.breaker_skips += 1
            error = PluginCallError(name, hook, "breaker", "circuit breaker is open after repeated failures")
            return [(indexes, error)]
        stats.plugins_called += 1
        encoding = plan.manifest.encoding
        envelope = self._envelope(name, encoding, call)
        key = (plan.spec.fields, encoding, self._batch_size(plan), DEFLATE in plan.manifest.compression)
        encoded = shared.get(key)
        if encoded is None or encoded.indexes != indexes:
            encoded = _Encoded(indexes, self._chunks(plan, hook, envelope, indexes, items))
            shared[key] = encoded
        chunks = encoded.chunks
        replies: list[_Reply] = []
        queue = deque(chunks)
        outcome_ok = True

        async def worker(chunk_indexes: list[int], body: bytes, packed: bool, sent: Sent | None) -> None:
            nonlocal outcome_ok
            while True:
                try:
                    results = await self._request(plan, call, body, len(chunk_indexes), sent, packed)
                except PluginCallError as exc:
                    outcome_ok = False
                    self._last_errors[name] = (time.time(), str(exc))
                    replies.append((chunk_indexes, exc))
                else:
                    replies.append((chunk_indexes, results))
                if not queue:
                    return
                chunk_indexes, data, packing = queue.popleft()
                body, packed = _body(envelope, data, packing)
                sent = None

        # The first requests go out here, right after the items were encoded. Sent from
        # the workers' tasks, they would wait for every task that was ready before those
        # (in a large pass: the encoding of every other wave), while the plugin idles.
        starts: list[tuple[list[int], bytes, bool, Sent | None]] = []
        try:
            for _ in range(min(self.settings.max_in_flight, len(chunks))):
                chunk_indexes, data, packing = queue.popleft()
                body, packed = _body(envelope, data, packing)
                try:
                    sent: Sent | None = await self._send(plan, call, body, len(chunk_indexes), packed)
                except PluginCallError:
                    sent = None  # the worker meets the same error and records it
                starts.append((chunk_indexes, body, packed, sent))
            if len(starts) == 1:
                await worker(*starts[0])
            else:
                await asyncio.gather(*(worker(*start) for start in starts))
        except BaseException:
            for _, _, _, sent in starts:
                if sent is not None:
                    self._requests.discard(sent)  # a worker that never ran would leave it waiting
            breaker.release()
            raise
        if outcome_ok:
            breaker.success()
        else:
            breaker.failure()
        return replies

    def _envelope(self, plugin: str, encoding: Encoding, call: _Call) -> ListEnvelope:
        """The request envelope around the items, made once per plugin, hook and workflow metadata."""
        key = (plugin, call.hook, encoding, call.meta_key)
        envelope = self._envelopes.get(key)
        if envelope is None:
            if len(self._envelopes) >= 4096:
                self._envelopes.clear()
            head: HookRequestHead = {"v": PROTOCOL_VERSION, "hook": call.hook.value, "plugin": plugin, "workflow": {"metadata": cast("WorkflowMeta", call.workflow_meta)}}
            if call.hook is Hook.NODE_PRE_EXECUTE:
                meta = call.workflow_meta
                namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
                head["capability"] = self.takeovers.capability(plugin, namespace, name)
            envelope = self._envelopes[key] = ListEnvelope.of(head, "items", encoding)
        return envelope

    def _subject(self, plugin: str, hook: Hook) -> str:
        subject = self._subjects.get((plugin, hook))
        if subject is None:
            subject = self._subjects[(plugin, hook)] = subjects.hook(plugin, hook)
        return subject

    def _chunks(
        self,
        plan: _Plan,
        hook: Hook,
        envelope: ListEnvelope,
        indexes: list[int],
        items: Sequence[Mapping[str, Any]],
    ) -> list[_Chunk]:
        """Split *indexes* into requests of at most maxBatch items and about :attr:`request_bytes`.

        Each request is encoded once; one that came out above the target is cut into
        equal parts by item count (items of a wave tend to be alike), one above the hard
        limit as well. For a plugin that takes compressed requests, a request of large
        items (:data:`PACK_ITEM_BYTES`) above the target is deflated first and cut only if
        it is still above the target on the wire (or would inflate past
        :data:`~hookbus.bus.wire.MAX_INFLATED`): alike items (the pods of a fan-out) then
        travel in one request. A single item above the hard limit is an :class:`EncodeError`.
        """
        size = self._batch_size(plan)
        limit = self._max_request()
        target = min(self.request_bytes, limit)
        packs = DEFLATE in plan.manifest.compression
        # a deflated body is cut with this plugin's envelope and may be sent in another's
        packed_limit = limit - PACK_SLACK
        packed_target = max(1, min(self.request_bytes, packed_limit))
        fields = plan.spec.fields
        if fields:
            project_item = projector(tuple(fields))
            payload: list[Any] = [project_item(items[i]) for i in indexes]
        elif len(indexes) == indexes[-1] - indexes[0] + 1 and isinstance(items, list):
            payload = items[indexes[0] : indexes[-1] + 1]  # a run of consecutive items: one slice
        else:
            payload = [items[i] for i in indexes]
        chunks: list[_Chunk] = []
        per_item = 0.0  # bytes per item of the last encoded request: the guess for the next
        ratio = 0.0  # wire bytes per encoded byte of the last deflated request (0: none yet)
        if len(payload) > _SAMPLE * 4:
            # Guess bytes per item from a few, so that even the first request encodes once.
            try:
                per_item = len(encode(payload[:_SAMPLE], envelope.encoding)) / _SAMPLE
            except EncodeError:
                per_item = 0.0  # found again, item by item, below
        for start in range(0, len(payload), size):
            end = min(start + size, len(payload))
            # Cut by the last request's bytes per item, so most requests encode once.
            parts = 1
            if per_item:
                guess = envelope.size(int(per_item * (end - start)))
                if not packs or per_item < PACK_ITEM_BYTES:
                    parts = math.ceil(guess / target)
                elif guess > target:
                    parts = max(math.ceil(guess / MAX_INFLATED), math.ceil(guess * ratio / packed_target))
            # Ranges still to encode, the next one last. A loop, not a recursive closure:
            # a closure that calls itself is a reference cycle, and it would keep the
            # whole payload alive until the garbage collector came by.
            todo = _split(start, end, max(1, parts))
            while todo:
                first, last = todo.pop()
                count = last - first
                try:
                    data = encode(payload[first:last], envelope.encoding)
                except EncodeError:
                    if count == 1:
                        raise
                    todo += _split(first, last, 2)
                    continue
                total = envelope.size(len(data))
                per_item = len(data) / count
                if total <= target:
                    chunks.append((indexes[first:last], data, None))
                    continue
                if packs and per_item >= PACK_ITEM_BYTES and total <= MAX_INFLATED:
                    body = deflate(envelope.prefix, data, envelope.suffix)
                    ratio = len(body) / total
                    if len(body) <= packed_target or (count == 1 and len(body) <= packed_limit):
                        chunks.append((indexes[first:last], data, _Packed(envelope, body)))
                        continue
                    if count > 1:
                        todo += _split(first, last, min(count, math.ceil(len(body) / packed_target)))
                        continue
                if count == 1:
                    if total <= limit:
                        chunks.append((indexes[first:last], data, None))
                        continue
                    raise EncodeError(
                        f"one {hook.value} item for plugin {plan.manifest.name!r} encodes to {total} bytes, "
                        f"over the request limit of {limit}; declare 'fields' to send less"
                    )
                todo += _split(first, last, min(count, math.ceil(total / target)))
        return chunks

    def _batch_size(self, plan: _Plan) -> int:
        return max(1, min(plan.spec.max_batch or self.settings.max_batch, self.settings.max_batch))

    def _max_request(self) -> int:
        if self.settings.max_payload is not None:
            return self.settings.max_payload
        return max(1024, self._nc.max_payload - PAYLOAD_HEADROOM)

    def _max_reply(self) -> int:
        return self.settings.max_reply if self.settings.max_reply is not None else self._nc.max_payload

    async def _send(self, plan: _Plan, call: _Call, data: bytes, count: int, packed: bool = False) -> Sent:
        """Publish one request (no retries); its reply is awaited by :meth:`_request`.
        *packed*: *data* is deflated (``Content-Encoding: deflate``)."""
        hook, stats, deadline = call.hook, call.stats, call.deadline
        timeout = plan.spec.timeout or self.settings.default_timeout
        if deadline is not None:
            timeout = min(timeout, deadline - self._clock())
            if timeout <= 0:
                raise PluginCallError(plan.manifest.name, hook, "timeout", "no time left before the call's deadline")
        self._request_seq += 1
        headers = {TIMEOUT_HEADER: str(max(1, int(timeout * 1000))), H_CONTENT_TYPE: plan.manifest.encoding.content_type}
        if packed:
            headers[H_CONTENT_ENCODING] = DEFLATE
        stats.requests += 1
        stats.items_sent += count
        return await self._requests.send(
            self._subject(plan.manifest.name, hook), data, timeout=timeout, headers=headers, extra={REQUEST_ID_HEADER: str(self._request_seq)}
        )

    async def _request(
        self, plan: _Plan, call: _Call, data: bytes, count: int, sent: Sent | None, packed: bool = False
    ) -> list[JSON] | None:
        """The results of one request, or ``None`` if the plugin had no opinion on any item.

        *sent*: the request as :meth:`_send` published it, or ``None`` to publish it here;
        retries publish it again.
        """
        hook = call.hook
        name = plan.manifest.name
        subject = self._subject(name, hook)
        backoff = self.settings.retry_backoff
        stats, deadline = call.stats, call.deadline
        attempt = 0
        while True:
            if sent is None:
                sent = await self._send(plan, call, data, count, packed)
            try:
                msg = await self._requests.receive(sent)
            except NoRespondersError:
                raise PluginCallError(name, hook, "no-responders", "no instance of the plugin is listening (no responders)") from None
            except (NatsTimeoutError, TimeoutError):
                raise PluginCallError(name, hook, "timeout", f"no reply within {sent.timeout:.3g}s") from None
            sent = None
            code = (msg.headers or {}).get(ERROR_CODE)
            if code:
                text = (msg.headers or {}).get(ERROR_TEXT, "")
                if code == "503" and attempt < self.settings.retries:
                    attempt += 1
                    stats.retries += 1
                    delay = backoff * (2 ** (attempt - 1))
                    if deadline is not None and self._clock() + delay >= deadline:
                        raise PluginCallError(name, hook, "unavailable", f"503 {text}", retryable=True)
                    await asyncio.sleep(delay)
                    continue
                if code == "404":
                    stats.not_implemented += count
                    return None
                kind = "unavailable" if code == "503" else "error"
                raise PluginCallError(name, hook, kind, f"error reply {code}: {text}".rstrip(": "), retryable=code == "503")
            if msg.data == no_opinion_reply(name, count, plan.manifest.encoding):
                return None  # no opinion on any item: nothing to decode or merge
            return self._parse_reply(plan, hook, subject, msg.data, count)

    def _parse_reply(self, plan: _Plan, hook: Hook, subject: str, data: bytes, count: int) -> list[JSON]:
        name = plan.manifest.name
        limit = self._max_reply()
        if len(data) > limit:
            raise PluginCallError(name, hook, "oversized", f"reply of {len(data)} bytes is over the limit of {limit} bytes")
        try:
            reply = decode_map(data, plan.manifest.encoding, subject=subject, version=PROTOCOL_VERSION)
        except DecodeError as exc:
            raise PluginCallError(name, hook, "malformed", f"malformed reply: {exc.reason} ({exc.preview})") from None
        if reply.get("plugin", name) != name:
            raise PluginCallError(name, hook, "malformed", f"reply claims to come from plugin {reply.get('plugin')!r}")
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != count:
            got = f"{len(results)} results" if isinstance(results, list) else f"'results' of type {type(results).__name__}"
            raise PluginCallError(name, hook, "malformed", f"malformed reply: expected {count} results, got {got}")
        for i, result in enumerate(results):
            if result is None:
                results[i] = {}
            elif not isinstance(result, dict):
                raise PluginCallError(name, hook, "malformed", f"malformed reply: result {i} is a {type(result).__name__}, not a map")
        return results

    # -- merging ------------------------------------------------------------------

    def _merge(self, plan: _Plan, call: _Call, replies: list[_Reply]) -> tuple[bool, bool]:
        """Apply one plugin's replies; whether any outcome was touched, and any item patched."""
        hook, outcomes = call.hook, call.outcomes
        name = plan.manifest.name
        spec = plan.spec
        target_key = HOOKS[hook].target
        ignore = spec.failure_policy is FailurePolicy.IGNORE or spec.shadow
        decisions = HOOKS[hook].decision_keys
        failures: dict[str, int] = {}
        touched = patched = False

        def outcome_of(index: int) -> ItemOutcome:
            nonlocal touched
            touched = True
            outcome = outcomes[index]
            if outcome is None:
                outcome = outcomes[index] = ItemOutcome()
            return outcome

        def failed(index: int, message: str, kind: str) -> None:
            outcome = outcome_of(index)
            if ignore:
                outcome.ignored += (message,)
            elif not outcome.result:
                outcome.result = {"allowed": False, "error": True, "message": message, "reason": kind}
                outcome.plugin = name

        for indexes, results in replies:
            if results is None:
                continue  # no opinion on any item of the request
            if isinstance(results, PluginCallError):
                failures[results.detail] = failures.get(results.detail, 0) + len(indexes)
                for index in indexes:
                    failed(index, str(results), results.kind)
                continue
            for index, reply in zip(indexes, results, strict=True):
                if not reply:
                    continue  # no opinion: the common case costs nothing
                outcome = outcome_of(index)
                warnings = reply.get("warnings")
                if isinstance(warnings, list):
                    outcome.warnings += bounded_warnings(name, warnings)
                if spec.shadow:
                    outcome.shadow += (Verdict(name, reply),)
                    continue
                if "patch" in reply or "mergePatch" in reply:
                    error = self._apply_patch(plan, hook, target_key, reply, index, call.items, outcome)
                    if error is not None:
                        failures[error] = failures.get(error, 0) + 1
                        failed(index, f"plugin {name!r} failed hook {hook.value}: {error}", "bad-patch")
                        continue
                    patched = True
                if outcome.result:
                    continue
                if reply.get("allowed") is False or (decisions and not decisions.isdisjoint(reply)):
                    outcome.result = {k: v for k, v in reply.items() if k not in _RESERVED_KEYS}
                    outcome.plugin = name
        for detail, count in failures.items():
            policy = "ignored" if ignore else "failed"
            log.warning("plugin call failed", plugin=name, hook=hook.value, items=count, error=detail, policy=policy)
            self.stats.failures += count
            if ignore:
                self.stats.ignored += count
        return touched, patched

    def _apply_patch(
        self,
        plan: _Plan,
        hook: Hook,
        target_key: str | None,
        reply: Mapping[str, Any],
        index: int,
        current: list[Mapping[str, Any]],
        outcome: ItemOutcome,
    ) -> str | None:
        if target_key is None:
            return f"{hook.value} has nothing to patch"
        if not plan.spec.mutating:
            return "a validating plugin may not patch (register the hook as mutating)"
        item = current[index]
        target = item.get(target_key)
        try:
            if "patch" in reply:
                ops = reply["patch"]
                if not isinstance(ops, list):
                    return "'patch' must be a list of JSON Patch operations"
                target = jsonpatch.apply_patch(target, ops, in_place=False)
            if "mergePatch" in reply:
                target = merge_patch(target, reply["mergePatch"])
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError, KeyError, IndexError) as exc:
            return f"patch does not apply: {exc}"
        current[index] = {**item, target_key: target}
        outcome.target = target
        outcome.patched_by += (plan.manifest.name,)
        return None


def _body(envelope: ListEnvelope, data: bytes, packing: _Packed | None) -> tuple[bytes, bool]:
    """The body of a request of *data* in *envelope*, and whether it is deflated."""
    if packing is None:
        return envelope.wrap(data), False
    if packing.envelope is envelope:
        return packing.body, True
    return deflate(envelope.prefix, data, envelope.suffix), True  # another plugin's envelope


def _speculative_run(mutators: Sequence[_Plan]) -> Sequence[_Plan]:
    """The mutators to ask at once: the first one and the side-effect-free ones right after it."""
    end = 1
    while end < len(mutators) and not mutators[end].spec.side_effects:
        end += 1
    return mutators[:end]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; returns a new object, *target* is left as it was."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _with_ownership(hook: Hook, manifest: PluginManifest, predicate: ItemPredicate | None) -> ItemPredicate | None:
    """Add the implicit filters of owned placeholders and ``plugin:`` templates."""
    if hook is Hook.PARAMETERS_RESOLVE:
        owned = frozenset(manifest.placeholders)
        own: ItemPredicate = lambda item: item.get("scope") in owned  # noqa: E731
    elif hook is Hook.TEMPLATE_EXECUTE and manifest.templates:
        keys = frozenset(manifest.templates)

        def own(item: Mapping[str, Any]) -> bool:
            plugin = (item.get("template") or {}).get("plugin")
            return isinstance(plugin, Mapping) and not keys.isdisjoint(plugin)
    else:
        return predicate
    if predicate is None:
        return own
    return lambda item: own(item) and predicate(item)

