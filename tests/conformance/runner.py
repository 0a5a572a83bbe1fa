"""Conformance runner: Argo's own examples, run the way Argo's e2e suite runs them.

Usage (from the repository root)::

    python -m tests.conformance.runner [EXAMPLES_DIR] [--out report.json] [--markdown report.md]
        [--timeout 120] [--parallel 6] [--only NAME ...] [--executor local|simulate|kubernetes]

``EXAMPLES_DIR`` defaults to ``../shared/conformance/argo-examples`` next to the
repository. As Argo's e2e does, every ConfigMap, WorkflowTemplate and
ClusterWorkflowTemplate found anywhere in the folder is loaded first; then
every ``Workflow`` without the label ``workflows.argoproj.io/no-test`` is
submitted to one controller (embedded NATS, JetStream store, the local
executor) and waited for, each with its own deadline. A workflow still running
at its deadline is terminated and reported as a timeout.

The report lists, per example, the final phase and, when it did not succeed,
why: the workflow's message and its first failed node. An example that needs
what local mode cannot give is reported as such, by name of the need
(``needs``): a Kubernetes API (``resource:`` templates), volumes or PVCs,
Kubernetes Secrets, artifacts from a repository that does not exist here, an
executor plugin, or a command that exists only inside the example's image.

Outcomes: ``passed`` (Succeeded), ``needs-cluster`` / ``needs-image`` /
``needs-network`` (did not succeed and needs something local mode, or this
machine, lacks), ``failed``, ``timeout``, ``rejected`` (the manifest did not
load or lint).

The process exits 0 when every example passed or is explained by a need, 1
otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from hookbus.controller.argo.manifest import Bundle
    from hookbus.controller.engine.controller import Controller

NO_TEST_LABEL = "workflows.argoproj.io/no-test"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXAMPLES = ROOT.parent / "shared" / "conformance" / "argo-examples"
FINAL = frozenset({"Succeeded", "Failed", "Error"})
EXPLAINED = frozenset({"passed", "needs-cluster", "needs-image", "needs-network"})
"""Outcomes that meet the bar: succeeded, or cannot succeed in local mode for a named reason."""

_REMOTE_ARTIFACTS = ("s3", "gcs", "git", "http", "oss", "azure", "hdfs", "artifactory", "raw")
_K8S_VOLUMES = (
    "persistentVolumeClaim",
    "secret",
    "configMap",
    "hostPath",
    "nfs",
    "downwardAPI",
    "projected",
    "csi",
)
_TOOL_MISSING = re.compile(
    r"command '([^']+)' is not available on this host(?: \(it is part of image ([^)]+)\))?"
)
_ENTRYPOINT_MISSING = re.compile(r"image (\S+)'s entrypoint would run")
_NO_NETWORK = re.compile(
    r"(Name or service not known|Temporary failure in name resolution|Network is unreachable)"
)
_SHELL_NOT_FOUND = re.compile(r"(?:^|: )([\w./-]+): (?:command )?not found")


@dataclass
class Example:
    """One Workflow document of the examples folder."""

    file: str
    """Path relative to the examples folder."""
    index: int
    """Position among the file's Workflow documents."""
    workflow: dict[str, Any]

    @property
    def label(self) -> str:
        """``file`` or ``file#index`` when a file holds several workflows."""
        return self.file if self.index == 0 else f"{self.file}#{self.index}"


@dataclass
class Result:
    """What happened to one example."""

    example: str
    name: str = ""
    phase: str = ""
    outcome: str = ""
    reason: str = ""
    needs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log_tail: str = ""
    """The last lines the first failed pod wrote, when it did not succeed."""


# --------------------------------------------------------------------------- loading


def load_examples(folder: Path) -> tuple[Bundle, list[Example], list[Result]]:
    """Every resource of *folder*: the bundle of templates/ConfigMaps, the workflows to run,
    and a ``rejected`` result for each file that does not load."""
    from hookbus.controller.argo.errors import ArgoError
    from hookbus.controller.argo.manifest import Bundle, load_documents

    bundle = Bundle()
    examples: list[Example] = []
    rejected: list[Result] = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml", ".json")):
        relative = str(path.relative_to(folder))
        try:
            docs = load_documents(path, name=relative)
        except ArgoError as exc:
            rejected.append(Result(relative, outcome="rejected", reason=_one_line(str(exc))))
            continue
        index = 0
        for doc in docs:
            if doc.get("kind") == "Workflow":
                labels = (doc.get("metadata") or {}).get("labels") or {}
                if NO_TEST_LABEL not in labels:
                    examples.append(Example(relative, index, doc))
                index += 1
            elif doc.get("kind") in ("WorkflowTemplate", "ClusterWorkflowTemplate", "ConfigMap"):
                try:
                    bundle.add(doc, source=relative)
                except (ArgoError, ValueError) as exc:
                    rejected.append(
                        Result(relative, outcome="rejected", reason=_one_line(str(exc)))
                    )
    return bundle, examples, rejected


