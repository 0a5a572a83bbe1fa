"""Working out a container's argv without its image (Kubernetes command/args rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hookbus.controller.executors.images import (
    CommandError,
    container_argv,
    image_defaults,
    image_helpers,
    not_executable,
    rewrite_paths,
    split_image,
)
from tests.support.executors import proc

if TYPE_CHECKING:
    from pathlib import Path


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


def test_argosay_v2_and_untagged_provide_slash_argosay_and_v1_does_not() -> None:
    assert image_helpers("argoproj/argosay:v2") == (("/argosay", "argosay"),)
    assert image_helpers("argoproj/argosay") == (("/argosay", "argosay"),)
    assert image_helpers("docker.io/argoproj/argosay:latest") == (("/argosay", "argosay"),)
    assert image_helpers("argoproj/argosay:v1") == ()
    assert container_argv(proc([], [], image="argoproj/argosay:v1")) == ("cowsay",)
    assert image_helpers("alpine:3.23") == ()
    assert image_helpers(None) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/argosay", "/state/bin/argosay"),
        ("echo x; /argosay", "echo x; /state/bin/argosay"),
        ("echo x;/argosay echo hi|/argosay cat f", "echo x;/state/bin/argosay echo hi|/state/bin/argosay cat f"),
        ("(/argosay)", "(/state/bin/argosay)"),
        ("x/argosay /argosay/x /argosayy", "x/argosay /argosay/x /argosayy"),
        ("echo", "echo"),
    ],
)
def test_rewrite_paths_replaces_whole_shell_words(text: str, expected: str) -> None:
    assert rewrite_paths(text, {"/argosay": "/state/bin/argosay"}) == expected


def test_rewrite_paths_quotes_a_replacement_the_shell_would_split() -> None:
    assert rewrite_paths("sh -c x; /argosay", {"/argosay": "/my state/argosay"}) == "sh -c x; '/my state/argosay'"
    assert rewrite_paths("/argosay", {"/argosay": "/my state/argosay"}) == "/my state/argosay"  # a whole argv item


def test_not_executable_gives_gos_reasons(tmp_path: Path) -> None:
    program = tmp_path / "run"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    data = tmp_path / "data"
    data.write_text("x")
    data.chmod(0o644)
    assert not_executable(program, "./run") is None
    assert not_executable(tmp_path / "absent", "./absent") == "stat ./absent: no such file or directory"
    assert not_executable(tmp_path, str(tmp_path)) == "is a directory"
    assert not_executable(data, "data") == "permission denied"
