from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hookbus.controller.executors.local import LocalExecutor

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    """A local executor with isolation detected (on when the host allows it)."""
    executor = LocalExecutor(tmp_path / "state")
    await executor.prepare()
    yield executor
    await executor.close()


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    """A local executor without isolation."""
    executor = LocalExecutor(tmp_path / "plain-state", isolate=False)
    yield executor
    await executor.close()
