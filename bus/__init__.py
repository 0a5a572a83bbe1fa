"""hookbus.bus: the wire between the hookbus controller and its plugins.

The public surface is what this module exports; everything else in the
package is an implementation detail that may change between releases.
"""

from __future__ import annotations

from .codec import Encoding
from .control import ControlError, complete_node
from .dispatch import CallResult, Dispatcher, ItemOutcome, PluginCallError
from .errors import (
    BusError,
    ConfigError,
    ConnectError,
    DecodeError,
    EncodeError,
    PayloadTooLarge,
    ServerError,
)
from .hooks import Hook
from .manifest import FailurePolicy, Filters, HookSpec, PluginManifest, parse_manifest
from .registry import Registration, RegistryView
from .results import (
    allow,
    fail,
    hold,
    merge_patch,
    node_result,
    patch,
    reject,
    short_circuit,
    take_over,
    value,
    warn,
)
from .sdk import PermanentError, Plugin, PluginError, Request, TemporaryError
from .server import EmbeddedServer
from .settings import (
    BusSettings,
    DispatchSettings,
    EventSettings,
    NatsSettings,
    RegistrySettings,
)
from .wire import (
    PROTOCOL_VERSION,
    AdmissionResult,
    CompleteRequest,
    ControlReply,
    HookItem,
    HookReply,
    HookRequest,
    HookResult,
    NodeItem,
    NodeResult,
    Outputs,
    PlaceholderItem,
    PodItem,
    PodResult,
    PostExecuteResult,
    PreExecuteResult,
    RequestWorkflow,
    ResolveResult,
    TemplateExecuteItem,
    TemplateExecuteResult,
    WorkflowItem,
    WorkflowMeta,
)

__all__ = [
    "PROTOCOL_VERSION",
    "AdmissionResult",
    "CompleteRequest",
    "ControlReply",
    "HookItem",
    "HookReply",
    "HookRequest",
    "HookResult",
    "NodeItem",
    "NodeResult",
    "Outputs",
    "PlaceholderItem",
    "PodItem",
    "PodResult",
    "PostExecuteResult",
    "PreExecuteResult",
    "RequestWorkflow",
    "ResolveResult",
    "TemplateExecuteItem",
    "TemplateExecuteResult",
    "WorkflowItem",
    "WorkflowMeta",
    "BusError",
    "BusSettings",
    "CallResult",
    "ConfigError",
    "ConnectError",
    "ControlError",
    "DecodeError",
    "Dispatcher",
    "DispatchSettings",
    "EmbeddedServer",
    "EncodeError",
    "Encoding",
    "EventSettings",
    "FailurePolicy",
    "Filters",
    "Hook",
    "HookSpec",
    "ItemOutcome",
    "NatsSettings",
    "PayloadTooLarge",
    "PermanentError",
    "Plugin",
    "PluginCallError",
    "PluginError",
    "PluginManifest",
    "Registration",
    "RegistrySettings",
    "RegistryView",
    "Request",
    "ServerError",
    "TemporaryError",
    "allow",
    "complete_node",
    "fail",
    "hold",
    "merge_patch",
    "node_result",
    "parse_manifest",
    "patch",
    "reject",
    "short_circuit",
    "take_over",
    "value",
    "warn",
]