# --------------------------------------------------------------------------- needs


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every ``(key, value)`` pair of a JSON-like tree."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _referenced_templates(workflow: dict[str, Any], bundle: Bundle) -> Iterable[dict[str, Any]]:
    names: set[tuple[str, bool]] = set()
    ref = (workflow.get("spec") or {}).get("workflowTemplateRef")
    if isinstance(ref, dict) and ref.get("name"):
        names.add((str(ref["name"]), bool(ref.get("clusterScope"))))
    for key, value in _walk(workflow):
        if key == "templateRef" and isinstance(value, dict) and value.get("name"):
            names.add((str(value["name"]), bool(value.get("clusterScope"))))
    for name, cluster in sorted(names):
        source = bundle.cluster_workflow_templates if cluster else bundle.workflow_templates
        if name in source:
            yield source[name]


def static_needs(workflow: dict[str, Any], bundle: Bundle) -> list[str]:
    """What the workflow (and the templates it refers to) needs that local mode cannot give."""
    needs: set[str] = set()
    for doc in (workflow, *_referenced_templates(workflow, bundle)):
        for key, value in _walk(doc):
            if key == "resource" and isinstance(value, dict) and "action" in value:
                needs.add("a Kubernetes API (resource template)")
            elif key == "volumeClaimTemplates" and value:
                needs.add("Kubernetes volumes (volumeClaimTemplates / PVC)")
            elif key == "volumes" and isinstance(value, list):
                for volume in value:
                    for kind in _K8S_VOLUMES:
                        if isinstance(volume, dict) and kind in volume:
                            needs.add(f"Kubernetes volumes ({kind})")
            elif key == "secretKeyRef":
                needs.add("a Kubernetes Secret (secretKeyRef)")
            elif key == "templates" and isinstance(value, list):
                if any(isinstance(t, dict) and t.get("plugin") for t in value):
                    needs.add("an executor plugin (plugin template)")
            elif key == "artifacts" and isinstance(value, list):
                for artifact in value:
                    if not isinstance(artifact, dict):
                        continue
                    if artifact.get("plugin"):
                        needs.add("an artifact driver plugin")
                    for kind in _REMOTE_ARTIFACTS:
                        if kind in artifact and kind != "raw":
                            needs.add(f"an artifact repository ({kind})")
            elif key in ("artifactRepositoryRef", "archiveLocation") and value:
                needs.add("an artifact repository (configured in the cluster)")
    return sorted(needs)


def failure_needs(workflow: dict[str, Any]) -> list[str]:
    """Needs read from the failed nodes' messages (commands only in the image, unknown entrypoints)."""
    needs: set[str] = set()
    for node in ((workflow.get("status") or {}).get("nodes") or {}).values():
        message = str(node.get("message") or "")
        if match := _TOOL_MISSING.search(message):
            image = f" from image {match.group(2)}" if match.group(2) else ""
            needs.add(f"the command {match.group(1)!r}{image}")
        elif match := _ENTRYPOINT_MISSING.search(message):
            needs.add(f"the entrypoint of image {match.group(1)}")
        elif match := _SHELL_NOT_FOUND.search(message):
            needs.add(f"the command {match.group(1)!r} (not on this host)")
        elif match := _NO_NETWORK.search(message):
            needs.add(f"network access ({match.group(1)})")
    return sorted(needs)


