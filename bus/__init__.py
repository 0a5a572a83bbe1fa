"""hookbus.bus: the wire between the hookbus controller and its plugins.

The public surface is what this module exports; everything else in the
package is an implementation detail that may change between releases.
"""

from __future__ import annotations

from hookbus.bus.codec import Encoding
from hookbus.bus.control import ControlError, complete_node
from hookbus.bus.dispatch import CallResult, Dispatcher, ItemOutcome, PluginCallError
from hookbus.bus.errors import (
    BusError,
    ConfigError,
    ConnectError,
    DecodeError,
    EncodeError,
    PayloadTooLarge,
    ServerError,
)
from hookbus.bus.hooks import Hook
from hookbus.bus.manifest import FailurePolicy, Filters, HookSpec, PluginManifest, parse_manifest
from hookbus.bus.registry import Registration, RegistryView
from hookbus.bus.results import (
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
from hookbus.bus.sdk import PermanentError, Plugin, PluginError, Request, TemporaryError
from hookbus.bus.server import EmbeddedServer
from hookbus.bus.settings import (
    BusSettings,
    DispatchSettings,
    EventSettings,
    NatsSettings,
    RegistrySettings,
)

__all__ = [
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
