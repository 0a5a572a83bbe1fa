"""Durable workflow state on a JetStream key-value bucket (no extra server).

Layout of the bucket (default ``hookbus-workflows``), one KV key per record::

    wf.<namespace>.<name>            the workflow object without status.nodes
    nd.<namespace>.<name>.<node>     one node of status.nodes

One key per node (rather than chunks of nodes) keeps every write of a
scheduling pass proportional to the nodes that changed, keeps each value far
below the server's ``max_payload`` however large the workflow grows, and lets a
100k-node workflow be written and read back in a few seconds (see
``benchmarks/store_bench.py``). Values are msgpack.

Names become key tokens reversibly: Kubernetes names (``[a-z0-9.-]``) write
``.`` as ``_`` (as the bus subjects do); a node id that is not made of
``[A-Za-z0-9-]`` only is written as ``=`` followed by its unpadded base64url
form. Node ids are also stored inside their values, so reading never has to
decode a key.

Writes of one pass go out as pipelined JetStream publishes
(:class:`hookbus.bus.pubwire.AckPipe`) and :meth:`WorkflowStore.put_nodes`
returns only once the server acknowledged every one of them (persist, then
notify). Reads use an ordered consumer that delivers
the last value of every key, so a full reload is one stream pass.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

import nats.js.errors
import ormsgpack
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, KeyValueConfig

from ...bus import pubwire
from ...bus.subjects import name_token, token_name
from ..engine.ports import RevisionConflict, StoredWorkflow, WorkflowKey

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

log = structlog.get_logger(__name__)

DEFAULT_BUCKET = "hookbus-workflows"
_WF = "wf"
_ND = "nd"
_PLAIN_ID = re.compile(r"^[A-Za-z0-9-]+$")
_KV_OPERATION = "KV-Operation"
_EXPECTED_SEQ = "Nats-Expected-Last-Subject-Sequence"
"""Write only if the last sequence of a subject is this one (0: the subject has none)."""
_EXPECTED_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
"""The subject :data:`_EXPECTED_SEQ` checks, when not the one written (node writes check the workflow's)."""
_WRONG_SEQUENCE = 10071
"""JetStream's error code for a failed :data:`_EXPECTED_SEQ` check."""

__all__ = ["DEFAULT_BUCKET", "RevisionConflict", "StoreError", "StoredWorkflow", "WorkflowKey", "WorkflowStore"]
_SCAN_BATCH = 2000


class StoreError(Exception):
    """The store could not read or write durable state.

    ``retryable`` says whether trying again may help (a server that is away or
    slow) or not (a record that can never be stored, such as one too large).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def node_token(node_id: str) -> str:
    """A node id as one KV key token (injective; see the module docstring)."""
    if _PLAIN_ID.match(node_id):
        return node_id
    encoded = base64.urlsafe_b64encode(node_id.encode()).decode().rstrip("=")
    return "=" + encoded


def token_node(token: str) -> str:
    """Inverse of :func:`node_token`."""
    if not token.startswith("="):
        return token
    body = token[1:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def workflow_key_name(key: WorkflowKey) -> str:
    """The KV key holding the workflow object of *key*."""
    return f"{_WF}.{name_token(key.namespace)}.{name_token(key.name)}"


def nodes_prefix(key: WorkflowKey) -> str:
    """The KV key prefix (with trailing dot) of the nodes of *key*."""
    return f"{_ND}.{name_token(key.namespace)}.{name_token(key.name)}."


def _pack(value: Any) -> bytes:
    return ormsgpack.packb(value)


def _unpack(data: bytes) -> Any:
    return ormsgpack.unpackb(data)


class WorkflowStore:
    """Workflows and their nodes in a JetStream KV bucket.

    Writes are conditional (see :class:`~.engine.ports.WorkflowStore`): the revision of a
    workflow is the stream sequence of its ``wf`` record. A workflow write expects that
    sequence on its own key, a node write expects it on the workflow's key (JetStream's
    ``Nats-Expected-Last-Subject-Sequence-Subject``), so a node write of a stale owner
    is refused even though it touches other keys.

    ``js`` is a JetStream context of a connected client; call :meth:`open` once
    before use. ``timeout`` bounds every server round trip (and the wait for the
    acknowledgements of one :meth:`put_nodes`, per 10k records).
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        bucket: str = DEFAULT_BUCKET,
        timeout: float = 10.0,
    ) -> None:
        self._js = js
        self.bucket = bucket
        self.timeout = timeout
        self._stream = f"KV_{bucket}"
        self._prefix = f"$KV.{bucket}."
        self._opened = False
        self._acks = pubwire.AckPipe(js)

    async def open(self) -> None:
        """Create the bucket if it does not exist yet (file storage, history 1). Idempotent."""
        if self._opened:
            return
        try:
            await self._js.key_value(self.bucket)
        except nats.js.errors.BucketNotFoundError:
            try:
                await self._js.create_key_value(KeyValueConfig(bucket=self.bucket, history=1))
            except nats.js.errors.Error as exc:
                raise StoreError(f"cannot create KV bucket {self.bucket!r}: {exc}", retryable=True) from exc
        except nats.errors.Error as exc:
            raise StoreError(f"cannot open KV bucket {self.bucket!r}: {exc}", retryable=True) from exc
        await self._acks.start()
        self._opened = True

    async def close(self) -> None:
        """Stop listening for acknowledgements (the connection stays open). Idempotent."""
        await self._acks.stop()
        self._opened = False

    # -- writes ---------------------------------------------------------------

    async def put_workflow(self, key: WorkflowKey, workflow: dict[str, Any], revision: int) -> int:
        """Store the workflow object (``status.nodes`` is left out) if it is still at
        *revision* (``0``: not stored); returns its new revision."""
        status = workflow.get("status")
        if isinstance(status, dict) and "nodes" in status:
            workflow = {**workflow, "status": {k: v for k, v in status.items() if k != "nodes"}}
        payload = _pack(workflow)
        subject = self._prefix + workflow_key_name(key)
        try:
            ack = await self._js.publish(subject, payload, timeout=self.timeout, headers={_EXPECTED_SEQ: str(revision)})
        except nats.js.errors.APIError as exc:
            if exc.err_code == _WRONG_SEQUENCE:
                raise RevisionConflict(key, revision, str(exc.description or "")) from exc
            raise StoreError(f"cannot store workflow {key}: {exc}", retryable=True) from exc
        except nats.errors.MaxPayloadError as exc:
            raise StoreError(
                f"workflow {key} is {len(payload)} bytes encoded, more than the NATS server's "
                "max_payload; shrink the manifest or raise max_payload",
                retryable=False,
            ) from exc
        except (nats.errors.Error, OSError) as exc:
            raise StoreError(f"cannot store workflow {key}: {exc or type(exc).__name__}", retryable=True) from exc
        return int(ack.seq)

    async def put_nodes(self, key: WorkflowKey, nodes: Mapping[str, dict[str, Any]], revision: int) -> int:
        """Store these nodes (by id) while the workflow is at *revision*; returns once the
        server acknowledged every write (the revision, which node writes leave as it was).

        Writes that found the workflow at another revision are refused one by one
        (:class:`RevisionConflict`); the others of the batch may have been stored."""
        if not nodes:
            return revision
        prefix = self._prefix + nodes_prefix(key)
        records = [(prefix + node_token(node_id), _pack(node)) for node_id, node in nodes.items()]
        await self._publish_all(key, records, revision)
        return revision

    async def delete_nodes(self, key: WorkflowKey, ids: Iterable[str], revision: int) -> int:
        """Remove these nodes (ids that are not stored are ignored) while the workflow is at *revision*."""
        prefix = self._prefix + nodes_prefix(key)
        records = [(prefix + node_token(node_id), b"") for node_id in ids]
        if records:
            await self._publish_all(key, records, revision, {_KV_OPERATION: "DEL"})
        return revision

    async def _publish_all(
        self,
        key: WorkflowKey,
        records: list[tuple[str, bytes]],
        revision: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        deadline = self.timeout * (1 + len(records) // 10_000)
        fenced = {
            **(headers or {}),
            _EXPECTED_SEQ: str(revision),
            _EXPECTED_SUBJECT: self._prefix + workflow_key_name(key),
        }
        try:
            await self._acks.publish_all(records, fenced, deadline)
        except TimeoutError as exc:
            raise StoreError(
                f"the NATS server did not acknowledge {len(records)} writes for workflow {key} "
                f"within {deadline:.0f}s",
                retryable=True,
            ) from exc
        except nats.errors.MaxPayloadError as exc:
            raise StoreError(
                f"a node of workflow {key} is larger than the NATS server's max_payload",
                retryable=False,
            ) from exc
        except (nats.errors.Error, OSError) as exc:
            raise StoreError(f"cannot store nodes of workflow {key}: {exc or type(exc).__name__}", retryable=True) from exc
        except pubwire.AckRejected as exc:
            if await self._moved_from(key, revision):
                raise RevisionConflict(key, revision, str(exc)) from exc
            raise StoreError(f"the NATS server refused nodes of workflow {key}: {exc}", retryable=True) from exc

    async def _moved_from(self, key: WorkflowKey, revision: int) -> bool:
        """Whether the workflow record of *key* is no longer at *revision* (the fence of node writes).

        Asked after the server refused node writes: a write refused because the fence did
        not hold is a conflict, any other refusal is an error worth retrying. When the
        revision cannot be read, the refusal is treated as the latter.
        """
        try:
            last = await self._js.get_last_msg(self._stream, self._prefix + workflow_key_name(key))
        except nats.js.errors.NotFoundError:
            return revision != 0
        except (nats.errors.Error, TimeoutError):
            return False
        return int(last.seq or 0) != revision

    async def delete(self, key: WorkflowKey, revision: int) -> None:
        """Remove the workflow and all its nodes if it is still at *revision* (the stream is
        purged, no markers stay)."""
        subject = self._prefix + workflow_key_name(key)
        try:
            # the condition: a delete marker that only lands on the expected revision
            await self._js.publish(
                subject, b"", timeout=self.timeout, headers={_KV_OPERATION: "DEL", _EXPECTED_SEQ: str(revision)}
            )
        except nats.js.errors.APIError as exc:
            if exc.err_code == _WRONG_SEQUENCE:
                raise RevisionConflict(key, revision, str(exc.description or "")) from exc
            raise StoreError(f"cannot delete workflow {key}: {exc}", retryable=True) from exc
        except (nats.errors.Error, TimeoutError) as exc:
            raise StoreError(f"cannot delete workflow {key}: {exc or type(exc).__name__}", retryable=True) from exc
        try:
            await self._js.purge_stream(self._stream, subject=self._prefix + nodes_prefix(key) + ">")
            await self._js.purge_stream(self._stream, subject=self._prefix + workflow_key_name(key))
        except (nats.errors.Error, TimeoutError) as exc:
            raise StoreError(f"cannot delete workflow {key}: {exc or type(exc).__name__}", retryable=True) from exc

    # -- reads ----------------------------------------------------------------

    async def load(self, key: WorkflowKey) -> StoredWorkflow | None:
        """The stored workflow *key* with its nodes, or ``None`` if it is not stored."""
        found = await self._scan(self._prefix + workflow_key_name(key))
        if not found:
            return None
        _subject, data, seq = found[0]
        nodes: dict[str, dict[str, Any]] = {}
        for subject, node_data, _seq in await self._scan(self._prefix + nodes_prefix(key) + ">"):
            self._add_node(nodes, subject, node_data)
        return StoredWorkflow(key=key, workflow=_unpack(data), nodes=nodes, revision=seq)

    async def keys(self) -> list[WorkflowKey]:
        """Every stored workflow's key."""
        found = await self._scan(self._prefix + _WF + ".>", headers_only=True)
        return [self._workflow_key(subject) for subject, _data, _seq in found]

    async def load_all(self) -> list[StoredWorkflow]:
        """Every stored workflow with its nodes (one pass over the bucket)."""
        workflows: dict[WorkflowKey, StoredWorkflow] = {}
        by_prefix: dict[str, dict[str, dict[str, Any]]] = {}
        wf_prefix = self._prefix + _WF + "."
        skip = len(self._prefix)
        for subject, data, seq in await self._scan(self._prefix + ">"):
            if subject.startswith(wf_prefix):
                wkey = self._workflow_key(subject)
                workflows[wkey] = StoredWorkflow(key=wkey, workflow=_unpack(data), revision=seq)
                continue
            prefix, _, token = subject.rpartition(".")
            nodes = by_prefix.get(prefix)
            if nodes is None:
                nodes = by_prefix[prefix] = {}
            value = _unpack(data)
            node_id = value.get("id") if isinstance(value, dict) else None
            nodes[node_id if isinstance(node_id, str) else token_node(token)] = value
        orphans = []
        for prefix, nodes in by_prefix.items():
            wkey = self._workflow_key(prefix[skip:] + ".")
            if wkey in workflows:
                workflows[wkey].nodes = nodes
            else:
                orphans.append(str(wkey))
        if orphans:
            log.warning("nodes stored without their workflow; ignored", workflows=sorted(orphans))
        return list(workflows.values())

    def _add_node(self, nodes: dict[str, dict[str, Any]], subject: str, data: bytes) -> None:
        value = _unpack(data)
        node_id = value.get("id") if isinstance(value, dict) else None
        if not isinstance(node_id, str):
            node_id = token_node(subject.rsplit(".", 1)[1])
        nodes[node_id] = value

    def _workflow_key(self, subject: str) -> WorkflowKey:
        """The workflow of a ``wf.<ns>.<name>`` or ``nd.<ns>.<name>.<node>`` key (prefix optional)."""
        if subject.startswith(self._prefix):
            subject = subject[len(self._prefix) :]
        parts = subject.split(".")
        return WorkflowKey(token_name(parts[1]), token_name(parts[2]))

    async def _scan(self, subject: str, *, headers_only: bool = False) -> list[tuple[str, bytes, int]]:
        """The live value of every key matching *subject*: (subject, data, stream sequence).

        An ephemeral pull consumer (last value per subject, no acks) is drained
        in pipelined batches into a plain subscription: bounded in flight (the
        server never sees a slow consumer) and without nats-py's per-message
        JetStream bookkeeping, which would cost more than everything else here.
        """
        try:
            stream = await self._js.stream_info(self._stream)
        except (nats.errors.Error, TimeoutError) as exc:
            raise StoreError(f"cannot read KV bucket {self.bucket!r}: {exc or type(exc).__name__}", retryable=True) from exc
        if not stream.state.messages:
            return []
        nc = self._acks.nc
        inbox = nc.new_inbox()
        out: list[tuple[str, bytes, int]] = []
        progress = asyncio.Event()
        state = {"received": 0, "ended": False, "total": 0}

        async def on_message(msg: Msg) -> None:
            headers = msg.headers
            if headers and "Status" in headers:
                state["ended"] = True  # 404 no messages / 408 expired: the consumer has nothing more
                progress.set()
                return
            state["received"] += 1
            if not (headers and _KV_OPERATION in headers):
                # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>... (v1, 9 tokens) or with domain and account (v2)
                tokens = msg.reply.split(".")
                out.append((msg.subject, msg.data, int(tokens[5] if len(tokens) == 9 else tokens[7])))
            if state["received"] % _SCAN_BATCH == 0 or state["received"] >= state["total"]:
                progress.set()

        sub = await nc.subscribe(inbox, cb=on_message)
        consumer: str | None = None
        try:
            info = await self._js.add_consumer(
                self._stream,
                ConsumerConfig(
                    deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                    ack_policy=AckPolicy.NONE,
                    filter_subject=subject,
                    headers_only=headers_only or None,
                    inactive_threshold=60.0,
                    mem_storage=True,
                    num_replicas=1,
                ),
            )
            consumer = info.name
            total = state["total"] = info.num_pending or 0
            api_prefix = getattr(self._js, "_prefix", "$JS.API")  # the context's API prefix (domains)
            next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{self._stream}.{consumer}"
            requested = 0
            async with asyncio.timeout(self.timeout * (6 + total // 50_000)):
                while state["received"] < total and not state["ended"]:
                    while requested < total and requested - state["received"] < 2 * _SCAN_BATCH:
                        size = min(_SCAN_BATCH, total - requested)
                        request = json.dumps({"batch": size, "no_wait": True}).encode()
                        await nc.publish(next_subject, request, reply=inbox)
                        requested += size
                    progress.clear()
                    if state["received"] < total and not state["ended"]:
                        await progress.wait()
        except TimeoutError as exc:
            raise StoreError(
                f"reading KV bucket {self.bucket!r} stalled after {state['received']} records", retryable=True
            ) from exc
        except nats.errors.Error as exc:
            raise StoreError(f"cannot read KV bucket {self.bucket!r}: {exc}", retryable=True) from exc
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
            if consumer is not None:
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await self._js.delete_consumer(self._stream, consumer)
        return out
