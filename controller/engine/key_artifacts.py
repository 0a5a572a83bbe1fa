"""Key-only artifacts within one workflow, read the way an object store reads keys.

Output artifacts stored under a repository ``key`` (``s3: {key: ...}``) form a small
bucket. As in Argo's S3 driver, a directory stored under ``a/parts`` is the objects
``a/parts/<file>``, so an input may ask for one file inside it, and an input whose key
is a prefix (``a/results``) of several stored objects gets them all as a directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..argo.substitute import substitute
from .templates import REPOSITORIES, StoredArtifact, TemplateError

if TYPE_CHECKING:
    from collections.abc import Mapping

Stored = str | StoredArtifact


def lookup(repository: Mapping[str, Stored], key: str, scratch: Path | None) -> Stored | None:
    """The artifact stored under *key*, a file inside a stored directory, or a directory of a prefix.

    *scratch* is a folder where a directory is assembled from several objects (``None``:
    prefixes are not served). Returns ``None`` when nothing is stored there.
    """
    found = repository.get(key)
    if found is not None:
        return found
    wanted = key.strip("/")
    for stored_key, value in repository.items():
        base = stored_key.strip("/")
        if isinstance(value, StoredArtifact) and wanted.startswith(base + "/") and os.path.isdir(value.path):
            inside = os.path.join(value.path, *PurePosixPath(wanted[len(base) + 1 :]).parts)
            if ".." not in PurePosixPath(wanted).parts and os.path.lexists(inside):
                return StoredArtifact(inside)
    members = {k.strip("/")[len(wanted) + 1 :]: v for k, v in repository.items() if k.strip("/").startswith(wanted + "/")}
    if not members or scratch is None:
        return None
    return StoredArtifact(str(_assemble(members, scratch / _folder(wanted))))


def _assemble(members: Mapping[str, Stored], target: Path) -> Path:
    """A directory holding each member at its relative key (text written, host copies copied)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for rel, value in sorted(members.items()):
        parts = PurePosixPath(rel).parts
        if not parts or ".." in parts:
            raise TemplateError(f"artifact key part {rel!r} cannot be a path in a directory")
        out = target.joinpath(*parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, StoredArtifact):
            if os.path.isdir(value.path):
                shutil.copytree(value.path, out, dirs_exist_ok=True, symlinks=True)
            else:
                shutil.copy2(value.path, out)
        else:
            out.write_text(value, encoding="utf-8")
    return target


def _folder(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key) or "_"


def resolve_output_keys(outputs: Mapping[str, Any], scope: Mapping[str, Any]) -> dict[str, Any]:
    """*outputs* with the repository locations of its artifacts substituted (``{{workflow.name}}/parts``).

    Output artifacts keep their other fields as written; only where they are stored is
    known before the node runs, as Argo resolves the key when it uploads.
    """
    artifacts = outputs.get("artifacts")
    if not artifacts:
        return dict(outputs)
    resolved = []
    for art in artifacts:
        locs = {loc: substitute(art[loc], scope, strict=False) for loc in REPOSITORIES if isinstance(art.get(loc), dict)}
        resolved.append({**art, **locs})
    return {**outputs, "artifacts": resolved}
