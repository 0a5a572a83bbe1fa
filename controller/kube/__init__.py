"""Kubernetes mode: the API objects the controller reads and writes, and the pods it runs."""
