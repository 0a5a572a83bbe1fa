"""Working out a container's argv without its image (Kubernetes command/args rules)."""

from __future__ import annotations

import pytest

from hookbus.controller.executors.images import (
    CommandError,
    container_argv,
    image_defaults,
    split_image,
)
from tests.executors.helpers import proc


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("busybox", ("busybox", "latest")),
        ("alpine:3.23", ("alpine", "3.23")),
        ("docker.io/library/python:alpine3.23", ("python", "alpine3.23")),
        ("quay.io/argoproj/argoexec:latest", ("argoproj/argoexec", "latest")),
        ("localhost:5000/team/tool", ("team/tool", "latest")),
        ("nginx@sha256:abc", ("nginx", "latest")),
    ],
)
def test_split_image(image: str, expected: tuple[str, str]) -> None:
    assert split_image(image) == expected


def test_command_and_args_win() -> None:
    assert container_argv(proc(["sh", "-c"], ["echo hi"], image="whatever/unknown")) == ("sh", "-c", "echo hi")


def test_script_file_comes_after_args() -> None:
    spec = proc(["python"], ["-u"], source="print(1)")
    assert container_argv(spec, script_path="/argo/staging/script") == ("python", "-u", "/argo/staging/script")


def test_image_without_entrypoint_runs_args_or_cmd() -> None:
    assert container_argv(proc([], ["echo", "x"], image="busybox")) == ("echo", "x")
    assert container_argv(proc([], [], image="python:alpine3.23")) == ("python3",)


def test_entrypoint_images_get_args_appended() -> None:
    assert container_argv(proc([], ["echo", "hi"], image="argoproj/argosay:v2")) == ("/argosay", "echo", "hi")
    assert container_argv(proc([], [], image="argoproj/argosay:v2")) == ("/argosay",)
    assert image_defaults("argoproj/argosay:v1") != image_defaults("argoproj/argosay:v2")


def test_entrypoint_scripts_run_their_program_for_options() -> None:
    assert container_argv(proc([], ["-s", "http://x"], image="curlimages/curl:latest")) == ("curl", "-s", "http://x")
    assert container_argv(proc([], ["sh", "-c", "true"], image="curlimages/curl")) == ("sh", "-c", "true")
    missing = container_argv(proc([], ["example.com"], image="curlimages/curl"), available=lambda _n: False)
    assert missing == ("curl", "example.com")


def test_unknown_image_without_command_names_the_image() -> None:
    with pytest.raises(CommandError, match="ghcr.io/org/tool:2"):
        container_argv(proc([], ["run"], image="ghcr.io/org/tool:2"))
