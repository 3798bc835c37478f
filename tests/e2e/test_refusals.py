"""What the API refuses is known before anything is written: `plan` predicts each refusal by
a dry run (creates too, with strict field validation), `up` then writes nothing and says the
object, its file and the API's reason. And a field another controller owns by design, the
replicas of what an autoscaler scales, is left to it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.e2e.conftest import until
from tests.e2e.test_standin_api import workload
from tests.e2e.test_workloads import kubectl_json, project

APP = workload("Deployment", "web", "shop", "nginx:1.27-alpine", "  replicas: 2\n")
SCALER = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 6
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
"""


def app(tmp_path: Path, host, harmony, files: dict[str, str]) -> Path:
    """A project of one workload (namespace shop, made for it) holding `files`."""
    source = tmp_path / "source" / "app"
    (source / "k8s").mkdir(parents=True)
    for name, text in files.items():
        (source / "k8s" / name).write_text(text)
    (source / "harmony.yaml").write_text(yaml.safe_dump(
        {"name": "app", "workloads": [{"name": "app", "namespace": "shop", "manifests": "k8s/"}]}))
    return project(tmp_path, host, harmony, source=source)


def refused(harmony, root: Path, file: str, reason: str) -> None:
    """`plan` and `up` both refuse, naming the file and the API's reason; nothing is written."""
    for command in (["plan"], ["up", "--yes"]):
        result = harmony(*command, cwd=root)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = [line for line in result.stdout.splitlines() if "the cluster refuses it" in line]
        assert len(lines) == 1 and f"({root / 'k8s' / file}, document 1): the cluster refuses it: " in lines[0] \
            and reason in lines[0], result.stdout
        assert "nothing of the workloads is written" in result.stderr


def test_each_refusal_is_predicted_and_nothing_is_written(host, harmony, tmp_path):
    root = app(tmp_path, host, harmony, {"web.yaml": APP})
    assert harmony("up", "--yes", cwd=root).returncode == 0
    version = kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")["metadata"]["resourceVersion"]
    cases = {
        "elsewhere.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: nowhere}\n",
                           'namespaces "nowhere" not found'),
        "typo.yaml": ("apiVersion: v1\nkind: Service\nmetadata: {name: typo}\n"
                      "spec: {ports: [{port: 80}], selectr: {app: web}}\n", ".spec.selectr: field not declared in schema"),
        "big.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {blob: '" + "x" * 1_100_000 + "'}\n",
                     "must have at most 1048576 bytes"),
    }
    for file, (text, reason) in cases.items():
        (root / "k8s" / file).write_text(text)
        refused(harmony, root, file, reason)
        (root / "k8s" / file).unlink()
    for kind, name in (("namespace", "nowhere"), ("service", "typo"), ("configmap", "big")):
        assert harmony.kubectl("--context", "shop", "get", kind, name, "-n", "shop").returncode == 1
    # An immutable field changed: refused, where a Job's template would be replaced.
    (root / "k8s" / "web.yaml").write_text(APP.replace("{app: web}}\n  template", "{app: web, tier: front}}\n  template")
                                           .replace("labels: {app: web}}\n    spec", "labels: {app: web, tier: front}}\n    spec"))
    refused(harmony, root, "web.yaml", "field is immutable")
    assert kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")["metadata"]["resourceVersion"] == version


def test_an_autoscaled_deployments_replicas_are_left_to_its_autoscaler(host, harmony, tmp_path):
    root = app(tmp_path, host, harmony, {"web.yaml": APP})
    assert harmony("up", "--yes", cwd=root).returncode == 0  # harmony owns replicas: 2
    (root / "k8s" / "hpa.yaml").write_text(SCALER)
    plan = harmony("plan", cwd=root)
    assert "workload app: Deployment/web in shop: spec.replicas left to HorizontalPodAutoscaler/web" in plan.stdout, \
        plan.stdout + plan.stderr
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 0, up.stdout + up.stderr
    replicas = lambda: kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")["spec"]["replicas"]  # noqa: E731
    assert until(lambda: replicas() == 3, 30), replicas()  # the autoscaler's minimum
    managers = {m["manager"] for m in json.loads(harmony.kubectl(
        "--context", "shop", "get", "deployment", "web", "-n", "shop", "-o", "json", "--show-managed-fields").stdout)
        ["metadata"]["managedFields"] if "f:replicas" in json.dumps(m.get("fieldsV1"))}
    assert "harmony" not in managers
    again = harmony("up", "--yes", cwd=root)
    assert "workload app: 3 unchanged; running" in again.stdout, again.stdout + again.stderr
    assert harmony("check", cwd=root).returncode == 0
    assert replicas() == 3
