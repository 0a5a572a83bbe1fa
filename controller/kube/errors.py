"""Errors of the Kubernetes API, by what the caller does about them."""

from __future__ import annotations

import json

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers a request is sent again after (with backoff): throttled or the server away."""


class KubeError(Exception):
    """The API server answered *status* (0: it could not be reached) with *reason* and *message*."""

    def __init__(self, status: int, reason: str = "", message: str = "", retry_after: float | None = None) -> None:
        text = message or reason or "no answer"
        super().__init__(f"Kubernetes API: {status} {text}" if status else f"Kubernetes API unreachable: {text}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (throttled, server error, unreachable)."""
        return self.status == 0 or self.status in RETRYABLE_STATUSES

    @classmethod
    def from_body(cls, status: int, body: bytes | str | None, retry_after: str | None = None) -> KubeError:
        """The error an API ``Status`` body describes (any other body becomes the message)."""
        reason = message = ""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        try:
            doc = json.loads(text) if text else {}
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            reason = str(doc.get("reason") or "")
            message = str(doc.get("message") or "")
        else:
            message = text[:200]
        delay: float | None = None
        if retry_after:
            try:
                delay = float(retry_after)
            except ValueError:
                delay = None
        return cls(status, reason, message, delay)


class NotFound(KubeError):
    """404: the object (or its resource type) does not exist."""


class Conflict(KubeError):
    """409: the object exists already, or changed since the ``resourceVersion`` a write named."""


class Gone(KubeError):
    """410: the ``resourceVersion`` a watch started from is too old; list again."""


BY_STATUS: dict[int, type[KubeError]] = {404: NotFound, 409: Conflict, 410: Gone}


def error_for(status: int, body: bytes | str | None, retry_after: str | None = None) -> KubeError:
    """The :class:`KubeError` subclass for *status*, filled from the answer's *body*."""
    error = KubeError.from_body(status, body, retry_after)
    kind = BY_STATUS.get(status)
    if kind is None:
        return error
    return kind(status, error.reason, error.message, error.retry_after)
