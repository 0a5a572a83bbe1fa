"""hookbus.bus: the wire between the hookbus controller and its plugins.

The public surface is what this module exports; everything else in the
package is an implementation detail that may change between releases.
"""

from __future__ import annotations

from hookbus.bus.codec import Encoding
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
    "ConfigError",
    "ConnectError",
    "DecodeError",
    "DispatchSettings",
    "EmbeddedServer",
    "EncodeError",
    "Encoding",
    "EventSettings",
    "Hook",
    "NatsSettings",
    "PayloadTooLarge",
    "RegistrySettings",
    "ServerError",
]
