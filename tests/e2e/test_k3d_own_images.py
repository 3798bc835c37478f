"""A project's own code on k3d: its image built by the real Docker engine on this machine, which
is also the k3d host, imported by `k3d image import` into every node container of the cluster
(a server and an agent, both reaching no registry), and run by the workload that names it; an
unchanged project sends nothing, a code change rolls it to a new build."""

from __future__ import annotations

import json

import yaml

from tests.e2e import hosts as test_hosts, test_k3d, test_own_images
from tests.e2e.conftest import NEW
from tests.e2e.test_k3d import free_port
from tests.e2e.test_own_images import NO_REGISTRY, rolls_on_change_only, write_app

k3d_cluster = test_k3d.k3d_cluster  # the fixtures, shared
base_image = test_own_images.base_image

NO_REGISTRY_ENV = {"STANDIN_K3D_NO_REGISTRY": "1"}  # the stand-in k3d's nodes then reach no registry


def write_project(root, name: str, harmony, base_image, bin_dir) -> None:
    write_app(root, base_image)
    spec = {
        "cluster": {"name": name, "runtime": "k3d", "version": NEW, "allow_http": True,
                    "k3d": {"release_url": harmony.mirror.k3d_release_url, "bin_dir": str(bin_dir),
                            "api_port": free_port(), "agents": 1}},
        "images": [{"name": "web", "context": "web"}],
        "workloads": [{"name": "web", "manifests": "k8s/"}],
    }
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))


def up(harmony, root) -> dict:
    done = harmony("up", "--yes", "--json", cwd=root, timeout=600, env=NO_REGISTRY_ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def held(node: str) -> list[str]:
    return test_hosts.docker("exec", node, "k3s", "ctr", "-n", "k8s.io", "images", "ls", "-q").split()


def test_a_projects_image_is_imported_into_every_k3d_node_and_rolled_on_change(
        harmony, k3d_cluster, base_image, tmp_path):
    root = tmp_path / "own"
    write_project(root, k3d_cluster, harmony, base_image, tmp_path / "bin")
    nodes = [f"k3d-{k3d_cluster}-server-0", f"k3d-{k3d_cluster}-agent-0"]

    first = up(harmony, root)
    (image,) = first["images"]
    tag = image["tag"]
    assert tag.startswith("harmony-") and first["images_sent_bytes"] > 0, json.dumps(first, indent=1)
    for node in nodes:  # reaching no registry, each node runs only what it holds: what harmony imported
        assert test_hosts.docker("exec", node, "ls", NO_REGISTRY, check=False) == NO_REGISTRY
        assert f"docker.io/library/web:{tag}" in held(node), node
    template = json.loads(harmony.kubectl("--context", k3d_cluster, "get", "deployment", "web", "-o", "json").stdout)
    (container,) = template["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (f"web:{tag}", "IfNotPresent")
    assert template["status"].get("availableReplicas") == 1
    assert not list((harmony.home / ".cache" / "harmony" / "staging").iterdir())  # k3d's copy is removed

    rolls_on_change_only(lambda: up(harmony, root), harmony, root, k3d_cluster, tag, ["change"],
                         lambda new_tag: all(f"docker.io/library/web:{new_tag}" in held(node) for node in nodes))
