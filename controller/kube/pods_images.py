"""What a container without ``command`` runs in Kubernetes mode: Argo's ``images:`` index.

The launcher must be given the program to run, so a template that relies on its image's
entrypoint needs that entrypoint written down, as Argo's emissary does: the ``images``
key of the controller's configuration maps an image reference to its ``entrypoint`` and
``cmd``::

    images:
      docker/whalesay:latest:
        cmd: [cowsay]
      ghcr.io/example/tool:v1:
        entrypoint: [/tool]
        cmd: [--help]

Kubernetes' rule then gives the argv: ``entrypoint + (args or cmd)``; with no
entrypoint, ``args or cmd`` (its first word is the program). A template whose image is
not listed fails lint for the ``kubernetes`` target (:func:`lint_images`), naming the
template, and errors at run time with the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "ImageConfigError",
    "ImageEntry",
    "find_image",
    "images_from_config",
    "lint_images",
    "parse_images",
    "resolve_argv",
]


class ImageConfigError(ValueError):
    """The ``images`` configuration is malformed, or a container's command cannot be known.

    The message names the image or template; fix the configuration or the template.
    """


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """An image's ENTRYPOINT and CMD, as its Dockerfile sets them."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


def parse_images(value: object) -> dict[str, ImageEntry]:
    """The ``images`` index from its configuration value (a map of image -> entrypoint/cmd)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImageConfigError(f"images: expected a map of image references, got {type(value).__name__}")
    out: dict[str, ImageEntry] = {}
    for image, entry in value.items():
        if not isinstance(image, str) or not image:
            raise ImageConfigError(f"images: {image!r} is not an image reference")
        if not isinstance(entry, dict):
            raise ImageConfigError(f"images.{image}: expected a map with entrypoint and/or cmd")
        unknown = sorted(str(k) for k in entry if k not in ("entrypoint", "cmd"))
        if unknown:
            raise ImageConfigError(f"images.{image}: unknown field(s) {', '.join(unknown)} (expected entrypoint, cmd)")
        parts: dict[str, tuple[str, ...]] = {}
        for key in ("entrypoint", "cmd"):
            words = entry.get(key) or []
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise ImageConfigError(f"images.{image}.{key}: expected a list of strings")
            parts[key] = tuple(words)
        if not parts["entrypoint"] and not parts["cmd"]:
            raise ImageConfigError(f"images.{image}: neither entrypoint nor cmd is set")
        out[image] = ImageEntry(parts["entrypoint"], parts["cmd"])
    return out


def images_from_config(doc: object) -> dict[str, ImageEntry]:
    """The ``images`` index from a configuration document: the index itself, a map with an
    ``images`` key, or a ConfigMap holding that (as YAML text) under ``data.images``."""
    if isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
        text = (doc.get("data") or {}).get("images")
        if text is None:
            return {}
        try:
            doc = yaml.safe_load(str(text))
        except yaml.YAMLError as exc:
            raise ImageConfigError(f"data.images is not YAML: {str(exc).splitlines()[0]}") from None
        return parse_images(doc)
    if isinstance(doc, dict) and "images" in doc and len(doc) == 1:
        return parse_images(doc["images"])
    return parse_images(doc)


def find_image(images: Mapping[str, ImageEntry], image: str | None) -> ImageEntry | None:
    """The entry for *image*: listed as written, or an untagged reference as ``:latest``."""
    if not image:
        return None
    found = images.get(image)
    if found is None and ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        found = images.get(f"{image}:latest")
    if found is None and image.endswith(":latest"):
        found = images.get(image.removesuffix(":latest"))
    return found


def resolve_argv(
    command: Sequence[str], args: Sequence[str], image: str | None, images: Mapping[str, ImageEntry], *, template: str
) -> tuple[list[str], list[str]]:
    """``(command, args)`` with the command never empty: the image's entrypoint filled in.

    Raises :class:`ImageConfigError` naming *template* when the command is empty and the
    image is not in *images*.
    """
    if command:
        return list(command), list(args)
    entry = find_image(images, image)
    if entry is None:
        raise ImageConfigError(missing_command(template, image))
    if entry.entrypoint:
        return list(entry.entrypoint), list(args or entry.cmd)
    words = list(args or entry.cmd)
    return words[:1], words[1:]


def missing_command(template: str, image: str | None) -> str:
    """The error for a template whose image's entrypoint is unknown."""
    return (
        f"template {template!r} sets no command and image {image or '(none)'!r} is not in the images "
        "configuration; in Kubernetes mode the launcher needs the program to run: set 'command' "
        "in the template or list the image's entrypoint/cmd under 'images'"
    )


def lint_images(workflow: Mapping[str, Any], images: Mapping[str, ImageEntry]) -> list[str]:
    """Problems of the ``kubernetes`` lint target: containers the launcher cannot start.

    Each problem names the field path and the template, as ``argo lint`` errors do.
    """
    problems: list[str] = []
    spec = workflow.get("spec") or {}
    templates = spec.get("templates") or []
    if not isinstance(templates, list):
        return problems
    for index, tmpl in enumerate(templates):
        if not isinstance(tmpl, dict):
            continue
        name = str(tmpl.get("name") or f"#{index}")
        mains: list[tuple[str, Any]] = []
        if isinstance(tmpl.get("container"), dict):
            mains.append(("container", tmpl["container"]))
        elif isinstance(tmpl.get("script"), dict):
            continue  # a script always runs its command (default: sh)
        elif isinstance(tmpl.get("containerSet"), dict):
            # The last container is the pod's main (the launcher runs it); the others are init containers.
            containers = tmpl["containerSet"].get("containers") or []
            if containers and isinstance(containers[-1], dict):
                mains.append((f"containerSet.containers[{len(containers) - 1}]", containers[-1]))
        for where, container in mains:
            if container.get("command"):
                continue
            image = container.get("image") or (spec.get("templateDefaults") or {}).get("container", {}).get("image")
            if find_image(images, image) is None:
                problems.append(f"spec.templates[{index}].{where}: {missing_command(name, image)}")
    return problems
