"""Adapters: the engine's ports implemented over NATS/JetStream and the bus.

The engine (:mod:`hookbus.controller.engine`) never imports this package; the
composition root wires these implementations into it.
"""
