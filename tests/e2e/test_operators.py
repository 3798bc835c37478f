"""An operator in one `up`: its CRD (two served versions, a structural schema), RBAC and
manager, and custom resources of its kind, in two workloads and in one. The CRDs go first, the
custom resources once their CRD is Established; a second `up` changes nothing; removed, the
custom resources are pruned before their CRD. A custom resource whose CRD nobody brings is bad
input."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.e2e.test_workloads import project

OPERATOR = Path(__file__).parent / "projects" / "backup-operator"


def workloads(root: Path, listed: list[dict]) -> None:
    spec = yaml.safe_load((root / "harmony.yaml").read_text())
    spec["workloads"] = listed
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def test_an_operator_and_its_custom_resources_come_up_in_one_run(host, harmony, tmp_path):
    root = project(tmp_path, host, harmony, source=OPERATOR)
    assert harmony.up(host, "--name", "shop").returncode == 0  # a cluster that has never heard of the CRD

    plan = harmony("plan", cwd=root)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "workload operator: 8 to create" in plan.stdout
    assert "workload backups: 3 to create" in plan.stdout  # its namespace, and two Backups
    assert "workload backups: Backup/nightly in nightly: after its CRD" in plan.stdout

    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "workload operator: 8 created; running" in up.stdout
    assert "workload backups: 3 created; running" in up.stdout
    backups = json.loads(harmony.kubectl("--context", "shop", "get", "backups", "-n", "nightly", "-o", "json").stdout)
    assert sorted(b["metadata"]["name"] for b in backups["items"]) == ["hourly", "nightly"]

    again = harmony("up", "--yes", cwd=root)
    assert "workload operator: 8 unchanged; running" in again.stdout, again.stdout + again.stderr
    assert "workload backups: 3 unchanged; running" in again.stdout
    assert harmony("check", cwd=root).returncode == 0

    # Removed: custom resources first, their CRD after them, namespaces last.
    workloads(root, [])
    gone = harmony("up", "--yes", "--json", cwd=root)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    order = [(o["kind"], o["name"]) for o in json.loads(gone.stdout)["workloads"]["objects"] if o["action"] == "prune"]
    assert len(order) == 11
    assert order.index(("Backup", "nightly")) < order.index(("CustomResourceDefinition", "backups.stash.example.io")) \
        < order.index(("Namespace", "backup-system"))
    assert harmony.kubectl("--context", "shop", "get", "crd", "backups.stash.example.io").returncode == 1

    # Custom resources whose CRD neither the cluster nor the project has: bad input, at plan.
    workloads(root, [{"name": "backups", "namespace": "nightly", "manifests": "backups/"}])
    orphan = harmony("plan", cwd=root)
    assert orphan.returncode == 2, orphan.stdout + orphan.stderr
    assert (f"{root / 'backups' / 'nightly.yaml'}, document 1: the cluster serves no Backup in stash.example.io/v1, "
            "and no CustomResourceDefinition in the project defines it") in orphan.stderr

    # The CRD and its custom resources in one workload: one up too.
    workloads(root, [{"name": "all", "manifests": ["config/crd/", "backups/"]}])
    one = harmony("up", "--yes", cwd=root)
    assert one.returncode == 0, one.stdout + one.stderr
    assert "workload all: 3 created; running" in one.stdout  # the CRD, and the Backups in default
    assert "workload all: 3 unchanged; running" in harmony("up", "--yes", cwd=root).stdout
