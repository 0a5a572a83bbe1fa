"""Kubernetes: the API layer hookbus uses to run Workflows from a cluster and write their status back."""
