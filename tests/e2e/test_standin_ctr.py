"""The stand-in k3s's `k3s ctr` on real test hosts (a server and an agent installed by `harmony
up`): an archive copied to a node and imported with `k3s ctr -n k8s.io images import` is listed
by `images ls -q`, shows in the node's `status.images` through the API, and counts for the
kubelet's pull decisions on a node that reaches no registry; one imported into another
namespace does not; with k3s stopped, ctr cannot dial containerd."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import uuid

from tests.e2e import hosts as test_hosts
from tests.e2e.conftest import until, write_inventory

NO_REGISTRY = "/etc/standin-no-registry"


def docker_archive(tag: str) -> bytes:
    """A docker-archive as `docker save` (before Docker 25) writes it: manifest.json, a config,
    a layer."""
    def add(archive, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        add(t, "hello.txt", uuid.uuid4().hex.encode())
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = hashlib.sha256(layer.getvalue()).hexdigest() + "/layer.tar"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        add(t, config_name, config)
        add(t, layer_name, layer.getvalue())
        add(t, "manifest.json", json.dumps([{"Config": config_name, "RepoTags": [tag],
                                             "Layers": [layer_name]}]).encode())
    return out.getvalue()


def run(host, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", host.name, "sh", "-c", command], capture_output=True,
                          text=True, timeout=timeout)


def node_images(harmony, name: str) -> set[str]:
    result = harmony.kubectl("--context", "harmony", "get", "node", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    return {n for entry in json.loads(result.stdout)["status"]["images"] for n in entry["names"]}


def pod_waiting(harmony, app: str) -> dict | None:
    result = harmony.kubectl("--context", "harmony", "get", "pods", "-n", "default", "-l", f"app={app}",
                             "-o", "json")
    for pod in json.loads(result.stdout or "{}").get("items", []):
        for status in pod["status"].get("containerStatuses") or []:
            return status["state"].get("waiting") or {"running": True}
    return None


def deployment(app: str, image: str, node: str, policy: str | None = None) -> dict:
    container = {"name": "app", "image": image, **({"imagePullPolicy": policy} if policy else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                                           "containers": [container]}}}}


def test_images_imported_with_ctr_reach_the_nodes_status_and_the_kubelet(harmony, start_host, tmp_path):
    server, agent = start_host(), start_host()
    for node in (server, agent):
        node.sh(f"touch {NO_REGISTRY}")  # airgapped: only what a node has runs
    inventory = write_inventory(tmp_path / "pair.py", servers={"s1": (server, {"k3s_node_name": "s1"})},
                                agents={"a1": (agent, {"k3s_node_name": "a1"})})
    up = harmony.up_cluster(inventory, server)
    assert up.returncode == 0, up.stdout + up.stderr

    for host, node, tag in ((server, "s1", "web:1"), (agent, "a1", "api:2")):
        archive = tmp_path / f"{node}.tar"
        archive.write_bytes(docker_archive(tag))
        test_hosts.docker("cp", str(archive), f"{host.name}:/tmp/image.tar")
        imported = run(host, "k3s ctr -n k8s.io images import /tmp/image.tar")
        assert imported.returncode == 0, imported.stderr
        name = f"docker.io/library/{tag}"
        assert imported.stdout.startswith(f"unpacking {name} (sha256:") and imported.stdout.endswith("...done\n")
        assert run(host, "k3s ctr -n k8s.io images ls -q").stdout.splitlines() == [name]
        assert run(host, "ctr images ls -q").stdout.splitlines() == [name]  # the ctr link; k8s.io by default
        # another namespace: containerd has it, the kubelet (CRI, k8s.io) does not
        hidden = run(host, "k3s ctr -n default images import - < /tmp/image.tar")
        assert hidden.returncode == 0, hidden.stderr
        assert until(lambda: name in node_images(harmony, node), timeout=20), node_images(harmony, node)

    # the stand-in's own images namespace-check: what went to `default` is not reported
    assert "docker.io/library/web:1" not in node_images(harmony, "a1")

    workloads = [deployment("present", "web:1", "s1"),  # IfNotPresent, present: runs, no pull
                 deployment("agent", "api:2", "a1"),
                 deployment("always", "web:1", "s1", "Always"),  # pulls: no registry
                 deployment("never", "web:9", "s1", "Never")]  # absent, never pulled
    manifest = tmp_path / "workloads.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": workloads}))
    applied = harmony.kubectl("--context", "harmony", "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    expected = {"present": {"running": True}, "agent": {"running": True},
                "always": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "web:1"'},
                "never": {"reason": "ErrImageNeverPull",
                          "message": 'Container image "web:9" is not present with pull policy of Never'}}
    assert until(lambda: {app: pod_waiting(harmony, app) for app in expected} == expected, timeout=30), \
        {app: pod_waiting(harmony, app) for app in expected}

    server.stop()  # containerd goes with k3s, its socket stays behind
    down = run(server, "k3s ctr -n k8s.io images ls -q")
    socket = "/run/k3s/containerd/containerd.sock"
    assert (down.returncode, down.stdout) == (1, "")
    assert down.stderr == (f'ctr: failed to dial "{socket}": connection error: desc = "transport: error while '
                           f'dialing: dial unix {socket}: connect: connection refused"\n')
    # what was imported stays on the node's disk, as containerd's store does
    assert "docker.io/library/web:1" in server.sh(
        "cat /var/lib/rancher/k3s/agent/containerd/standin-images.json")
