from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hookbus.controller.executors.local import LocalExecutor
from hookbus.controller.executors.registry import make_executor
from hookbus.controller.executors.simulate import SimulateExecutor

if TYPE_CHECKING:
    from pathlib import Path


def resolved(path: Path) -> Path:
    return path.resolve()


async def test_make_executor_by_name(tmp_path: Path) -> None:
    local = make_executor("local", state_dir=tmp_path, isolate=False)
    assert isinstance(local, LocalExecutor)
    assert local.state_dir == resolved(tmp_path)
    await local.close()
    simulate = make_executor("simulate", state_dir=None)
    assert isinstance(simulate, SimulateExecutor)


async def test_local_without_state_dir_uses_a_temporary_one_removed_on_close() -> None:
    local = make_executor("local")
    assert isinstance(local, LocalExecutor)
    assert local.state_dir.is_dir()
    await local.close()
    assert not local.state_dir.exists()
    await local.close()  # idempotent


def test_unknown_name_or_option() -> None:
    with pytest.raises(ValueError, match="'docker'.*local, simulate"):
        make_executor("docker")
    with pytest.raises(ValueError, match="colour"):
        make_executor("local", colour="blue")
