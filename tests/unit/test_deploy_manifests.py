"""The Kubernetes manifests under deploy/kubernetes hold together: no cluster
runs here, so they are checked the way a cluster would use them: rendered
by kustomize where kubectl is installed, every object well-formed, every
reference (ConfigMap, Secret, Service selector, ports, probes) resolved,
and every MLNB_ variable one that mlnb's settings know and parse."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlnb.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        found += [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


def containers() -> list[dict[str, Any]]:
    pods = [d["spec"]["template"]["spec"] for d in by_kind("Deployment").values()]
    for cluster in by_kind("DaskCluster").values():
        pods += [cluster["spec"]["worker"]["spec"], cluster["spec"]["scheduler"]["spec"]]
    return [c for pod in pods for c in pod["containers"]]


def test_kustomize_renders_every_resource() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (apt-get install kubectl)")
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(rendered) if doc)
    assert kinds == sorted(doc["kind"] for doc in documents())
    placed = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] != "Namespace"]
    assert all(doc["metadata"].get("namespace") == "mlnb" for doc in placed)


def test_every_object_is_well_formed() -> None:
    for doc in documents():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
        assert doc["metadata"]["name"]


def test_deployments_select_their_own_pods_and_run_mlnb() -> None:
    deployments = by_kind("Deployment")
    assert set(deployments) == {"mlnb-server", "mlnb-job-host"}
    for deployment in deployments.values():
        template = deployment["spec"]["template"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    host = deployments["mlnb-job-host"]["spec"]["template"]["spec"]["containers"][0]
    assert host["command"] == ["mlnb", "jobs", "host"]
    machine_id = next(e for e in host["env"] if e["name"] == "MLNB_MACHINE_ID")
    assert machine_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # each pod a machine
    server = deployments["mlnb-server"]["spec"]["template"]["spec"]["containers"][0]
    assert server["command"][:2] == ["mlnb", "server"]
    port = int(server["command"][server["command"].index("--port") + 1])
    assert server["ports"][0]["containerPort"] == port
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}


def test_the_service_reaches_the_server_pods() -> None:
    service = by_kind("Service")["mlnb-server"]
    labels = by_kind("Deployment")["mlnb-server"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    server = by_kind("Deployment")["mlnb-server"]["spec"]["template"]["spec"]["containers"][0]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= {
        p["containerPort"] for p in server["ports"]
    }


def test_every_reference_names_an_object_of_the_set() -> None:
    config_maps, secrets = set(by_kind("ConfigMap")), set(by_kind("Secret"))
    for container in containers():
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in config_maps
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets


def test_the_settings_parse_as_mlnb_reads_them(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    for config in by_kind("ConfigMap").values():
        env |= config["data"]
    for secret in by_kind("Secret").values():
        env |= secret["stringData"]
    unknown = [k for k in env if k.startswith("MLNB_") and k[5:].lower() not in Settings.__dataclass_fields__]
    assert not unknown, f"not mlnb settings: {unknown}"
    settings = Settings.resolve(env=env | {"MLNB_HOME": str(tmp_path)})
    assert settings.job_host == "service" and settings.tokens["editor"]
    assert settings.artifact_root.startswith("s3://")
    cluster = next(iter(by_kind("DaskCluster")))
    assert settings.dask_scheduler == f"tcp://{cluster}-scheduler:8786"  # the operator's Service name


def test_a_job_host_pod_is_given_the_time_to_drain() -> None:
    pod = by_kind("Deployment")["mlnb-job-host"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    settings = Settings.resolve(env={"MLNB_HOST_DRAIN_S": env["MLNB_HOST_DRAIN_S"]}, home="/tmp/x")
    assert pod["terminationGracePeriodSeconds"] > settings.host_drain_s + settings.cancel_grace_s
