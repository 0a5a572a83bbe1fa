"""The stand-in kubelet's containers write outside their volumes into a root view of their
own, thrown away when they end: nothing lands on the host's root filesystem.

A whole controller in Kubernetes mode runs a pod through :class:`tests.kube.podrun.HostRule`:
its init container writes a file into an ``emptyDir`` volume and one at ``/``; ``main``
writes at ``/`` and under ``/mnt``, does not see the init container's file at ``/`` (not a
volume), and reads the one in the volume.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hookbus.controller.app import Hookbus
from hookbus.controller.kube.resources import WORKFLOWS
from tests.kube.podrun import HostRule, root_view_error
from tests.kube.test_pods_e2e import launcher, nodes, pod_settings, succeeded, workflow
from tests.support.kubelet import Kubelet

if TYPE_CHECKING:
    from hookbus.controller.kube.client import KubeClient
    from tests.support.kubeapi import KubeApi

__all__ = ["launcher"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="the stand-in kubelet isolates containers in mount namespaces (root)"
)

WRITES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: writes}
spec:
  entrypoint: main
  volumes: [{name: shared, emptyDir: {}}]
  templates:
    - name: main
      initContainers:
        - name: first
          image: busybox
          command: [sh, -c, "set -e; echo from the init container > VOLUME/note; echo leak > INIT_LEAK"]
          volumeMounts: [{name: shared, mountPath: VOLUME}]
      container:
        image: busybox
        command: [sh, -c, "set -e; echo leak > ROOT_LEAK; mkdir -p MNT; echo leak > MNT_LEAK; test ! -e UNSEEN; cat VOLUME/note"]
        volumeMounts: [{name: shared, mountPath: VOLUME}]
"""


def _paths(base: str) -> dict[str, str]:
    tag = secrets.token_hex(6)
    return {
        "VOLUME": f"{base}/mnt/hookbus-test-volume-{tag}",
        "INIT_LEAK": f"{base}/hookbus-test-leak-{tag}-init",
        "ROOT_LEAK": f"{base}/hookbus-test-leak-{tag}",
        "MNT_LEAK": f"{base}/mnt/hookbus-test-leak-{tag}",
        "MNT": f"{base}/mnt",
        "UNSEEN": f"{base}/hookbus-test-leak-{tag}-init",  # main checks it does not see it
    }


def _on_host(paths: dict[str, str], *keys: str) -> list[str]:
    """Those of the *keys*' paths that exist on the host."""
    return [paths[k] for k in keys if Path(paths[k]).exists() or Path(paths[k]).is_symlink()]


async def _run(kube: KubeClient, kube_api: KubeApi, tmp_path: Path, rule: HostRule, paths: dict[str, str]) -> None:
    text = WRITES
    for key in sorted(paths, key=len, reverse=True):
        text = text.replace(key, paths[key])
    async with Hookbus(pod_settings(str(kube_api.url), tmp_path)), Kubelet(kube_api).run(rule):
        await kube.create(WORKFLOWS, "default", workflow(text))
        await succeeded(kube_api, "writes")
    assert nodes(kube_api, "writes")["writes"]["outputs"]["result"] == "from the init container"


@pytest.mark.parametrize("private_tmp", [False, True], ids=["host-tmp", "private-tmp"])
async def test_files_written_outside_volumes_stay_off_the_host(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, launcher: Path, private_tmp: bool
) -> None:
    reason = root_view_error()
    if reason is not None:
        pytest.skip(f"no root view for containers on this host: {reason}")
    rule = HostRule(launcher, tmp_path / "pods", api=kube_api, private_tmp=private_tmp)
    assert rule.root_view
    paths = _paths("")
    await _run(kube, kube_api, tmp_path, rule, paths)
    assert _on_host(paths, "INIT_LEAK", "ROOT_LEAK", "MNT_LEAK", "VOLUME") == []
    assert rule.mount_points == {}


async def test_without_a_root_view_containers_write_on_the_hosts_filesystem(
    kube: KubeClient, kube_api: KubeApi, tmp_path: Path, launcher: Path
) -> None:
    """The fallback where the kernel has no overlay in a mount namespace: volumes still
    shared by the pod's containers, files outside them on the host (here under the test's
    directory)."""
    rule = HostRule(launcher, tmp_path / "pods", api=kube_api, root_view=False)
    (tmp_path / "host").mkdir()
    paths = _paths(str(tmp_path / "host"))
    paths["UNSEEN"] = str(tmp_path / "host" / "nothing")  # the init container's file is on the host, seen
    await _run(kube, kube_api, tmp_path, rule, paths)
    assert (tmp_path / "host" / "mnt").is_dir()
    assert _on_host(paths, "INIT_LEAK", "ROOT_LEAK", "MNT_LEAK") == [paths[k] for k in ("INIT_LEAK", "ROOT_LEAK", "MNT_LEAK")]
    assert _on_host(paths, "VOLUME") == [], "the mount point the stand-in made is removed again"
