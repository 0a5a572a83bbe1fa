"""The Argo Workflows language: manifests, lint, expressions, substitution, names."""
