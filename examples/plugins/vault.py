"""Fill ``{{vault.<key>}}`` placeholders from an external secret store (here: environment variables).

    VAULT_DB_PASSWORD=s3cret hookbus plugin run examples/plugins/vault.py

``{{vault.db-password}}`` is answered with ``$VAULT_DB_PASSWORD``, marked secret, so
it reaches the process but no status, event, log or CLI output. Keys listed in
``$VAULT_PUBLIC_KEYS`` (comma-separated, e.g. ``region``) are plain configuration values,
not marked secret. A key with no variable gets no answer, which fails the node.
"""

from __future__ import annotations

import os
from typing import Any

from hookbus.bus import Plugin, value

plugin = Plugin("vault", version="1.0.0", description="resolves {{vault.*}} placeholders")


@plugin.parameters_resolve(scopes=["vault"])
def resolve(key: str, **kwargs: Any) -> dict[str, Any] | None:
    found = os.environ.get("VAULT_" + key.upper().replace("-", "_"))
    if found is None:
        return None
    public = {k.strip() for k in os.environ.get("VAULT_PUBLIC_KEYS", "").split(",") if k.strip()}
    return value(found, secret=key not in public)
