"""The workflow engine: node model, scheduling, per-workflow workers, the Controller."""
