"""Two projects on one cluster, as on a laptop's one k3s: each repository's `up`, `plan` and
`check` act on its own workloads only. Another project's object is refused by name (taken only
with --adopt), a namespace both use is not pruned from under the one still in it, and `down`
removes the cluster only with the last project on it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.e2e.conftest import until
from tests.e2e.test_workloads import project

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: blog-settings}
data: {POSTS_PER_PAGE: "10"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: blog-api, labels: {app: blog-api}}
spec:
  replicas: 1
  selector: {matchLabels: {app: blog-api}}
  template:
    metadata: {labels: {app: blog-api}}
    spec:
      containers:
        - name: api
          image: ghost:5-alpine
          envFrom: [{configMapRef: {name: blog-settings}}]
"""
LINKS = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: blog-links}\ndata: {shop: http://web.shop/}\n"
THE_SHOPS_SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 80, nodePort: 30080}]
"""


def blog(tmp_path: Path, shop: Path) -> Path:
    """A second repository on the same cluster: its API in a namespace of its own (made for its
    workload), and links in the shop's namespace."""
    root = tmp_path / "blog"
    (root / "api").mkdir(parents=True)
    (root / "extras").mkdir()
    (root / "api" / "api.yaml").write_text(SETTINGS)
    (root / "extras" / "links.yaml").write_text(LINKS)
    spec = yaml.safe_load((shop / "harmony.yaml").read_text())
    spec["name"] = "blog"
    spec["workloads"] = [{"name": "api", "namespace": "blog", "manifests": "api/"},
                         {"name": "extras", "namespace": "shop", "manifests": "extras/"}]
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def part_of(harmony, kind: str, name: str, namespace: str) -> str:
    got = harmony.kubectl("--context", "shop", "get", kind, name, "-n", namespace, "-o", "json")
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout)["metadata"]["labels"]["applyset.kubernetes.io/part-of"]


def without_workloads(root: Path) -> None:
    spec = yaml.safe_load((root / "harmony.yaml").read_text())
    spec["workloads"] = []
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def test_two_projects_share_a_cluster_and_never_touch_each_other(host, harmony, tmp_path):
    shop = project(tmp_path, host, harmony)
    assert harmony("up", "--yes", cwd=shop).returncode == 0
    other = blog(tmp_path, shop)

    # The blog's plan and up speak of the blog alone; the shop sees no drift afterwards.
    plan = harmony("plan", cwd=other)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "workload api: 3 to create" in plan.stdout  # its namespace, made for it, and two objects
    assert "workload extras: 1 to create" in plan.stdout
    assert "workload web" not in plan.stdout and "prune" not in plan.stdout
    up = harmony("up", "--yes", cwd=other)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "workload api: 3 created; running" in up.stdout and "workload extras: 1 created; running" in up.stdout
    assert "workload web" not in up.stdout
    check = harmony("check", cwd=shop)
    assert check.returncode == 0, check.stdout + check.stderr
    assert harmony("up", "--yes", cwd=other).stdout.count("unchanged; running") == 2

    # The shop's Service, listed by the blog too: refused, naming its owner; nothing written.
    (other / "extras" / "web.yaml").write_text(THE_SHOPS_SERVICE)
    owner = part_of(harmony, "service", "web", "shop")
    for command in ("plan", "up"):
        refused = harmony(command, *(["--yes"] if command == "up" else []), cwd=other)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (f"workload extras: Service/web in shop ({other / 'extras' / 'web.yaml'}, document 1): belongs to "
                "project shop's workload web: leave it out of this project, or take it over with --adopt"
                in refused.stdout), refused.stdout
        assert "nothing of the workloads is written" in refused.stderr
    assert part_of(harmony, "service", "web", "shop") == owner

    # Taken with --adopt, it is the blog's, and the shop is refused it in turn until it takes it back.
    adopted = harmony("up", "--yes", "--adopt", cwd=other)
    assert "workload extras: 1 adopted, 1 unchanged; running" in adopted.stdout, adopted.stdout + adopted.stderr
    assert part_of(harmony, "service", "web", "shop") != owner
    assert "belongs to project blog's workload extras" in harmony("plan", cwd=shop).stdout
    assert "workload web: 1 adopted, 4 unchanged" in harmony("up", "--yes", "--adopt", cwd=shop).stdout
    (other / "extras" / "web.yaml").unlink()
    assert "pruned" not in harmony("up", "--yes", cwd=other).stdout  # no longer the blog's to prune

    # The shop goes: everything of it is pruned but its namespace, which still holds the blog's links.
    without_workloads(shop)
    plan = harmony("plan", cwd=shop)
    assert ("workload web: Namespace/shop: kept: it holds ConfigMap/blog-links (project blog's workload extras)"
            in plan.stdout), plan.stdout + plan.stderr
    gone = harmony("up", "--yes", cwd=shop)
    assert "workload web: 4 pruned, 1 kept from pruning" in gone.stdout, gone.stdout + gone.stderr
    assert "workload cache: 2 pruned" in gone.stdout and "workload status: 1 pruned" in gone.stdout
    assert harmony.kubectl("--context", "shop", "get", "configmap", "blog-links", "-n", "shop").returncode == 0
    assert harmony("check", cwd=other).returncode == 0

    # The blog's down, while the shop still holds its namespace: the blog's workloads go, the cluster stays.
    down = harmony("down", "--yes", cwd=other)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "workload api: 3 pruned" in down.stdout and "workload extras: 1 pruned" in down.stdout
    assert "cluster 'shop' kept: it runs project shop's web; harmony down --cluster removes it with them" in down.stdout
    assert host.exists("/usr/local/bin/k3s")
    gone = lambda namespace: harmony.kubectl("--context", "shop", "get", "namespace", namespace).returncode == 1  # noqa: E731
    assert until(lambda: gone("blog"), 15)  # the blog's api's, once Terminating is over

    # Once the blog has left the namespace, the shop's next up prunes it; the shop's down, the last, removes the cluster.
    last = harmony("up", "--yes", cwd=shop)
    assert "workload web: 1 pruned" in last.stdout, last.stdout + last.stderr
    assert until(lambda: gone("shop"), 15)
    assert harmony("down", "--yes", cwd=shop).returncode == 0
    assert not host.exists("/usr/local/bin/k3s")
