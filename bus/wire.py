"""The hook protocol, version 1, as types: every message shape, header and name on the wire.

What travels between the controller and its plugins is spelled here once:

- the protocol version (:data:`PROTOCOL_VERSION`, the ``v1`` of every subject and the
  ``v`` of every hook and control message) and the hook names (:class:`Hook`);
- the envelopes: a hook request ``{"v": 1, "hook", "plugin", "workflow": {"metadata":
  {...}}, "items": [...]}`` (:class:`HookRequest`) and its reply ``{"v": 1, "plugin",
  "results": [...]}`` (:class:`HookReply`), one result per item, in order;
- the items each hook sends (:class:`WorkflowItem`, :class:`NodeItem`, :class:`PodItem`,
  :class:`PlaceholderItem`, :class:`TemplateExecuteItem`) and the results a plugin may
  answer (:class:`AdmissionResult`, :class:`PreExecuteResult`, :class:`PostExecuteResult`,
  :class:`PodResult`, :class:`ResolveResult`, :class:`TemplateExecuteResult`);
- the control request a plugin sends when a node it took over ends
  (:class:`CompleteRequest`, answered by a :class:`ControlReply`);
- registration: the manifest a plugin puts in the registry bucket (:class:`ManifestDoc`)
  and the controller's TTL it reads there (:data:`REGISTRY_INFO_KEY`,
  :class:`RegistryInfo`, :data:`HEARTBEAT_SHARE`);
- the header names (:data:`H_ERROR_CODE`, :data:`H_TIMEOUT_MS`, ...) and error codes;
- request compression (:data:`H_CONTENT_ENCODING`, :data:`DEFLATE`, :data:`MAX_INFLATED`);
- the phases and decisions as ``Literal`` types;
- the "no opinion" reply (:func:`no_opinion_reply`), built here for both the SDK, which
  sends it, and the dispatcher, which recognises it by its bytes.

Item and result types describe what the protocol defines; a message decoded from the
wire is only checked as far as the dispatcher and the SDK say (a map, a list of maps),
so code that reads one still treats every key as possibly missing or of another type.
"""

# No ``from __future__ import annotations`` here: the TypedDicts must know at run time
# which of their keys are NotRequired (the manifest parser reads them).
import enum
from typing import Any, Final, Literal, NotRequired, TypedDict

from .codec import Encoding, encode

PROTOCOL_VERSION: Final = 1
"""The protocol version: ``v1`` in every subject, ``"v": 1`` in every message."""

JSON = dict[str, Any]
"""A decoded JSON/msgpack map whose shape this module does not spell out."""


class Hook(enum.StrEnum):
    """The blocking hooks, by their wire names (the last token of a hook subject)."""

    WORKFLOW_PRE_OPERATE = "workflow.preOperate"
    WORKFLOW_PRE_UPDATE = "workflow.preUpdate"
    NODE_PRE_EXECUTE = "node.preExecute"
    NODE_POST_EXECUTE = "node.postExecute"
    POD_PRE_CREATE = "pod.preCreate"
    PARAMETERS_RESOLVE = "parameters.resolve"
    TEMPLATE_EXECUTE = "template.execute"


# -- headers -------------------------------------------------------------------------