def failed_leaves(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """Failed or errored leaf nodes (pods and the like), earliest first."""
    nodes = list(((workflow.get("status") or {}).get("nodes") or {}).values())
    failed = [
        n
        for n in nodes
        if n.get("phase") in ("Failed", "Error")
        and n.get("type") in ("Pod", "Suspend", "Plugin", "HTTP", "Container")
    ]
    failed.sort(key=lambda n: str(n.get("finishedAt") or n.get("startedAt") or "~"))
    return failed


def log_tail(controller: Controller, key: Any, workflow: dict[str, Any], lines: int = 3) -> str:
    """The last *lines* of the first failed pod's log, on one line."""
    for node in failed_leaves(workflow):
        with contextlib.suppress(Exception):
            path = controller.log_path(key, str(node.get("id")))
            if path is not None and path.is_file():
                text = path.read_text(errors="replace").strip().splitlines()[-lines:]
                return _one_line(" / ".join(text), 240)
    return ""


def first_failure(workflow: dict[str, Any]) -> str:
    """``status.message`` and the first failed leaf node as ``name: message``."""
    status = workflow.get("status") or {}
    failed = failed_leaves(workflow)
    parts = []
    if status.get("message"):
        parts.append(str(status["message"]))
    if failed:
        node = failed[0]
        parts.append(
            f"{node.get('displayName') or node.get('name')}: {node.get('message') or node.get('phase')}"
        )
    return _one_line(" | ".join(parts)) or "no message"


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def classify(result: Result, workflow: dict[str, Any] | None, needs: Sequence[str]) -> None:
    """Fill ``outcome``, ``reason`` and ``needs`` of a finished (or timed out) example."""
    if result.phase == "Succeeded":
        result.outcome = "passed"
        result.reason = ""
        result.needs = []
        return
    found = sorted({*needs, *(failure_needs(workflow) if workflow else [])})
    result.needs = found
    if workflow is not None and not result.reason:
        result.reason = first_failure(workflow)
    if found:
        if all(n.startswith(("the command", "the entrypoint")) for n in found):
            result.outcome = "needs-image"
        elif all(n.startswith("network access") for n in found):
            result.outcome = "needs-network"
        else:
            result.outcome = "needs-cluster"
    elif result.outcome != "timeout":
        result.outcome = "failed"


# --------------------------------------------------------------------------- running


async def run_one(
    controller: Controller,
    example: Example,
    bundle: Bundle,
    *,
    timeout: float,
) -> Result:
    """Submit one example and wait for it; never raises for a bad example."""
    from hookbus.controller.argo.errors import ArgoError

    result = Result(example.label)
    needs = static_needs(example.workflow, bundle)
    started = time.monotonic()
    try:
        key = await controller.submit(json.loads(json.dumps(example.workflow)), bundle=bundle)
    except (ArgoError, ValueError) as exc:
        result.outcome = "rejected"
        errors = getattr(exc, "errors", None)
        result.reason = _one_line("; ".join(str(e) for e in errors) if errors else str(exc))
        result.needs = needs
        return result
    result.name = key.name
    workflow: dict[str, Any] | None = None
    try:
        workflow = await controller.wait(key, timeout=timeout)
    except TimeoutError:
        result.outcome = "timeout"
        result.reason = f"not finished after {timeout:g}s"
        with contextlib.suppress(Exception):
            await controller.terminate(key)
        with contextlib.suppress(Exception):
            await controller.wait(key, timeout=10)
        with contextlib.suppress(Exception):
            workflow = controller.get(key)
        if workflow is not None:
            detail = first_failure(workflow)
            result.reason += f" ({detail})" if detail != "no message" else ""
    result.seconds = round(time.monotonic() - started, 2)
    result.phase = str(((workflow or {}).get("status") or {}).get("phase") or "")
    if workflow is not None and result.phase != "Succeeded":
        result.log_tail = log_tail(controller, key, workflow)
    if result.outcome == "timeout":
        classify(result, workflow, needs)
        result.outcome = "timeout" if not result.needs else result.outcome
        return result
    classify(result, workflow, needs)
    return result


async def run_examples(
    folder: Path,
    *,
    timeout: float = 120.0,
    parallel: int = 6,
    only: Sequence[str] = (),
    executor: str = "local",
    progress: bool = True,
) -> list[Result]:
    """Run the examples of *folder* (all, or those whose file or workflow name is in *only*)."""
    from hookbus.controller.app import Hookbus
    from hookbus.controller.engine.settings import ControllerSettings
    from hookbus.controller.settings import ApiSettings, ExecutorSettings, HookbusSettings

    bundle, examples, results = load_examples(folder)
    if only:
        wanted = {o.removesuffix(".yaml") for o in only}

        def chosen(example: Example) -> bool:
            return bool({example.file.removesuffix(".yaml"), example.label} & wanted)

        examples = [e for e in examples if chosen(e)]
        results = [r for r in results if r.example.removesuffix(".yaml") in wanted]
    with tempfile.TemporaryDirectory(
        prefix="hookbus-conformance-", ignore_cleanup_errors=True
    ) as tmp:
        settings = HookbusSettings(
            controller=ControllerSettings(max_workflows=max(parallel, 1) * 2),
            executor=ExecutorSettings(kind=executor, state_dir=Path(tmp) / "state"),
            api=ApiSettings(enabled=False),
            events=False,
            plugins=False,
            state_dir=Path(tmp),
        )
        if executor == "kubernetes":  # nodes as Pods (tests/kube/conformance.py)
            from tests.kube.conformance import kube_app

            running = kube_app(settings, Path(tmp))
        else:
            running = Hookbus(settings)
        async with running as app:
            controller = app.controller
            limit = asyncio.Semaphore(max(parallel, 1))

            async def one(example: Example) -> Result:
                async with limit:
                    result = await run_one(controller, example, bundle, timeout=timeout)
                if progress:
                    print(
                        f"{result.outcome:<16} {result.example}",
                        file=sys.stderr,
                        flush=True,
                    )
                return result

            results.extend(await asyncio.gather(*(one(e) for e in examples)))
    results.sort(key=lambda r: r.example)
    return results


# --------------------------------------------------------------------------- report


def summary(results: Sequence[Result]) -> dict[str, Any]:
    """Counts per outcome and the total."""
    counts = Counter(r.outcome for r in results)
    return {"total": len(results), "outcomes": dict(sorted(counts.items()))}


def report_json(results: Sequence[Result], folder: Path) -> dict[str, Any]:
    """The machine-readable report."""
    return {
        "examples": folder.name,
        "summary": summary(results),
        "results": [asdict(r) for r in results],
    }


def report_table(results: Sequence[Result]) -> str:
    """A short text table: example, outcome, phase, reason (or needs)."""
    rows = [("EXAMPLE", "OUTCOME", "PHASE", "REASON")]
    for r in results:
        why = r.reason
        if r.needs:
            why = "needs " + ", ".join(r.needs) + (f" — {r.reason}" if r.reason else "")
        rows.append((r.example, r.outcome, r.phase or "-", _one_line(why, 160)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]).rstrip() for row in rows
    ]
    counts = summary(results)
    lines.append("")
    lines.append(
        f"{counts['total']} examples: "
        + ", ".join(f"{n} {k}" for k, n in counts["outcomes"].items())
    )
    return "\n".join(lines) + "\n"


