"""The ports harmony publishes for a k3d cluster it creates, so that an Ingress under `.localhost`
is reached from a browser here: the cluster's 80 and 443 on the host's 80 and 443 where they are
free, else on the next free pair (8080 and 8443, ...), said in the output, kept across runs, and
printed in the Ingress's URL. The stand-in k3d publishes them as Docker does (from the first
server's container; real k3d's load balancer is another container), and nothing serves HTTP
behind them: that the URL answers is not proven here (docs/testing.md)."""

from __future__ import annotations

import errno
import json
import socket

import yaml

from harmony.k3d import ports
from tests.e2e import hosts as test_hosts, test_k3d
from tests.e2e.conftest import NEW
from tests.e2e.test_k3d import containers, free_port

k3d_cluster = test_k3d.k3d_cluster  # the fixture, shared
pytestmark = test_k3d.pytestmark

SHOP = """apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  selector: {app: shop}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
    - host: shop.localhost
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: shop, port: {number: 80}}}
"""


def project(tmp_path, mirror, name: str, **k3d) -> object:
    """A k3d project whose one workload is an Ingress for shop.localhost."""
    root = tmp_path / "shop"
    (root / "k8s").mkdir(parents=True)
    (root / "k8s" / "shop.yaml").write_text(SHOP)
    (root / "harmony.yaml").write_text(yaml.safe_dump({
        "cluster": {"name": name, "runtime": "k3d", "version": NEW, "allow_http": True,
                    "k3d": {"release_url": mirror.k3d_release_url, "bin_dir": str(tmp_path / "bin"),
                            "api_port": free_port(), **k3d}},
        "workloads": [{"name": "shop", "manifests": "k8s/"}],
    }, sort_keys=False))
    return root


def published(name: str) -> dict[int, tuple[str, int]]:
    """{cluster port: (host address, host port)} that Docker publishes for the cluster's containers."""
    ids = test_hosts.docker("ps", "-q", "--filter", f"label=k3d.cluster={name}").split()
    found = {}
    for container in json.loads(test_hosts.docker("inspect", *ids)) if ids else []:
        for port, bindings in (container["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                found[int(port.split("/")[0])] = (binding["HostIp"], int(binding["HostPort"]))
    return found


def test_a_new_cluster_publishes_ingresses_and_keeps_its_ports(harmony, mirror, k3d_cluster, tmp_path):
    root = project(tmp_path, mirror, k3d_cluster)
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 0, up.stdout + up.stderr
    found = published(k3d_cluster)
    host_ip, http = found[80]
    assert host_ip == "127.0.0.1" and found[443][0] == "127.0.0.1"  # this machine only: not the network
    assert (http, found[443][1]) in [(p[80], p[443]) for p in ports.pairs()]
    assert f"reach shop: Ingress/shop in shop: http://shop.localhost:{http}/" in up.stdout, up.stdout
    assert f"Ingresses are served on {http} and {found[443][1]})" in up.stdout  # the create step's mapping
    spec = harmony.home / ".config" / "harmony" / "k3d" / f"{k3d_cluster}.yaml"
    assert {"port": f"127.0.0.1:{http}:80", "nodeFilters": ["loadbalancer"]} in yaml.safe_load(spec.read_text())["ports"]

    started = containers(k3d_cluster)
    again = harmony("up", "--yes", cwd=root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
    assert "workload shop: 3 unchanged; running" in again.stdout
    assert f"reach shop: Ingress/shop in shop: http://shop.localhost:{http}/" in again.stdout
    assert containers(k3d_cluster) == started
    check = harmony("check", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr


def occupy(port: int) -> socket.socket | None:
    """A socket listening on 127.0.0.1:port; None where something holds the port already."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            return None
        raise
    sock.listen()
    return sock


def free(port: int) -> bool:
    held = occupy(port)
    if held is not None:
        held.close()
    return held is not None


def test_taken_ports_move_the_cluster_to_the_next_free_pair(harmony, mirror, k3d_cluster, tmp_path):
    held = [s for s in (occupy(80), occupy(443)) if s is not None]
    try:
        # k3d fails where Docker cannot publish a port (harmony's own choice looks first): here a
        # mapping of the data's to a port that is taken. k3d rolls the cluster back.
        refused = harmony("up", "--yes", cwd=project(tmp_path / "a", mirror, k3d_cluster, ports=["80:80@loadbalancer"]))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "all changes have been rolled back" in refused.stdout + refused.stderr
        assert containers(k3d_cluster) == {}

        expected = next(p for p in ports.pairs() if free(p[80]) and free(p[443]))
        root = project(tmp_path / "b", mirror, k3d_cluster)
        up = harmony("up", "--yes", cwd=root)
        assert up.returncode == 0, up.stdout + up.stderr
        assert expected[80] != 80
        assert published(k3d_cluster)[80] == ("127.0.0.1", expected[80])
        assert published(k3d_cluster)[443] == ("127.0.0.1", expected[443])
        assert (f"Create the k3d cluster {k3d_cluster} (80 and 443 were taken here; Ingresses are served on "
                f"{expected[80]} and {expected[443]})") in up.stdout, up.stdout
        assert f"reach shop: Ingress/shop in shop: http://shop.localhost:{expected[80]}/" in up.stdout

        # The cluster keeps its ports, even once 80 and 443 are free again.
        for sock in held:
            sock.close()
        held = []
        again = harmony("up", "--yes", cwd=root)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
        assert f"reach shop: Ingress/shop in shop: http://shop.localhost:{expected[80]}/" in again.stdout
    finally:
        for sock in held:
            sock.close()
