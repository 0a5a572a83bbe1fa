"""What a container would run, worked out without its image.

Kubernetes runs ``command + args`` when ``command`` is set; otherwise the
image's ENTRYPOINT with ``args`` (or, with no ``args``, the image's CMD). The
local executor never pulls images, so it knows the entrypoint and CMD only of
the images listed in :data:`KNOWN_IMAGES` (those Argo's examples use). Several
official images start through a ``docker-entrypoint.sh`` that runs the image's
program when the first argument is an option (``-x``) and otherwise runs the
arguments as a command; that rule is modelled by ``program``.

The program is then looked up as Argo's executor does (Go's ``exec.LookPath``);
:class:`ExecutableNotFound` and :func:`not_executable` give its wording when
that fails. Some image files are provided by the local executor's helper
commands (``/argosay`` of ``argoproj/argosay:v2``): see ``ImageDefaults.helpers``
and :func:`rewrite_paths`.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from .base import ProcessSpec

NOT_IN_PATH: Final = "executable file not found in $PATH"
"""Go's reason for a command name that no PATH directory holds."""
NO_SUCH_FILE: Final = "no such file or directory"
"""The end of Go's reason for a path that does not exist."""
_WORD_EDGE: Final = r"""\s;&|()<>'"`"""
"""Characters that end a word in a shell command line."""


class CommandError(Exception):
    """The container's command cannot be determined or run on this host (retrying does not help)."""


class ExecutableNotFound(CommandError):
    """The command is not an executable file, as Argo's executor finds when it looks it up.

    ``str()`` is Argo's wording (Go's ``exec.LookPath`` error behind the executor's prefix),
    e.g. ``failed to find name in PATH: exec: "foo": executable file not found in $PATH``.
    """

    def __init__(self, command: str, reason: str) -> None:
        self.command = command
        self.reason = reason
        """Go's reason: ``executable file not found in $PATH``, ``stat /x: no such file or directory`` ..."""
        super().__init__(f"failed to find name in PATH: exec: {json.dumps(command, ensure_ascii=False)}: {reason}")


@dataclass(frozen=True, slots=True)
class ImageDefaults:
    """The parts of an image that decide what runs when a container sets no ``command``."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    program: str | None = None
    """Set for images whose entrypoint script runs ``program`` for option-style arguments."""
    helpers: tuple[tuple[str, str], ...] = ()
    """Files of the image the local executor provides: (absolute path, name of its helper command)."""


KNOWN_IMAGES: dict[str, ImageDefaults] = {
    "busybox": ImageDefaults(cmd=("sh",)),
    "alpine": ImageDefaults(cmd=("/bin/sh",)),
    "debian": ImageDefaults(cmd=("bash",)),
    "ubuntu": ImageDefaults(cmd=("/bin/bash",)),
    "python": ImageDefaults(cmd=("python3",)),
    "golang": ImageDefaults(cmd=("bash",)),
    "node": ImageDefaults(cmd=("node",), program="node"),
    # v1 is Ubuntu with cowsay (no /argosay); v2 adds the /argosay script, and is what an
    # untagged reference gets (Argo's tests and examples name v1 or v2 only).
    "argoproj/argosay:v1": ImageDefaults(cmd=("cowsay",)),
    "argoproj/argosay": ImageDefaults(entrypoint=("/argosay",), helpers=(("/argosay", "argosay"),)),
    "docker/whalesay": ImageDefaults(cmd=("/bin/bash",)),
    "curlimages/curl": ImageDefaults(cmd=("curl",), program="curl"),
    "nginx": ImageDefaults(cmd=("nginx", "-g", "daemon off;"), program="nginx"),
    "influxdb": ImageDefaults(cmd=("influxd",), program="influxd"),
    "stedolan/jq": ImageDefaults(entrypoint=("jq",)),
}
"""Entrypoint and CMD of images by repository (``repo:tag`` entries win over ``repo``)."""


def split_image(image: str) -> tuple[str, str]:
    """``(repository, tag)`` of an image reference; the registry host and ``library/`` are dropped.

    >>> split_image("docker.io/library/python:alpine3.23")
    ('python', 'alpine3.23')
    """
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    repo, tag = (ref[:colon], ref[colon + 1 :]) if colon > slash else (ref, "latest")
    parts = repo.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts), tag


def image_defaults(image: str | None) -> ImageDefaults | None:
    """The known defaults of *image*, or ``None``."""
    if not image:
        return None
    repo, tag = split_image(image)
    return KNOWN_IMAGES.get(f"{repo}:{tag}") or KNOWN_IMAGES.get(repo)


def image_helpers(image: str | None) -> tuple[tuple[str, str], ...]:
    """(absolute path, helper command) of the files the local executor provides for *image*."""
    defaults = image_defaults(image)
    return defaults.helpers if defaults is not None else ()


def container_argv(
    spec: ProcessSpec,
    *,
    script_path: str | None = None,
    available: Callable[[str], bool] = lambda _name: True,
) -> tuple[str, ...]:
    """The argv the container runs, as Kubernetes would build it.

    For script templates (``spec.source`` set) *script_path* is appended, as
    Argo appends its script file to the container's arguments. *available*
    tells whether a command exists (for entrypoint scripts that fall back to
    their program). Raises :class:`CommandError` when the image's entrypoint
    would be needed but is not known.
    """
    tail = (script_path,) if script_path is not None else ()
    if spec.command:
        return (*spec.command, *spec.args, *tail)
    defaults = image_defaults(spec.image)
    if defaults is None:
        shown = spec.image or "(no image)"
        raise CommandError(
            f"container {spec.name!r} sets no command, so image {shown}'s entrypoint would run; "
            "the local executor does not pull images and does not know that entrypoint: "
            "set 'command' in the template"
        )
    args = (*spec.args, *tail)
    if defaults.entrypoint:
        return (*defaults.entrypoint, *(args or defaults.cmd))
    if not args:
        return defaults.cmd
    if defaults.program and (args[0].startswith("-") or not available(args[0])):
        return (defaults.program, *args)
    return args


def not_executable(host: Path, shown: str) -> str | None:
    """Go's reason why the file at *host* cannot be exec'd as the command *shown*, or ``None``.

    The reasons of Go's ``exec.LookPath`` for a path: ``stat ./x: no such file or directory``,
    ``is a directory``, ``permission denied``.
    """
    try:
        info = os.stat(host)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return f"stat {shown}: {reason[:1].lower()}{reason[1:]}"
    if stat.S_ISDIR(info.st_mode):
        return os.strerror(errno.EISDIR).lower()
    if not os.access(host, os.X_OK):
        return os.strerror(errno.EACCES).lower()
    return None


def rewrite_paths(text: str, paths: Mapping[str, str]) -> str:
    """*text* with every shell word that is a key of *paths* replaced by its value (quoted for the shell).

    *text* equal to a key is replaced as it is. For the image paths the local executor
    provides (``/argosay``) in a command line such as ``echo x; /argosay``.
    """
    if not paths:
        return text
    if text in paths:
        return paths[text]
    for inside, host in paths.items():
        if inside in text:
            text = _replace_word(text, inside, shlex.quote(host))
    return text


def _replace_word(text: str, word: str, replacement: str) -> str:
    pattern = re.compile(rf"(?<![^{_WORD_EDGE}]){re.escape(word)}(?![^{_WORD_EDGE}])")
    return pattern.sub(lambda _match: replacement, text)
