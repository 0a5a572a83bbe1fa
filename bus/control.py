"""Requests from plugins to the controller: report the end of a node a plugin took over.

A plugin that answered ``node.preExecute`` with ``take_over()`` runs the node
itself and reports its end with :func:`complete_node` (a request on
``hookbus.control.v1.workflow.complete``, JSON like every control verb). The
controller finishes the node as if it had run it: its outputs feed downstream
parameters, and ``node.postExecute`` and the notifications follow as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from . import subjects
from .codec import Encoding, decode_map, encode
from .errors import BusError, DecodeError
from .wire import CODE_FATAL, CODE_UNAVAILABLE, PROTOCOL_VERSION, CompleteRequest, EndPhase, Outputs

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nats.aio.client import Client

COMPLETE_SUBJECT = subjects.control("workflow.complete")


class ControlError(BusError):
    """The controller refused or could not take a control request. ``code`` follows HTTP."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.retryable = code == CODE_UNAVAILABLE
        super().__init__(f"{message} ({code})")


async def complete_node(
    nc: Client,
    *,
    workflow: str,
    node_id: str,
    phase: EndPhase,
    namespace: str = "default",
    message: str = "",
    outputs: Outputs | Mapping[str, Any] | None = None,
    timeout: float = 5.0,
) -> None:
    """Tell the controller that the node *node_id* of *workflow* ended in *phase*.

    Raises :class:`ControlError` (404 unknown workflow or node, 409 node already
    finished, 503 no controller answering: retry).
    """
    body: CompleteRequest = {"v": PROTOCOL_VERSION, "namespace": namespace, "name": workflow, "node": node_id, "phase": phase}
    if message:
        body["message"] = message
    if outputs is not None:
        body["outputs"] = dict(outputs)
    try:
        reply = await nc.request(COMPLETE_SUBJECT, encode(body, Encoding.JSON), timeout=timeout)
    except NoRespondersError:
        raise ControlError(CODE_UNAVAILABLE, "no controller is answering control requests") from None
    except (NatsTimeoutError, TimeoutError):
        raise ControlError(CODE_UNAVAILABLE, f"the controller did not answer within {timeout}s") from None
    try:
        answer = decode_map(reply.data, Encoding.JSON, subject=COMPLETE_SUBJECT)
    except DecodeError as exc:
        raise ControlError(CODE_FATAL, f"malformed reply from the controller: {exc.reason}") from None
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise ControlError(int(error.get("code", CODE_FATAL)), str(error.get("message", "the controller refused the request")))
