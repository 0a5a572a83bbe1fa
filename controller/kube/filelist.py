"""Directories as one byte string: the file list the launcher and the controller exchange.

A directory artifact travels between the controller and a pod as one value: into the pod
in the node's input ConfigMap (the launcher's ``install`` step unpacks it), out of the pod
in the launcher's report (``directories``). The format is small enough to read and write
in the static launcher without a tar implementation:

``hookbus-files 1\\n`` then, per entry, a header line ``<type> <mode> <size> <path length>\\n``
followed by the path (UTF-8, relative, ``/``-separated) and *size* bytes of data. ``type``
is ``d`` (a directory, no data), ``f`` (a regular file, its content) or ``l`` (a symbolic
link, its target); ``mode`` is octal permission bits. Parents come before their entries; a directory's mode is set once its content is written.
Paths are relative and never contain ``..``; the launcher creates symbolic links last, so
no entry is written through one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Final

__all__ = ["MAGIC", "FileListError", "FileListTooLarge", "is_file_list", "pack", "unpack"]

MAGIC: Final = b"hookbus-files 1\n"


class FileListError(ValueError):
    """A file list that cannot be read or written; the message says what was wrong."""


class FileListTooLarge(FileListError):
    """The directory does not fit in the size given to :func:`pack`."""


def is_file_list(data: bytes) -> bool:
    """Whether *data* starts as a file list."""
    return data.startswith(MAGIC)


def pack(root: Path, *, limit: int) -> bytes:
    """The directory *root* as a file list; :class:`FileListError` when it is larger than *limit* bytes.

    Regular files, directories and symbolic links are kept (other kinds, such as sockets,
    are left out, as ``tar`` would warn and skip them).
    """
    out = bytearray(MAGIC)

    def add(kind: str, mode: int, rel: str, data: bytes) -> None:
        name = rel.encode()
        out.extend(f"{kind} {mode & 0o7777:o} {len(data)} {len(name)}\n".encode())
        out.extend(name)
        out.extend(data)
        if len(out) > limit:
            raise FileListTooLarge(f"{root} is larger than {limit} bytes")

    def walk(folder: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            rel = f"{prefix}{entry.name}"
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                add("l", 0o777, rel, os.readlink(entry.path).encode())
            elif stat.S_ISDIR(info.st_mode):
                add("d", info.st_mode, rel, b"")
                walk(Path(entry.path), rel + "/")
            elif stat.S_ISREG(info.st_mode):
                add("f", info.st_mode, rel, Path(entry.path).read_bytes())

    try:
        walk(root, "")
    except OSError as exc:
        raise FileListError(f"{exc.filename or root}: {exc.strerror or exc}") from None
    return bytes(out)


def unpack(data: bytes, root: Path) -> None:
    """Create the entries of the file list *data* under the directory *root* (made if missing)."""
    if not is_file_list(data):
        raise FileListError("not a file list (no 'hookbus-files 1' header)")
    root.mkdir(parents=True, exist_ok=True)
    links: list[tuple[Path, str]] = []
    folders: list[tuple[Path, int]] = []
    at = len(MAGIC)
    while at < len(data):
        end = data.find(b"\n", at)
        if end < 0:
            raise FileListError(f"a header at byte {at} has no end")
        try:
            kind, mode_text, size_text, length_text = data[at:end].decode().split(" ")
            mode, size, length = int(mode_text, 8), int(size_text), int(length_text)
        except ValueError:
            raise FileListError(f"the header at byte {at} is not '<type> <mode> <size> <path length>'") from None
        name = data[end + 1 : end + 1 + length].decode(errors="replace")
        body = data[end + 1 + length : end + 1 + length + size]
        at = end + 1 + length + size
        if len(body) != size or at > len(data):
            raise FileListError(f"entry {name!r} is cut short")
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or ".." in parts:
            raise FileListError(f"entry {name!r} is not a relative path inside the directory")
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "d":
            target.mkdir(exist_ok=True)
            folders.append((target, mode))
        elif kind == "f":
            target.write_bytes(body)
            target.chmod(mode)
        elif kind == "l":
            links.append((target, body.decode(errors="replace")))
        else:
            raise FileListError(f"entry {name!r} has unknown type {kind!r}")
    for target, link in links:  # last: nothing above was written through a link
        target.symlink_to(link)
    for target, mode in reversed(folders):  # after their content: a read-only folder is filled first
        target.chmod(mode)