def report_markdown(results: Sequence[Result]) -> str:
    """The report as a Markdown table."""
    counts = summary(results)
    lines = [
        "# Conformance: Argo's examples in local mode",
        "",
        "Every Workflow of Argo's examples folder without the label",
        "`workflows.argoproj.io/no-test`, run with the local executor after loading every",
        "ConfigMap, WorkflowTemplate and ClusterWorkflowTemplate of the folder, as Argo's e2e",
        "suite does. `needs-cluster` / `needs-image`: the example did not succeed and needs",
        "something local mode cannot give (named). Regenerate with",
        "`python -m tests.conformance.runner --out tests/conformance/report.json"
        " --markdown tests/conformance/REPORT.md`.",
        "",
        f"{counts['total']} examples: "
        + ", ".join(f"{n} {k}" for k, n in counts["outcomes"].items()),
        "",
        "| example | outcome | phase | reason |",
        "|---|---|---|---|",
    ]
    for r in results:
        why = r.reason
        if r.needs:
            why = "needs " + ", ".join(r.needs) + (f" — {r.reason}" if r.reason else "")
        if r.log_tail:
            why += f" — log: {r.log_tail}"
        escaped = why.replace("|", "\\|")
        lines.append(f"| {r.example} | {r.outcome} | {r.phase or '-'} | {escaped} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance.runner", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "folder",
        nargs="?",
        default=str(DEFAULT_EXAMPLES),
        help="examples folder (default: %(default)s)",
    )
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--markdown", help="write a Markdown report here")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per workflow (default: %(default)s)"
    )
    parser.add_argument(
        "--parallel", type=int, default=6, help="workflows at once (default: %(default)s)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        default=(),
        metavar="NAME",
        help="only these examples (file names without .yaml)",
    )
    parser.add_argument(
        "--executor",
        default="local",
        choices=("local", "simulate", "kubernetes"),
        help="kubernetes: every node a Pod, run on this host outside any sandbox, so the examples "
        "write where they write (/tmp, /mnt, /output ...): use a throwaway machine",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no per-example progress on stderr"
    )
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"{folder}: not a folder", file=sys.stderr)
        return 2
    from hookbus.controller.cli import configure_logging
    from hookbus.controller.settings import LogSettings

    configure_logging(LogSettings(format="console"))
    results = asyncio.run(
        run_examples(
            folder,
            timeout=args.timeout,
            parallel=args.parallel,
            only=args.only,
            executor=args.executor,
            progress=not args.quiet,
        )
    )
    print(report_table(results), end="")
    if args.out:
        Path(args.out).write_text(json.dumps(report_json(results, folder), indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(report_markdown(results))
    unexplained = [r for r in results if r.outcome not in EXPLAINED]
    return 0 if not unexplained else 1


if __name__ == "__main__":
    sys.exit(main())
