"""`harmony up` on the machine it runs on (pyinfra's local connector), inside a systemd host.

harmony is installed in the host from wheels built on the controller: the host has no network
but the Docker bridge, as a user's air-gapped box with a copied wheelhouse would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e import hosts as test_hosts
from tests.e2e.conftest import NEW

PROJECT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(directory),
                    str(PROJECT)], check=True, timeout=600, capture_output=True)
    return directory


def test_up_local_inside_a_host(host, wheelhouse, mirror, tmp_path):
    test_hosts.docker("cp", str(wheelhouse), f"{host.name}:/wheels")
    host.sh("python3 -m venv /opt/harmony && "
            "/opt/harmony/bin/pip install -q --no-index --find-links /wheels harmony", timeout=300)

    up = f"cd /root && /opt/harmony/bin/harmony up --yes --version {NEW} --release-url {mirror.release_url} --allow-http"
    first = host.sh(up, timeout=300)
    assert "@local: changed: " in first
    assert host.is_active()
    started = host.started_at()

    again = host.sh(up, timeout=300)
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again
    assert host.started_at() == started

    # The kubeconfig merged inside the host works from here too, through the published port.
    config = yaml.safe_load(host.sh("cat /root/.kube/config"))
    (cluster,) = config["clusters"]
    assert cluster["name"] == "harmony" and cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    cluster["cluster"]["server"] = host.api_url
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    nodes = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes"],
                           capture_output=True, text=True, timeout=60)
    assert nodes.returncode == 0, nodes.stderr
    assert " Ready " in nodes.stdout

    status = host.sh("cd /root && /opt/harmony/bin/harmony status --json")
    assert '"node_ready": true' in status
