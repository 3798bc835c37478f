"""k3d on this machine, which has a Docker engine but no init system: `harmony up` with no
target picks k3d by itself, installs the (stand-in) k3d from the mirror, and creates a cluster
of real Docker containers running the stand-in k3s; kubectl reaches it on a 127.0.0.1 port."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import yaml

from tests.e2e import hosts as test_hosts
from tests.e2e.conftest import EXAMPLE, NEW, REAL
from tests.standin.mirror import standin_binary

pytestmark = pytest.mark.skipif(os.path.isdir("/run/systemd/system"),
                                reason="this machine has systemd: harmony would pick k3s here")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def k3d_cluster(tmp_path, mirror):
    """A cluster name of this test's, the stand-in k3s image, and cleanup of whatever is left."""
    if not REAL:
        test_hosts.k3s_image(NEW, standin_binary(NEW))
    name = f"h{uuid.uuid4().hex[:8]}"
    yield name
    test_hosts.remove_k3d_cluster(name)


def containers(name: str) -> dict[str, str]:
    """{container ID: start time} of a cluster's containers."""
    ids = test_hosts.docker("ps", "-aq", "--no-trunc", "--filter", f"label=k3d.cluster={name}").split()
    return {c["Id"]: c["State"]["StartedAt"] for c in json.loads(test_hosts.docker("inspect", *ids))} if ids else {}


def test_up_picks_k3d_here_and_a_rerun_spec_change_and_down_behave(harmony, mirror, k3d_cluster, tmp_path):
    bin_dir = tmp_path / "bin"
    port = free_port()
    settings = ["--version", NEW, "--name", k3d_cluster,
                "--set", f"k3d_release_url={mirror.k3d_release_url}", "--allow-http",
                "--set", f"k3d_bin_dir={bin_dir}", "--set", f"k3d_api_port={port}"]

    first = harmony("up", "--yes", *settings)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "runtime: k3d (k3s needs an init system harmony supports (systemd or OpenRC)" in first.stderr
    assert "Docker is running" in first.stderr

    checksums = (mirror.root / "k3d-io/k3d/releases/download/v5.7.4/checksums.txt").read_text()
    installed = hashlib.sha256((bin_dir / "k3d").read_bytes()).hexdigest()
    assert f"{installed}  k3d-linux-amd64" in checksums.splitlines()

    nodes = harmony.kubectl("--context", k3d_cluster, "get", "nodes", "-o", "json")
    assert nodes.returncode == 0, nodes.stderr
    (node,) = json.loads(nodes.stdout)["items"]
    assert node["metadata"]["name"] == f"k3d-{k3d_cluster}-server-0"
    config = yaml.safe_load(harmony.kubeconfig.read_text())
    (cluster,) = [c for c in config["clusters"] if c["name"] == k3d_cluster]
    assert cluster["cluster"]["server"] == f"https://127.0.0.1:{port}"
    spec = harmony.home / ".config" / "harmony" / "k3d" / f"{k3d_cluster}.yaml"
    assert oct(spec.stat().st_mode & 0o777) == "0o600"

    started = containers(k3d_cluster)
    assert len(started) == 1
    again = harmony("up", "--yes", *settings)
    assert again.returncode == 0, again.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
    assert containers(k3d_cluster) == started

    test_hosts.docker("stop", *started)
    restarted = harmony("up", "--yes", *settings)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "Start the k3d cluster" in restarted.stdout
    assert set(containers(k3d_cluster)) == set(started)
    started = containers(k3d_cluster)

    # k3d adds (or removes) agents in place: the server's container is left alone.
    grown = settings + ["--set", "k3d_agents=1"]
    plan = harmony("plan", *grown)
    assert plan.returncode == 0, plan.stderr
    assert "Scale (agents 0 -> 1) the k3d cluster" in plan.stdout
    scaled = harmony("up", "--yes", *grown)
    assert scaled.returncode == 0, scaled.stdout + scaled.stderr
    after = containers(k3d_cluster)
    assert len(after) == 2 and all(after[i] == started[i] for i in started)
    # status and down need no port: the fetched kubeconfig knows where the API is.
    status = harmony("status", "--json", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}")
    assert status.returncode == 0, status.stderr
    (row,) = json.loads(status.stdout)["hosts"]
    assert row["runtime"] == "k3d" and row["cluster"]["agents"] == 1 and row["cluster"]["running"] == 2
    assert sorted(row["nodes_ready"]) == [f"k3d-{k3d_cluster}-agent-0-0", f"k3d-{k3d_cluster}-server-0"]
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in harmony("up", "--yes", *grown).stdout
    clean = harmony("check", *grown)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("1 host: 1 as specified, 0 drifted, 0 unreachable in ")

    # Anything else (here the API port) needs the cluster re-created, which up does only when asked.
    moved = grown + ["--set", f"k3d_api_port={free_port()}"]
    plan = harmony("plan", *moved)
    assert plan.returncode == 1, plan.stdout + plan.stderr  # the plan predicts up's refusal
    assert (f"@local: would fail: k3d cluster '{k3d_cluster}' differs from its spec (other settings)"
            in plan.stdout) and "--recreate" in plan.stdout
    drift = harmony("check", "--json", *moved)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    (row,) = json.loads(drift.stdout)["hosts"]
    assert len(row["differences"]) == 1
    assert row["differences"][0].startswith(f"would fail: k3d cluster '{k3d_cluster}' differs from its spec")
    refused = harmony("up", "--yes", *moved)
    assert refused.returncode == 1
    assert "differs from its spec (other settings)" in refused.stdout and "--recreate" in refused.stdout
    assert containers(k3d_cluster) == after
    recreated = harmony("up", "--yes", "--recreate", *moved)
    assert recreated.returncode == 0, recreated.stdout + recreated.stderr
    assert "Re-create (other settings) the k3d cluster" in recreated.stdout
    assert len(containers(k3d_cluster)) == 2 and not set(containers(k3d_cluster)) & set(after)

    down = harmony("down", "--yes", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}")
    assert down.returncode == 0, down.stdout + down.stderr
    assert containers(k3d_cluster) == {}
    config = yaml.safe_load(harmony.kubeconfig.read_text())
    assert all(c["name"] != k3d_cluster for c in config["contexts"])
    again = harmony("down", "--yes", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}")
    assert again.returncode == 0 and "1 host: 0 removed, 1 unchanged, 0 failed" in again.stdout


