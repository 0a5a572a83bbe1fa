"""Argo ``http`` templates: one HTTP request run by the controller itself (no process)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from ..argo.errors import ArgoError
from ..argo.expr import evaluate_bool
from ..argo.types import Phase
from .http_guard import DestinationRefused, Network, opener
from .scope import format_value
from .tasks import TaskResult

if TYPE_CHECKING:
    from collections.abc import Mapping

_MAX_BODY = 256 * 1024
_DEFAULT_TIMEOUT = 30.0


def _request(spec: Mapping[str, Any], allowed: tuple[Network, ...]) -> tuple[int, str, dict[str, list[str]]]:
    headers = {
        str(h["name"]): format_value(h.get("value", ""))
        for h in spec.get("headers") or []
        if "name" in h and "value" in h
    }
    body = spec.get("body")
    data = None if body in (None, "") else format_value(body).encode()
    request = urllib.request.Request(
        str(spec["url"]), data=data, headers=headers, method=str(spec.get("method") or "GET")
    )
    timeout = float(spec.get("timeoutSeconds") or _DEFAULT_TIMEOUT)
    try:
        with opener(allowed).open(request, timeout=timeout) as response:
            status = int(response.status)
            raw = response.read(_MAX_BODY)
            got = {k: response.headers.get_all(k) or [] for k in response.headers}
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
        raw = exc.read(_MAX_BODY) if exc.fp is not None else b""
        got = {k: exc.headers.get_all(k) or [] for k in exc.headers} if exc.headers else {}
    return status, raw.decode("utf-8", errors="replace"), got


async def run_http(spec: Mapping[str, Any], allowed: tuple[Network, ...] = ()) -> TaskResult:
    """Send the request; Succeeded when ``successCondition`` (default: a 2xx status) holds.

    ``outputs.result`` is the response body. Connection problems end the node ``Error``
    (a retryStrategy with ``OnError`` retries them); a failed condition ends it ``Failed``.
    A destination :mod:`.http_guard` refuses (loopback, link-local, metadata ... unless in
    *allowed*) ends it ``Error`` with ``http request refused: ...``.
    """
    started = time.time()
    if not spec.get("url"):
        return TaskResult(Phase.ERROR.value, None, "http template without url", None, {}, None, started, time.time())
    try:
        status, body, headers = await asyncio.to_thread(_request, spec, allowed)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, DestinationRefused):
            return TaskResult(Phase.ERROR.value, None, f"http request refused: {exc.reason}", None, {}, None, started, time.time())
        return TaskResult(Phase.ERROR.value, None, f"http request failed: {exc}", None, {}, None, started, time.time())
    except (OSError, ValueError) as exc:
        return TaskResult(Phase.ERROR.value, None, f"http request failed: {exc}", None, {}, None, started, time.time())
    condition = spec.get("successCondition")
    try:
        if condition:
            env = {"response": {"statusCode": status, "body": body, "headers": headers}}
            ok = evaluate_bool(str(condition), env)
        else:
            ok = 200 <= status < 300
    except (ArgoError, ValueError) as exc:
        return TaskResult(Phase.ERROR.value, None, f"successCondition: {exc}", body, {}, None, started, time.time())
    message = "" if ok else f"received non-success status code {status}"
    if condition and not ok:
        message = f"successCondition {condition!r} evaluated false (status {status})"
    return TaskResult(Phase.SUCCEEDED.value if ok else Phase.FAILED.value, None, message, body, {}, None, started, time.time())
