"""The local executor sees through volumes: outputs under a mount path are read from the
volume (a container writing ``/workspace/out`` on an ``emptyDir`` writes the volume, not its
own filesystem), and inputs under one are placed in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.executors import sh, task

if TYPE_CHECKING:
    from pathlib import Path

    from hookbus.controller.executors.local import LocalExecutor


async def test_outputs_and_inputs_go_through_a_mounted_volume(local: LocalExecutor, tmp_path: Path) -> None:
    if not local.isolated:
        pytest.skip(f"node isolation is not available here: {local.isolation_note}")
    claim = tmp_path / "claim"
    source = tmp_path / "given.txt"
    source.write_text("given")
    spec = task(
        sh("cat /workspace/in.txt; printf made > /workspace/out; mkdir /workspace/dir && echo x > /workspace/dir/f"),
        mounts={"/workspace": str(claim)},
        inputs={"/workspace/in.txt": str(source)},
        outputs={"out": "/workspace/out"},
        artifacts={"dir": "/workspace/dir"},
    )
    result = await local.run(spec)
    assert result.phase == "Succeeded", result.message
    assert result.result == "given"
    assert result.parameters == {"out": "made"}
    assert result.artifacts == {"dir": str(claim / "dir")}
    assert (claim / "in.txt").read_text() == "given"


async def test_a_directory_input_is_never_copied_into_itself(plain: LocalExecutor, tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "f").write_text("x")
    result = await plain.run(task(sh("true"), inputs={str(folder / "copy"): str(folder)}))
    assert result.phase == "Error"
    assert "inside the directory copied there" in result.message
    assert not (folder / "copy").exists()