def test_a_k3d_run_refuses_while_another_holds_this_machine(harmony, mirror, tmp_path):
    """k3d runs as the login user, under a lock of that user's on the Docker host: in a directory
    of that user's alone (in /tmp here: harmony's environment has no XDG_RUNTIME_DIR)."""
    lock = f"/tmp/harmony-k3d-{os.getuid()}/lock"
    os.makedirs(os.path.dirname(lock), mode=0o700, exist_ok=True)
    holder = subprocess.Popen(["flock", lock, "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["flock", "-n", lock, "true"]).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        result = harmony("up", "--yes", "--runtime", "k3d", "--version", NEW, "--name", "hlocked",
                         "--set", f"k3d_release_url={mirror.k3d_release_url}", "--allow-http",
                         "--set", f"k3d_bin_dir={tmp_path / 'bin'}", "--set", "harmony_lock_wait=1")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"@local: failed: harmony: this host's lock ({lock}) is held by pid {holder.pid} 'flock {lock} sleep 30', "
            "not a harmony run") in result.stdout, result.stdout
    assert not (tmp_path / "bin").exists()


def test_the_example_project_runs_on_k3d(harmony, mirror, k3d_cluster, tmp_path):
    """The worked example's workloads on k3d, with the same harmony.yaml but for the runtime."""
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root)
    spec = yaml.safe_load((root / "harmony.yaml").read_text())
    spec["cluster"] = {"name": k3d_cluster, "runtime": "k3d", "version": NEW, "allow_http": True,
                       "k3d": {"release_url": mirror.k3d_release_url, "bin_dir": str(tmp_path / "bin"),
                               "api_port": free_port()}}
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "workload web: 5 created; running" in up.stdout
    # k3d's nodes are containers: a NodePort is reached only through a port mapping, here none.
    assert ("reach web: Service/web in shop: not published on the host: add a k3d port mapping, "
            "like '30080:30080@loadbalancer'") in up.stdout
    again = harmony("up", "--yes", cwd=root)
    assert "workload web: 5 unchanged; running" in again.stdout, again.stdout + again.stderr
    assert "workload cache: 2 unchanged; running" in again.stdout
    assert "workload status: 1 unchanged; running" in again.stdout
    deployment = harmony.kubectl("--context", k3d_cluster, "get", "deployment", "web", "-n", "shop", "-o", "json")
    assert json.loads(deployment.stdout)["status"]["availableReplicas"] == 2
