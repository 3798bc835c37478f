"""A project's harmony.yaml: `harmony up`, `check`, `status` and `down` with no arguments, run
from a directory inside the repository, act on the cluster the file describes (a server and an
agent, listed by address) and on its workloads (a DaemonSet among them, on both nodes), over
real SSH."""

from __future__ import annotations

import json
import shutil

import yaml

from tests.e2e.conftest import EXAMPLE, NEW, assert_untouched


DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-agent, namespace: shop}
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata: {labels: {app: node-agent}}
    spec: {containers: [{name: agent, image: busybox:1.36}]}
"""


def write_project(root, server, agent, harmony) -> None:
    (root / ".git").mkdir(parents=True)
    (root / "app" / "src").mkdir(parents=True)
    shutil.copytree(EXAMPLE / "k8s", root / "k8s")
    (root / "k8s" / "node-agent.yaml").write_text(DAEMONSET)
    spec = {
        "cluster": {
            "name": "shop",
            "version": NEW,
            "kubeconfig_server": server.api_url,  # the controller's way to the API
            "allow_http": True,
            "k3s": {"release_url": harmony.mirror.release_url,
                    "registration_address": server.ip},  # the agent's way to the server
        },
        "target": {"servers": [server.target], "agents": [agent.target]},
        "ssh": {"key": str(harmony.ssh_key)},
        "workloads": [{"name": "web", "manifests": "k8s/"}],
    }
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))


def test_commands_without_arguments_act_on_the_project(start_host, harmony, tmp_path):
    server, agent = start_host(), start_host()
    root = tmp_path / "shop"
    write_project(root, server, agent, harmony)
    inside = root / "app" / "src"

    up = harmony("up", "--yes", cwd=inside)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"project: {root / 'harmony.yaml'}" in up.stderr
    assert "2 hosts: 2 changed, 0 unchanged, 0 failed" in up.stdout
    assert "workload web: 6 created; running" in up.stdout  # on a server and an agent
    daemons = harmony.kubectl("--context", "shop", "get", "daemonset", "node-agent", "-n", "shop", "-o", "json")
    assert json.loads(daemons.stdout)["status"]["numberAvailable"] == 2  # one per node
    nodes = harmony.kubectl("--context", "shop", "get", "nodes", "-o", "json")
    assert nodes.returncode == 0, nodes.stderr
    assert len(json.loads(nodes.stdout)["items"]) == 2
    assert agent.is_active("k3s-agent") and server.is_active()

    # The file's name and API address are used again: nothing has to be repeated.
    check = harmony("check", cwd=inside)
    assert check.returncode == 0, check.stdout + check.stderr
    status = harmony("status", "--json", cwd=inside)
    assert status.returncode == 0, status.stderr
    assert {h["node_ready"] for h in json.loads(status.stdout)["hosts"]} == {True}
    again = harmony("up", "--yes", cwd=inside)
    assert "2 hosts: 0 changed, 2 unchanged, 0 failed" in again.stdout, again.stdout + again.stderr
    assert "workload web: 6 unchanged; running" in again.stdout

    # An option given wins over the file: here a cluster name that is not in the kubeconfig.
    other = harmony("check", "--name", "elsewhere", cwd=inside)
    assert other.returncode == 1 and "2 drifted" in other.stdout, other.stdout + other.stderr

    down = harmony("down", "--yes", cwd=inside)
    assert down.returncode == 0, down.stdout + down.stderr
    for host in (server, agent):
        assert_untouched(host)
    assert "shop" not in harmony.kubeconfig.read_text()


def test_a_bad_project_file_stops_before_any_host(host, harmony, tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "harmony.yaml").write_text(f"cluster:\n  name: bad\n  versoin: {NEW}\ntarget: {host.target}\n")
    result = harmony("up", "--yes", cwd=root)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"harmony: error: {root / 'harmony.yaml'}:3: cluster: unknown key "
                                     "'versoin': did you mean 'version'?")
    assert_untouched(host)
