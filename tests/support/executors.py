"""Building executor tasks in tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hookbus.controller.executors.base import ProcessSpec, TaskSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def proc(
    command: Sequence[str] = (),
    args: Sequence[str] = (),
    *,
    name: str = "main",
    image: str | None = "alpine:3.23",
    env: Mapping[str, str] | None = None,
    working_dir: str | None = None,
    source: str | None = None,
) -> ProcessSpec:
    return ProcessSpec(name, image, tuple(command), tuple(args), dict(env or {}), working_dir, source)


def task(
    main: ProcessSpec,
    *,
    node_id: str = "wf-1",
    outputs: Mapping[str, str] | None = None,
    init: Sequence[ProcessSpec] = (),
    sidecars: Sequence[ProcessSpec] = (),
    timeout: float | None = None,
    annotations: Mapping[str, str] | None = None,
    artifacts: Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
    mounts: Mapping[str, str] | None = None,
) -> TaskSpec:
    return TaskSpec(
        namespace="default",
        workflow="wf",
        node_id=node_id,
        node_name=f"wf.{node_id}",
        template_name="t",
        main=main,
        sidecars=tuple(sidecars),
        init=tuple(init),
        output_parameters=dict(outputs or {}),
        timeout=timeout,
        annotations=dict(annotations or {}),
        output_artifacts=dict(artifacts or {}),
        input_files=dict(inputs or {}),
        mounts=dict(mounts or {}),
    )


def sh(script: str, **kwargs: object) -> ProcessSpec:
    return proc(["sh", "-c"], [script], **kwargs)  # type: ignore[arg-type]


def read(path: str | Path) -> str:
    """A file's text (tests read small files synchronously)."""
    return Path(path).read_text()


def exists(path: str | Path) -> bool:
    return Path(path).exists()
