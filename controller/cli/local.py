"""``hookbus run`` and ``hookbus lint``: work done in this process."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...bus.auth import CONTROLLER
from ..app import Hookbus
from ..argo.lint import lint_warnings
from ..engine.refs import redact_text
from ..engine.warnings import warnings_of
from ..workflows import SUMMARY_POLL, node_pod_name, workflow_summary
from . import render
from .common import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    emit,
    exit_code_for,
    first_of,
    lint_messages,
    load_input,
    manifest_error,
    parse_parameters,
    settings_from_args,
    signal_exit,
    stop_signals,
    ticking,
    with_local_identity,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping


async def _follow_local(controller: Any, key: Any, display: render.LiveDisplay) -> dict[str, Any]:
    async with ticking(display):
        return await _follow_local_snapshots(controller, key, display)


async def _follow_local_snapshots(
    controller: Any, key: Any, display: render.LiveDisplay
) -> dict[str, Any]:
    # Progress from the node-less summary; one full snapshot at the end.
    done = asyncio.ensure_future(controller.wait(key))
    try:
        while True:
            display.update(workflow_summary(controller, key))
            finished, _ = await asyncio.wait({done}, timeout=SUMMARY_POLL)
            if finished:
                break
    finally:
        if not done.done():
            done.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await done
    final: dict[str, Any] = done.result()
    display.update(final)
    return dict(final)


def _print_local_logs(
    controller: Any, key: Any, workflow: Mapping[str, Any], stream: Any = None
) -> None:
    """Each pod's log lines, prefixed with its pod name as ``argo logs`` does."""
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    pods = sorted(
        (n for n in nodes.values() if n.get("type") == "Pod"),
        key=lambda n: n.get("startedAt") or "~",
    )
    for node in pods:
        path = controller.log_path(key, node["id"])
        if path is None or not Path(path).is_file():
            continue
        prefix = node_pod_name(key.name, node)
        secrets = controller.secret_values(key)
        for line in Path(path).read_text(errors="replace").splitlines():
            print(f"{prefix}: {redact_text(line, secrets) if secrets else line}", file=stream or sys.stdout)


async def run_command(args: argparse.Namespace) -> int:
    """``hookbus run``: embedded NATS + controller, one workflow to its end."""
    bundle, workflows = load_input([args.file], args.templates or ())
    if not workflows:
        raise CliError(f"{args.file}: no Workflow document in it (kind: Workflow)", EXIT_USAGE)
    parameters = parse_parameters(args.parameter)
    if messages := lint_messages(workflows, bundle, references=False):
        raise CliError(f"{args.file}: {len(messages)} lint error(s)", EXIT_USAGE, messages)
    for message in lint_messages(workflows, bundle):  # the run ends on them, as Argo's would
        print(f"Warning: {message}", file=sys.stderr, flush=True)
    for source, workflow in workflows:
        for unsupported in lint_warnings(workflow):
            print(f"Warning: {source}: {unsupported}", file=sys.stderr, flush=True)

    settings = settings_from_args(args)
    external = not settings.embedded_nats
    if external:  # a controller of its own on a server of this machine: as the controller
        settings = replace(settings, bus=with_local_identity(settings.bus, CONTROLLER))
    # Always a fresh store: a run must not resume the workflows of earlier runs (an
    # embedded server's store is in a temporary directory, whatever HOOKBUS_NATS_STORE_DIR
    # says). On a shared NATS that is a bucket of its own, deleted at the end, and the
    # plugins registered there are called, as a server would.
    settings = replace(
        settings,
        bus=replace(settings.bus, nats=replace(settings.bus.nats, embedded_store_dir=None)),
        state_dir=None,
        executor=replace(
            settings.executor, state_dir=Path(args.state_dir) if args.state_dir else None
        ),
        embedded=replace(settings.embedded, quiet=args.verbose == 0),
        store=replace(
            settings.store,
            bucket=f"hookbus-run-{uuid.uuid4().hex[:12]}" if external else settings.store.bucket,
            delete_on_close=external,
        ),
        api=replace(settings.api, enabled=False),
        events=False,
        plugins=external and settings.plugins,
    )
    failing: asyncio.Task[None] | None = None
    stop, received, undo = stop_signals()
    finals: list[dict[str, Any]] = []
    interrupted = False
    try:
        async with Hookbus(settings) as app:
            failing = asyncio.create_task(_stop_when_failed(app, stop), name="hookbus-run-failure")
            controller = app.controller
            keys = []
            for _source, workflow in workflows:
                try:
                    keys.append(
                        await controller.submit(workflow, parameters=parameters, bundle=bundle)
                    )
                except ValueError as exc:
                    if getattr(exc, "errors", None) is not None:
                        raise manifest_error(exc, args.file) from exc
                    raise CliError(f"{args.file}: {exc}", EXIT_USAGE) from exc
                for warning in warnings_of(controller.get(keys[-1])):
                    print(f"Warning: {warning}", file=sys.stderr, flush=True)
            for key in keys:
                display = render.LiveDisplay(sys.stderr)
                finished, result = await first_of(_follow_local(controller, key, display), stop)
                display.close()
                if not finished:
                    interrupted = True
                    print(
                        f"hookbus: interrupted; terminating workflow {key.name}",
                        file=sys.stderr,
                    )
                    with contextlib.suppress(Exception):
                        await controller.terminate(key)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(controller.wait(key), 10.0)
                    result = controller.get(key)
                finals.append(result)
                if args.log:
                    machine = args.output in ("json", "yaml", "name")
                    _print_local_logs(
                        controller, key, result, sys.stderr if machine else sys.stdout
                    )
                emit(result, args.output)
                if interrupted:
                    break
    finally:
        if failing is not None:
            failing.cancel()
        undo()
    if app.failed.is_set():
        raise CliError(f"hookbus: {app.failure}", EXIT_UNAVAILABLE)
    if interrupted:
        return signal_exit(received)
    return max(exit_code_for(w) for w in finals)


