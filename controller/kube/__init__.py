"""Kubernetes mode: the API layer that runs Workflows from a cluster and writes their status back, and the pods nodes become."""
