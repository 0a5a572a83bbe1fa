"""``hookbus lint --target kubernetes``: templates the launcher cannot start are named."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hookbus.controller import cli

if TYPE_CHECKING:
    import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_COMMAND = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: whale-}
spec:
  entrypoint: say
  templates:
    - name: say
      container:
        image: docker/whalesay:latest
        args: [hello]
"""


def test_the_examples_pass_for_kubernetes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lint", "--target", "kubernetes", str(ROOT / "examples")]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == "✔ no linting errors found!"


def test_a_template_without_command_is_named_unless_its_image_is_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "whale.yaml"
    wf.write_text(NO_COMMAND)
    assert cli.main(["lint", str(wf)]) == cli.EXIT_OK  # fine for local mode
    capsys.readouterr()
    assert cli.main(["lint", "--target", "kubernetes", str(wf)]) == cli.EXIT_USAGE
    out = capsys.readouterr().out
    assert "spec.templates[0].container: template 'say' sets no command and image 'docker/whalesay:latest'" in out

    plain = tmp_path / "images.yaml"
    plain.write_text("docker/whalesay:latest:\n  cmd: [cowsay]\n")
    assert cli.main(["lint", "--target", "kubernetes", "--images", str(plain), str(wf)]) == cli.EXIT_OK
    capsys.readouterr()
    config_map = tmp_path / "configmap.yaml"
    config_map.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: workflow-controller-configmap}\n"
        "data:\n  images: |\n    docker/whalesay:\n      cmd: [cowsay]\n"
    )
    assert cli.main(["lint", "--target", "kubernetes", "--images", str(config_map), str(wf)]) == cli.EXIT_OK


def test_a_bad_images_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "images.yaml"
    bad.write_text("docker/whalesay: [cowsay]\n")
    assert cli.main(["lint", "--target", "kubernetes", "--images", str(bad), str(ROOT / "examples")]) == cli.EXIT_USAGE
    assert "images.docker/whalesay: expected a map" in capsys.readouterr().err
    assert cli.main(["lint", "--images", str(bad), str(ROOT / "examples")]) == cli.EXIT_USAGE
    assert "--images applies only with --target kubernetes" in capsys.readouterr().err


def test_every_image_argos_examples_run_without_a_command_is_in_the_deployed_index() -> None:
    """The ``images.yaml`` of ``deploy/base`` lists each image an Argo example starts by its
    entrypoint, so none of them fails for want of an entry (``kubernetes`` lint target)."""
    import os

    import pytest
    import yaml

    from hookbus.controller.kube.pods_images import find_image, images_from_config, lint_images
    from tests.conformance import runner

    examples = Path(os.environ.get("HOOKBUS_ARGO_EXAMPLES") or runner.DEFAULT_EXAMPLES)
    if not examples.is_dir():
        pytest.skip(f"no Argo examples at {examples}")
    config = yaml.safe_load((ROOT / "deploy" / "base" / "configmap.yaml").read_text())
    images = images_from_config(yaml.safe_load(config["data"]["images.yaml"]))
    problems = []
    for path in sorted(examples.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"):
                problems += [f"{path.name}: {p}" for p in lint_images(doc, images)]
    assert problems == []
    influx = find_image(images, "influxdb:1.2")
    assert influx is not None and (influx.entrypoint, influx.cmd) == (("/entrypoint.sh",), ("influxd",))
