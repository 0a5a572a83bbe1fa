"""The client commands with ``--kubernetes``: Workflow objects read and written through the
Kubernetes API instead of a hookbus server's control API.

``submit`` creates the Workflow object (labelled with the instance id the server takes,
``hookbus`` by default); a ``hookbus server --kubernetes`` runs it and writes its status
back, which ``get``, ``list`` and ``watch`` show; ``logs`` reads the pods' logs
(``pods/log``); ``delete`` deletes the object; ``suspend``/``resume`` set
``spec.suspend`` and ``stop``/``terminate`` set ``spec.shutdown``, as Argo's CLI does.
The API server is found as kubectl finds it: ``--kubeconfig`` (and ``--context``), else
``$KUBECONFIG``, else ``~/.kube/config``; ``--kube-server URL`` reaches a server without
credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING, Any

from ..argo.labels import INSTANCE_LABEL, NODE_ID_ANNOTATION, NODE_NAME_ANNOTATION, WORKFLOW_LABEL
from ..argo.types import FULFILLED
from ..kube.config import CLI, connect, user_agent
from ..kube.errors import KubeError, NotFound
from ..kube.resources import PODS, WORKFLOWS
from . import render
from .common import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    emit,
    exit_code_for,
    first_of,
    load_input,
    name_workflow,
    parse_parameters,
    signal_exit,
    stop_signals,
    until_final,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Awaitable, Callable

    from ..kube.client import KubeClient

    Command = Callable[[argparse.Namespace], Awaitable[int]]

POLL_SECONDS = 1.0
"""How often ``logs -f`` reads the pods' logs again."""


def either(over_nats: Command, over_cluster: Command) -> Command:
    """The command to run: *over_cluster* with ``--kubernetes``, else *over_nats*."""

    async def command(args: argparse.Namespace) -> int:
        if getattr(args, "kubernetes", False):
            return await over_cluster(args)
        return await over_nats(args)

    command.__doc__ = over_nats.__doc__
    return command


@contextlib.asynccontextmanager
async def cluster_client(args: argparse.Namespace) -> AsyncIterator[KubeClient]:
    """A client of the API server the flags (or kubectl's defaults) name; API errors become
    one-line CLI errors."""
    try:
        client = await connect(
            server=getattr(args, "kube_server", None) or "",
            kubeconfig=getattr(args, "kubeconfig", None),
            context=getattr(args, "context", None),
            agent=user_agent(CLI),
        )
    except KubeError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from None
    try:
        yield client
    except NotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from None
    except KubeError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE if exc.retryable else EXIT_USAGE) from None
    finally:
        await client.close()


def _phase(workflow: dict[str, Any]) -> str:
    return str((workflow.get("status") or {}).get("phase") or "")


