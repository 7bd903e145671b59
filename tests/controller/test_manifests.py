"""manifests/ hangs together: kustomization lists real files, the Deployment runs the
controller from the catalog's image as the ServiceAccount the ClusterRole is bound to."""

from __future__ import annotations

import yaml

from conftest import CATALOG, ROOT

MANIFESTS = ROOT / "manifests"


def load(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def test_kustomization_lists_every_manifest_and_only_existing_ones():
    (kustomization,) = load("kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    assert kustomization["namespace"] == "pipetune-system"


def test_deployment_runs_the_controller_as_the_bound_service_account_from_the_catalog_image():
    (deployment,) = load("deployment.yaml")
    (service_account,) = load("serviceaccount.yaml")
    binding = next(d for d in load("rbac.yaml") if d["kind"] == "ClusterRoleBinding")
    role = next(d for d in load("rbac.yaml") if d["kind"] == "ClusterRole")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["serviceAccountName"] == service_account["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": service_account["metadata"]["name"],
                                    "namespace": "pipetune-system"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert container["args"][0] == "controller"
    images = {yaml.safe_load(p.read_text())["implementation"]["container"]["image"]
              for p in CATALOG.glob("*/component.yaml")}
    assert images == {container["image"]}
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    # The Dockerfile's entrypoint is the CLI the Deployment's args and the Tasks' steps call.
    assert 'ENTRYPOINT ["pipetune"]' in (ROOT / "Dockerfile").read_text()