H_CONTENT_TYPE: Final = "Content-Type"
"""Set by the controller on every hook request (``application/msgpack`` or
``application/json``). A reply's own ``Content-Type`` is not read: the controller
decodes a reply in the encoding of the plugin's manifest."""
H_TIMEOUT_MS: Final = "Hookbus-Timeout-Ms"
"""Milliseconds the controller waits for the reply to this request."""
H_REQUEST_ID: Final = "Hookbus-Request-Id"
"""An id of the request, for logs."""
H_ERROR_CODE: Final = "Nats-Service-Error-Code"
"""On an error reply (empty body): the code, see the ``CODE_*`` constants."""
H_ERROR_TEXT: Final = "Nats-Service-Error"
"""On an error reply: a message for humans, at most :data:`ERROR_TEXT_MAX` characters."""
H_CONTENT_ENCODING: Final = "Content-Encoding"
"""On a hook request whose body is compressed: the coding (:data:`DEFLATE`). Only plugins
that list the coding in their manifest's ``compression`` get such requests."""
DEFLATE: Final = "deflate"
"""The one request compression: the body is the zlib format (RFC 1950) of the encoded
request, as HTTP's ``Content-Encoding: deflate``."""
MAX_INFLATED: Final = 16 * 1024 * 1024
"""Bytes a compressed request inflates to at most: the controller sends none larger, a
plugin may refuse (400) one that inflates past it."""
H_STATUS: Final = "Status"
"""Set by the NATS server on a reply it makes itself (:data:`STATUS_NO_RESPONDERS`)."""
STATUS_NO_RESPONDERS: Final = "503"
"""The server's ``Status`` when nobody is subscribed to a request's subject."""
ERROR_TEXT_MAX: Final = 1000
"""The most characters of an error message a plugin sends."""

CODE_BAD_REQUEST: Final = 400
"""The request could not be decoded."""
CODE_NOT_IMPLEMENTED: Final = 404
"""The plugin does not implement the hook: every item counts as "no opinion"."""
CODE_CONFLICT: Final = 409
"""A control request about something that already ended."""
CODE_TOO_LARGE: Final = 413
"""The reply would be larger than the server's ``max_payload``."""
CODE_FATAL: Final = 500
"""The plugin failed; the controller applies the failure policy."""
CODE_UNAVAILABLE: Final = 503
"""The plugin cannot answer now; the controller retries within the deadline."""

# -- phases and decisions --------------------------------------------------------------

NodePhase = Literal["Pending", "Running", "Succeeded", "Failed", "Error", "Skipped", "Omitted"]
"""Argo's node phases, as node objects in items carry them."""
ShortCircuitPhase = Literal["Succeeded", "Skipped", "Failed"]
"""The phases a ``shortCircuit`` decision may give a node."""
TemplatePhase = Literal["Pending", "Running", "Succeeded", "Failed", "Error"]
"""The phases a ``template.execute`` result may report (Argo's executor-plugin reply)."""
EndPhase = Literal["Succeeded", "Failed", "Error"]
"""The phases a plugin may report for a node it took over (:class:`CompleteRequest`)."""
Decision = Literal["shortCircuit", "takeOver", "hold", "fail"]
"""``node.preExecute`` decisions; no decision means "continue"."""
EventKind = Literal["workflow", "node", "pod", "plugin"]
"""The ``<kind>`` token of a notification subject."""
PluginEventPhase = Literal["rejected", "fail", "short-circuited", "taken-over", "held", "vetoed", "warning", "shadow"]
"""The ``<phase>`` token of a plugin notification: what a plugin's answer did (``shadow``:
what a shadow plugin said, which took no effect)."""
PodEventPhase = Literal["created"]
"""The ``<phase>`` token of a pod notification."""

# -- envelopes --------------------------------------------------------------------------


class WorkflowMeta(TypedDict):
    """The metadata of the workflow a hook call is about; every request carries it."""

    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]


class RequestWorkflow(TypedDict):
    """The ``workflow`` field of a hook request."""

    metadata: WorkflowMeta


class HookRequestHead(TypedDict):
    """A hook request without its items: the part the dispatcher encodes once per plugin."""

    v: int
    hook: str
    plugin: str
    workflow: RequestWorkflow
    capability: NotRequired[str]
    """``node.preExecute`` only: the plugin's take-over capability for this workflow, which a
    ``complete`` report of a node it took over must carry (:mod:`hookbus.bus.auth_takeover`)."""


class HookRequest(HookRequestHead):
    """A hook request (subject ``hookbus.hook.v1.<plugin>.<hook>``): items of one call."""

    items: list[JSON]