async def _stop_when_failed(app: Hookbus, stop: asyncio.Event) -> None:
    """Stop following the run when the process cannot go on (its NATS server is gone)."""
    await app.failed.wait()
    stop.set()


# --------------------------------------------------------------------------- lint


def lint_command(args: argparse.Namespace) -> int:
    """``hookbus lint``: argo lint's checks and output."""
    from ..argo.errors import ArgoError
    from ..argo.lint import lint_template_resource, lint_workflow
    from ..argo.manifest import Bundle, load_documents
    from ..kube.pods_images import lint_images
    from .lint_kubernetes import kubernetes_errors, kubernetes_warnings

    sources: list[tuple[str, list[dict[str, Any]]]] = []
    bundle = Bundle()
    failures: list[str] = []
    images = _lint_images_config(args)
    warnings: list[str] = []
    paths: list[Path] = []
    for file in args.files:
        path = Path(file)
        if path.is_dir():
            paths.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
            )
        elif path.is_file():
            paths.append(path)
        else:
            failures.append(f"{file}: no such file or directory")
    for path in paths:
        try:
            docs = load_documents(path, name=str(path))
        except ArgoError as exc:
            failures.extend([str(e) for e in getattr(exc, "errors", [])] or [str(exc)])
            continue
        sources.append((str(path), docs))
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") != "Workflow":
                with contextlib.suppress(ArgoError, ValueError, KeyError):
                    bundle.add(doc)
    for source, docs in sources:
        for doc in docs:
            kind = doc.get("kind")
            name = (
                (doc.get("metadata") or {}).get("name")
                or (doc.get("metadata") or {}).get("generateName")
                or "?"
            )
            if kind == "Workflow":
                errors: list[object] = [*lint_workflow(doc, bundle)]
                if images is not None:
                    errors += lint_images(doc, images)
            elif kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
                errors = [*lint_template_resource(doc)]
            else:
                continue
            if images is not None:  # --target kubernetes
                errors += kubernetes_errors(doc)
                found: list[object] = [*kubernetes_warnings(doc)]
            else:
                found = [*lint_warnings(doc)]
            failures.extend(f"{source}: {kind} {name!r}: {error}" for error in errors)
            warnings.extend(f"{source}: {kind} {name!r}: {warning}" for warning in found)
    for warning in warnings:
        print(f"⚠ {warning}")
    if failures:
        for failure in failures:
            print(f"✖ {failure}")
        print(f"✖ {len(failures)} linting error(s) found!")
        return EXIT_USAGE
    print("✔ no linting errors found!")
    return EXIT_OK


def _lint_images_config(args: argparse.Namespace) -> dict[str, Any] | None:
    """The images configuration of ``lint --target kubernetes`` (``None`` for other targets)."""
    import yaml

    from ..kube.pods_images import ImageConfigError, images_from_config

    if getattr(args, "target", "local") != "kubernetes":
        if getattr(args, "images", None):
            raise CliError("hookbus lint: --images applies only with --target kubernetes", EXIT_USAGE)
        return None
    if not args.images:
        return {}
    try:
        text = Path(args.images).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"hookbus lint: --images {args.images}: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        return dict(images_from_config(yaml.safe_load(text)))
    except (yaml.YAMLError, ImageConfigError) as exc:
        raise CliError(f"hookbus lint: --images {args.images}: {str(exc).splitlines()[0]}", EXIT_USAGE) from None