async def _get(client: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    try:
        return await client.get(WORKFLOWS, namespace, name)
    except NotFound:
        raise CliError(f'workflow "{name}" not found in namespace {namespace!r}', EXIT_NOT_FOUND) from None


async def _follow(client: KubeClient, namespace: str, name: str, display: render.LiveDisplay | None = None) -> dict[str, Any]:
    """The Workflow object once its status shows a final phase (watching it until then)."""
    workflow = await _get(client, namespace, name)
    while True:
        if display is not None:
            display.update(workflow)
        if _phase(workflow) in FULFILLED:
            return workflow
        version = str((workflow.get("metadata") or {}).get("resourceVersion") or "")
        try:
            async for event in client.watch(WORKFLOWS, namespace, version, field_selector=f"metadata.name={name}", timeout_seconds=60):
                if event.get("type") == "DELETED":
                    raise CliError(f'workflow "{name}" was deleted', EXIT_NOT_FOUND)
                obj = event.get("object")
                if event.get("type") in ("ADDED", "MODIFIED") and isinstance(obj, dict):
                    workflow = obj
                    if display is not None:
                        display.update(workflow)
                    if _phase(workflow) in FULFILLED:
                        return workflow
        except KubeError as exc:
            if exc.status not in (0, 410):
                raise
        workflow = await _get(client, namespace, name)  # the stream ended: read it again


async def submit(args: argparse.Namespace) -> int:
    """``hookbus submit --kubernetes FILE``: create the Workflow objects."""
    if args.templates:
        raise CliError("-t is not used with --kubernetes: create WorkflowTemplates and ConfigMaps in the cluster", EXIT_USAGE)
    _bundle, workflows = load_input([args.file])
    if not workflows:
        raise CliError(f"{args.file}: no Workflow document in it (kind: Workflow)", EXIT_USAGE)
    parameters = parse_parameters(args.parameter)
    instance = getattr(args, "instance_id", None)
    instance = "hookbus" if instance is None else instance
    code = EXIT_OK
    async with cluster_client(args) as client:
        for _source, workflow in workflows:
            meta = name_workflow(workflow, args)
            if instance:
                meta["labels"] = {**(meta.get("labels") or {}), INSTANCE_LABEL: instance}
            if parameters:
                spec = workflow.setdefault("spec", {})
                given = [p for p in (spec.get("arguments") or {}).get("parameters") or [] if p.get("name") not in parameters]
                spec["arguments"] = {
                    **(spec.get("arguments") or {}),
                    "parameters": [*given, *({"name": k, "value": v} for k, v in parameters.items())],
                }
            created = await client.create(WORKFLOWS, str(meta.get("namespace") or args.namespace), workflow)
            name = str(created["metadata"]["name"])
            namespace = str(created["metadata"].get("namespace") or args.namespace)
            if not args.watch:
                emit(created, args.output or "name")
                continue
            ended, stopped = await until_final(_follow(client, namespace, name, render.LiveDisplay(sys.stderr)), args.output)
            if stopped:
                return ended
            code = max(code, ended)
    return code


async def get(args: argparse.Namespace) -> int:
    """``hookbus get --kubernetes NAME``: the object with the status the controller wrote."""
    async with cluster_client(args) as client:
        workflow = await _get(client, args.namespace, args.name)
    emit(workflow, args.output)
    return EXIT_OK


async def list_workflows(args: argparse.Namespace) -> int:
    """``hookbus list --kubernetes``."""
    async with cluster_client(args) as client:
        items, _version = await client.list(WORKFLOWS, None if args.all_namespaces else args.namespace)
    print(render.listing(items, args.output, status=args.status, namespaces=args.all_namespaces), end="")
    return EXIT_OK


async def watch(args: argparse.Namespace) -> int:
    """``hookbus watch --kubernetes NAME``: follow the object until its phase is final."""
    stop, received, undo = stop_signals()
    try:
        async with cluster_client(args) as client:
            display = render.LiveDisplay(sys.stdout, tree=sys.stdout.isatty())
            try:
                finished, final = await first_of(_follow(client, args.namespace, args.name, display), stop)
            finally:
                display.close()
    finally:
        undo()
    if not finished:
        return signal_exit(received)
    emit(final, None)
    return exit_code_for(final)


def _matches(pod: dict[str, Any], node: str | None) -> bool:
    if node is None:
        return True
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return node in (meta.get("name"), annotations.get(NODE_ID_ANNOTATION), annotations.get(NODE_NAME_ANNOTATION)) or str(
        annotations.get(NODE_NAME_ANNOTATION) or ""
    ).endswith(f".{node}")


async def logs(args: argparse.Namespace) -> int:
    """``hookbus logs --kubernetes NAME [NODE] [-f]``: the ``main`` container's log of each pod."""
    printed: dict[str, int] = {}
    prefix = args.node is None
    stop, received, undo = stop_signals()

    async def once(client: KubeClient) -> None:
        pods, _version = await client.list(PODS, args.namespace, label_selector=f"{WORKFLOW_LABEL}={args.name}")
        pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
        for pod in pods:
            if not _matches(pod, args.node):
                continue
            name = str(pod["metadata"]["name"])
            try:
                text = await client.get_text(PODS.path(args.namespace, name) + "/log", [("container", "main")])
            except (NotFound, KubeError) as exc:
                if isinstance(exc, NotFound) or exc.status == 400:  # gone, or not started yet
                    continue
                raise
            new = text[printed.get(name, 0) :]
            if not new:
                continue
            cut = new.rfind("\n") + 1 if args.follow else len(new)  # whole lines while following
            for line in new[:cut].splitlines():
                print(f"{name}: {line}" if prefix else line, flush=args.follow)
            printed[name] = printed.get(name, 0) + cut

    try:
        async with cluster_client(args) as client:
            await _get(client, args.namespace, args.name)
            while True:
                await once(client)
                if not args.follow or stop.is_set():
                    break
                if _phase(await _get(client, args.namespace, args.name)) in FULFILLED:
                    await once(client)
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
    finally:
        undo()
    return signal_exit(received) if received else EXIT_OK


_PATCHES: dict[str, tuple[dict[str, Any], str]] = {
    "suspend": ({"spec": {"suspend": True}}, "suspended"),
    "resume": ({"spec": {"suspend": None}}, "resumed"),
    "stop": ({"spec": {"shutdown": "Stop"}}, "stopped"),
    "terminate": ({"spec": {"shutdown": "Terminate"}}, "terminated"),
}


async def action(args: argparse.Namespace) -> int:
    """``hookbus delete|suspend|resume|stop|terminate --kubernetes NAME...``."""
    if args.command not in (*_PATCHES, "delete"):
        raise CliError(f"'hookbus {args.command}' is not available with --kubernetes", EXIT_USAGE)
    code = EXIT_OK
    async with cluster_client(args) as client:
        for name in args.names:
            try:
                if args.command == "delete":
                    await client.delete(WORKFLOWS, args.namespace, name, missing_ok=False)
                    word = "deleted"
                else:
                    patch, word = _PATCHES[args.command]
                    await client.patch(WORKFLOWS, args.namespace, name, patch)
            except NotFound:
                print(f'hookbus: error: {name}: workflow "{name}" not found in namespace {args.namespace!r}', file=sys.stderr)
                code = max(code, EXIT_NOT_FOUND)
                continue
            print(f"workflow {name} {word}")
    return code