class HookReply(TypedDict):
    """The reply to a hook request: one result per item, in order; ``{}`` is no opinion."""

    v: int
    plugin: str
    results: list[JSON]


# -- items ------------------------------------------------------------------------------


class WorkflowItem(TypedDict):
    """``workflow.preOperate`` (``metadata`` and ``spec``) and ``workflow.preUpdate``
    (``metadata`` and ``status``) item; ``id`` is the workflow's uid (else its name)."""

    id: str
    workflow: JSON


class NodeItem(TypedDict):
    """``node.preExecute`` and ``node.postExecute`` item; ``id`` is the node id."""

    id: str
    node: JSON
    template: JSON


class PodItem(TypedDict):
    """``pod.preCreate`` item: the node and the Kubernetes Pod it would run as."""

    id: str
    node: JSON
    pod: JSON


class PlaceholderItem(TypedDict):
    """``parameters.resolve`` item: one ``{{<scope>.<key>}}`` placeholder; ``id`` is the placeholder."""

    id: str
    placeholder: str
    scope: str
    key: str


class TemplateExecuteItem(TypedDict):
    """``template.execute`` item: a node of a ``plugin:`` template (``template["plugin"]``)."""

    id: str
    node: JSON
    template: JSON


HookItem = WorkflowItem | NodeItem | PodItem | PlaceholderItem | TemplateExecuteItem
"""Any hook's item."""

# -- results ----------------------------------------------------------------------------


class Outputs(TypedDict, total=False):
    """A node's outputs, as Argo writes them."""

    parameters: list[JSON]
    artifacts: list[JSON]
    result: str
    exitCode: str


class AdmissionResult(TypedDict, total=False):
    """What every hook understands: a rejection (veto, failure), warnings, a patch of the
    hook's target (mutating registrations of hooks that have one)."""

    allowed: bool
    message: str
    warnings: list[str]
    patch: list[JSON]
    """JSON Patch operations (RFC 6902)."""
    mergePatch: JSON
    """A JSON merge patch (RFC 7386)."""


class PreExecuteResult(TypedDict, total=False):
    """``node.preExecute``: continue (no decision), short-circuit, take over, hold, or fail."""

    decision: Decision
    phase: ShortCircuitPhase
    """``shortCircuit`` only."""
    outputs: Outputs
    """``shortCircuit`` only: the outputs that feed downstream."""
    requeue: float
    """``takeOver`` (optional) and ``hold`` (required): seconds until the controller asks again."""
    message: str
    allowed: bool
    warnings: list[str]


class PostExecuteResult(AdmissionResult, total=False):
    """``node.postExecute``: a patch of the ``node`` target (``outputs``, ``message``)."""


class PodResult(AdmissionResult, total=False):
    """``pod.preCreate``: a patch of the ``pod`` target, or a veto (``allowed: false``)."""


class ResolveResult(TypedDict, total=False):
    """``parameters.resolve``: the placeholder's value; a *secret* one is redacted everywhere."""

    value: str
    secret: bool
    warnings: list[str]


class NodeResult(TypedDict):
    """The ``node`` of a ``template.execute`` result."""

    phase: TemplatePhase
    message: NotRequired[str]
    outputs: NotRequired[Outputs]


class TemplateExecuteResult(TypedDict, total=False):
    """``template.execute``: Argo's executor-plugin reply; ``{}`` means "not mine"."""

    node: NodeResult
    requeue: float
    warnings: list[str]


HookResult = AdmissionResult | PreExecuteResult | ResolveResult | TemplateExecuteResult
"""Any hook's result."""

# -- control requests -------------------------------------------------------------------


class CompleteRequest(TypedDict):
    """``hookbus.control.v1.workflow.complete`` (JSON): a node a plugin took over ended."""

    v: int
    namespace: str
    name: str
    """The workflow's name."""
    node: str
    """The node's id (or its name)."""
    phase: EndPhase
    message: NotRequired[str]
    outputs: NotRequired[JSON]


