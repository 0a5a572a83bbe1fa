"""Executors: where a node's work runs (local processes, simulation; Kubernetes later)."""
