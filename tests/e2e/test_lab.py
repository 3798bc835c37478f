"""The Vagrant lab with the docker provider: `harmony lab up` brings up a server and two agents
as Vagrant machines (systemd containers), makes them a cluster, and `harmony lab down` destroys
them. The machines are reached only through their SSH and API ports on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import NEW

REPO = Path(__file__).parents[2]


def free_ports(count: int) -> int:
    """A base port with `count` free ports after it (the Vagrantfile numbers SSH ports base+N)."""
    for base in range(24000, 60000, 97):
        try:
            for port in range(base, base + count + 1):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


def vagrant_status(env: dict) -> dict[str, str]:
    out = subprocess.run(["vagrant", "status", "--machine-readable"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300).stdout
    return {fields[1]: fields[3] for fields in (line.split(",", 3) for line in out.splitlines())
            if len(fields) == 4 and fields[2] == "state"}


@pytest.mark.parametrize("provider", ["docker", "libvirt"])
def test_vagrantfile_validates(provider, tmp_path):
    env = {**os.environ, "VAGRANT_DEFAULT_PROVIDER": provider, "VAGRANT_DOTFILE_PATH": str(tmp_path)}
    result = subprocess.run(["vagrant", "validate"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vagrantfile_validates_for_virtualbox_without_virtualbox(tmp_path):
    # Vagrant checks VirtualBox's own settings only with VBoxManage installed, which this
    # machine cannot have; the rest of the Vagrantfile is checked for that provider.
    env = {**os.environ, "VAGRANT_DEFAULT_PROVIDER": "virtualbox", "VAGRANT_DOTFILE_PATH": str(tmp_path)}
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def lab_env(tmp_path, harmony):
    """The lab's settings, its own Vagrant state, and `vagrant destroy` whatever happens."""
    base = free_ports(4)
    env = {
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "vagrant-state"),
        "HARMONY_LAB_SSH_PORT": str(base),
        "HARMONY_LAB_API_PORT": str(base + 4),
        "HARMONY_LAB_SUBNET": "172.30.77",
    }
    yield env
    subprocess.run(["vagrant", "destroy", "-f"], cwd=REPO, env={**harmony.env(), **env},
                   capture_output=True, timeout=600)


def test_lab_up_makes_three_ready_nodes_a_rerun_changes_nothing_and_down_destroys(harmony, mirror, lab_env):
    release = ["--version", NEW, "--release-url", mirror.release_url, "--allow-http"]
    up = harmony("lab", "up", "--provider", "docker", *release, env=lab_env, timeout=1200)
    assert up.returncode == 0, up.stdout + up.stderr
    assert vagrant_status({**harmony.env(), **lab_env}) == {
        "server-1": "running", "agent-1": "running", "agent-2": "running"}

    nodes = harmony.kubectl("--context", "harmony-lab", "get", "nodes", "-o", "json")
    assert nodes.returncode == 0, nodes.stderr
    items = json.loads(nodes.stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in items) == ["agent-1", "agent-2", "server-1"]
    assert all({c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True" for n in items)

    again = harmony("lab", "up", "--provider", "docker", *release, env=lab_env, timeout=1200)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3 hosts: 0 changed, 3 unchanged, 0 failed" in again.stdout

    down = harmony("lab", "down", env=lab_env, timeout=600)
    assert down.returncode == 0, down.stdout + down.stderr
    assert set(vagrant_status({**harmony.env(), **lab_env}).values()) == {"not_created"}
    config = harmony.kubeconfig.read_text()
    assert "harmony-lab" not in config
