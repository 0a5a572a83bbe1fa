"""The distribution: package list, layer contracts, a real wheel, lint and types."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"bus": "hookbus.bus", "controller": "hookbus.controller", "plugins": "hookbus.plugins"}


def _packages_on_disk() -> set[str]:
    found = set()
    for folder, dotted in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([dotted, *rel.parts]))
    return found


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _packages_on_disk() == listed


# The layer rules (bus never imports the controller, plugins use only the public API, and
# the rest) are in tests/test_layers.py.


def test_wheel_holds_the_namespace_packages_and_the_cli(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("hookbus-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("hookbus/bus/dispatch.py", "hookbus/bus/sdk.py", "hookbus/controller/__init__.py", "hookbus/plugins/__init__.py"):
        assert module in names
    assert not any(n.startswith(("bus/", "controller/", "plugins/", "tests/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "hookbus = hookbus.controller.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # Installed from the wheel (not the editable tree), it runs a workflow.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    script = (
        "import sys, hookbus.bus, hookbus.controller.cli as cli;"
        f"assert hookbus.bus.__file__.startswith({str(target)!r}), hookbus.bus.__file__;"
        f"sys.exit(cli.main(['run', '--executor', 'simulate', {str(ROOT / 'examples' / 'hello-world.yaml')!r}]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Succeeded" in run.stdout


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    # The folders install under hookbus.*; mirror that layout so mypy sees the real module names.
    (tmp_path / "hookbus").mkdir()
    for folder in FOLDERS:
        os.symlink(ROOT / folder, tmp_path / "hookbus" / folder)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--namespace-packages", "--cache-dir", str(tmp_path / ".mypy"), "-p", "hookbus.bus", "-p", "hookbus.controller", "-p", "hookbus.plugins"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