class ControlErrorBody(TypedDict):
    """The ``error`` of a refused control request; ``code`` follows HTTP."""

    code: int
    message: str


class ControlReply(TypedDict):
    """The controller's answer to a control request."""

    v: int
    ok: bool
    result: NotRequired[JSON]
    error: NotRequired[ControlErrorBody]


# -- registration ------------------------------------------------------------------------


class FiltersDoc(TypedDict, total=False):
    """A hook spec's ``filters``: all given fields must match; none given matches all."""

    namespaces: list[str]
    labels: dict[str, str]
    templates: list[str]
    templateTypes: list[str]
    images: list[str]
    expression: str


class HookSpecDoc(TypedDict, total=False):
    """How a plugin takes part in one hook, in its manifest."""

    timeout: float
    failurePolicy: Literal["Fail", "Ignore"]
    priority: int
    mutating: bool
    filters: FiltersDoc
    fields: list[str]
    shadow: bool
    maxBatch: int
    sideEffects: bool


class ManifestDoc(TypedDict):
    """A plugin's manifest, the JSON value of its registry key ``<plugin>.<instance>``."""

    name: str
    version: NotRequired[str]
    protocol: NotRequired[int]
    encoding: NotRequired[Literal["msgpack", "json"]]
    heartbeat: NotRequired[float]
    description: NotRequired[str]
    hooks: NotRequired[dict[str, HookSpecDoc]]
    placeholders: NotRequired[list[str]]
    templates: NotRequired[list[str]]
    compression: NotRequired[list[str]]
    """Request codings the plugin inflates (``["deflate"]``); list only those the registry's
    :class:`RegistryInfo` offers, since a controller refuses manifests with fields it does not know."""


REGISTRY_INFO_KEY: Final = "_registry"
"""The key of the registry bucket where the controller says how it reads the bucket
(:class:`RegistryInfo`). Plugin names never start with ``_``, so no plugin's key is it."""
HEARTBEAT_SHARE: Final = 1 / 3
"""A plugin refreshes its key at least every ``ttl * HEARTBEAT_SHARE`` seconds: two lost
heartbeats in a row still leave it live."""
MIN_HEARTBEAT: Final = 0.1
"""Seconds a plugin waits at least between two heartbeats, whatever TTL the bucket says
(a tiny or forged TTL must not turn heartbeats into a busy loop)."""


class RegistryInfo(TypedDict):
    """The value (JSON) of :data:`REGISTRY_INFO_KEY`, written by the controller."""

    v: int
    ttl: float
    """Seconds after its last put that the controller counts a plugin instance as gone."""
    compression: NotRequired[list[str]]
    """Request codings this controller can send (``["deflate"]``): a plugin may list them in
    its manifest's ``compression``. Absent: the controller knows no ``compression`` field."""


# -- the "no opinion" reply -------------------------------------------------------------

_NO_OPINION: dict[tuple[str, Encoding, int], bytes] = {}
_NO_OPINION_LIMIT: Final = 4096


def no_opinion_reply(plugin: str, count: int, encoding: Encoding = Encoding.MSGPACK) -> bytes:
    """The encoded reply of *plugin* with no opinion on any of *count* items.

    The SDK sends these bytes and the dispatcher compares a reply with them, which
    spares both a decode and a merge of the common answer. Made once per plugin,
    count and encoding.
    """
    key = (plugin, encoding, count)
    data = _NO_OPINION.get(key)
    if data is None:
        if len(_NO_OPINION) >= _NO_OPINION_LIMIT:
            _NO_OPINION.clear()
        reply: HookReply = {"v": PROTOCOL_VERSION, "plugin": plugin, "results": [{}] * count}
        data = _NO_OPINION[key] = encode(reply, encoding)
    return data
