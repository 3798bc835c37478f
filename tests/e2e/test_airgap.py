"""Airgapped installs: `harmony bundle` on a controller that reaches the release site (and, for a
project, its images' registry), then `harmony up --airgap` onto hosts that download nothing."""

from __future__ import annotations

import hashlib
import json
import shutil

import yaml

from tests.e2e import tls
from tests.e2e.conftest import EXAMPLE, NEW, interrupt_when, needs_mirror, one_error_line
from tests.standin.chartrepo import ChartRepo
from tests.standin.registry import Registry

UNREACHABLE = "https://127.0.0.1:9/k3s-io/k3s/releases/download"
IMAGES = "/var/lib/rancher/k3s/agent/images/harmony-images-amd64.tar"
NO_REGISTRY = "/etc/standin-no-registry"  # the stand-in k3s's mark of a host that reaches no registry


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@needs_mirror
def test_bundle_then_airgap_install_downloads_nothing(harmony, host, mirror, tmp_path):
    bundle = tmp_path / "bundle"
    made = harmony("bundle", str(bundle), "--version", NEW, "--release-url", mirror.release_url, "--allow-http")
    assert made.returncode == 0, made.stdout + made.stderr
    assert {p.name for p in bundle.iterdir()} == {
        "VERSION", "sha256sum-amd64.txt", "k3s", "k3s-airgap-images-amd64.tar.zst"}

    asked = len(mirror.requests)
    up = ["up", host.target, "--ssh-key", str(harmony.ssh_key), "--airgap", str(bundle),
          "--release-url", UNREACHABLE, "--kubeconfig-server", host.api_url, "--yes"]
    first = harmony(*up)
    assert first.returncode == 0, first.stdout + first.stderr
    assert mirror.requests[asked:] == []  # neither the controller nor the host asked for anything
    assert host.sh("sha256sum /usr/local/bin/k3s").split()[0] == sha256(bundle / "k3s")
    images = "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst"
    assert host.sh(f"sha256sum {images}").split()[0] == sha256(bundle / "k3s-airgap-images-amd64.tar.zst")
    assert host.is_active()

    started = host.started_at()
    again = harmony(*up)
    assert again.returncode == 0 and "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
    assert host.started_at() == started

    (bundle / "k3s").write_bytes(b"tampered")
    damaged = harmony(*up)
    assert damaged.returncode == 2
    assert "does not match its checksum in sha256sum-amd64.txt: the bundle is damaged" in damaged.stderr
    assert host.started_at() == started


@needs_mirror
def test_an_airgapped_project_runs_from_its_bundle(start_host, harmony, tmp_path):
    """The example project's images pulled from a registry into the bundle (through a mirror,
    with token auth and signed storage links), and a chart from a chart repository, then `up`
    onto a server and an agent that reach no registry: each node imports the images, the chart
    travels as chartContent, and every workload runs."""
    ca = tls.make(tmp_path / "ca", "127.0.0.1")
    registry = Registry("127.0.0.1", ca.server, {"library/nginx": ["1.27-alpine"], "library/busybox": ["1.36"],
                                                 "library/redis": ["7-alpine"]}).start()
    charts = ChartRepo("127.0.0.1", ca.server, {"extras": ["1.2.0"]}).start()
    try:
        server, agent = start_host(), start_host()
        for node in (server, agent):
            node.sh(f"touch {NO_REGISTRY}")
        root = tmp_path / "shop"
        shutil.copytree(EXAMPLE, root)
        (root / ".git").mkdir()
        spec = yaml.safe_load((root / "harmony.yaml").read_text())
        spec["cluster"] = {"name": "shop", "runtime": "k3s", "version": NEW, "kubeconfig_server": server.api_url,
                           "allow_http": True,
                           "k3s": {"airgap_dir": "bundle", "registration_address": server.ip, "release_url": UNREACHABLE,
                                   "registries": {"mirrors": {"docker.io": {"endpoint": [registry.origin()]}}}}}
        spec.update(target={"servers": [server.target], "agents": [agent.target]}, ssh={"key": str(harmony.ssh_key)})
        spec["workloads"].append({"name": "extras", "namespace": "shop", "images": [],  # a chart from a repository
                                  "helm": {"chart": "extras", "repo": charts.url, "version": "1.2.0"}})
        (root / "harmony.yaml").write_text(yaml.safe_dump(spec))

        made = harmony("bundle", "bundle", "--release-url", harmony.mirror.release_url,
                       env={"SSL_CERT_FILE": str(ca.ca_cert)}, cwd=root)
        assert made.returncode == 0, made.stdout + made.stderr
        assert "3 image(s) of the project for linux/amd64 bundled in harmony-images-amd64.tar" in made.stdout
        assert "docker.io/library/nginx:1.27-alpine  (web, status)" in made.stdout
        assert {h[0] for h in registry.hits} == {"registry", "auth", "storage"}
        assert "the chart of workload 'extras' bundled in charts/extras-1.2.0-" in made.stdout
        assert "warning" not in made.stdout
        bundled = root / "bundle" / "harmony-images-amd64.tar"
        made_sha, blobs_asked = sha256(bundled), sum(1 for h in registry.hits if h[0] == "storage")
        remade = harmony("bundle", "bundle", "--release-url", harmony.mirror.release_url,
                         env={"SSL_CERT_FILE": str(ca.ca_cert)}, cwd=root)
        assert remade.returncode == 0 and sha256(bundled) == made_sha  # the same images: the same bytes
        assert sum(1 for h in registry.hits if h[0] == "storage") == blobs_asked  # every blob from the cache

        asked = len(harmony.mirror.requests)
        up = harmony("up", "--yes", cwd=root)
        assert up.returncode == 0, up.stdout + up.stderr
        assert harmony.mirror.requests[asked:] == []
        assert [line.rsplit("; ", 1)[1] for line in up.stdout.splitlines()
                if line.startswith("workload ")] == ["running"] * 4
        extras = json.loads(harmony.kubectl("--context", "shop", "get", "helmchart", "extras", "-n", "kube-system",
                                            "-o", "json").stdout)
        assert "chartContent" in extras["spec"] and "repo" not in extras["spec"]  # nothing to fetch in the cluster
        for node in (server, agent):
            assert node.sh(f"sha256sum {IMAGES}").split()[0] == sha256(bundled)
        nodes = json.loads(harmony.kubectl("--context", "shop", "get", "nodes", "-o", "json").stdout)["items"]
        assert len(nodes) == 2
        for node in nodes:
            assert {n for entry in node["status"]["images"] for n in entry["names"]} >= {
                "docker.io/library/nginx:1.27-alpine", "docker.io/library/busybox:1.36",
                "docker.io/library/redis:7-alpine"}

        started = server.started_at(), agent.started_at("k3s-agent")
        again = harmony("up", "--yes", cwd=root)
        assert again.returncode == 0 and "2 hosts: 0 changed, 2 unchanged, 0 failed" in again.stdout
        assert (server.started_at(), agent.started_at("k3s-agent")) == started

        web = root / "k8s" / "web.yaml"
        web.write_text(web.read_text().replace("nginx:1.27-alpine", "nginx:1.28-alpine"))
        unbundled = harmony("up", "--yes", cwd=root)
        assert unbundled.returncode == 2
        assert (f"the airgap bundle {root / 'bundle'} lacks 1 image(s) the workloads run "
                "(docker.io/library/nginx:1.28-alpine) in harmony-images-amd64.tar") in one_error_line(unbundled)
        assert (server.started_at(), agent.started_at("k3s-agent")) == started
    finally:
        registry.stop()
        charts.stop()


@needs_mirror
def test_a_stopped_bundle_stops_at_once_and_leaves_no_partial_file(harmony, tmp_path):
    ca = tls.make(tmp_path / "ca", "127.0.0.1")
    registry = Registry("127.0.0.1", ca.server, {"library/nginx": ["1.27-alpine"]}).start()
    try:
        layer = registry.layer_of("library/nginx", "1.27-alpine", "amd64")
        registry.stalled.add(layer)
        root = tmp_path / "app"
        (root / ".git").mkdir(parents=True)
        (root / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n"
                                       "spec: {containers: [{name: web, image: 'nginx:1.27-alpine'}]}\n")
        registries = {"mirrors": {"docker.io": {"endpoint": [registry.origin()]}},
                      "configs": {registry.address: {"tls": {"ca_file": str(ca.ca_cert)}}}}  # trust by registries.yaml
        (root / "harmony.yaml").write_text(yaml.safe_dump({
            "cluster": {"version": NEW, "allow_http": True, "k3s": {"registries": registries}},
            "workloads": [{"name": "web", "manifests": "pod.yaml"}]}))
        bundle = ["bundle", "bundle", "--release-url", harmony.mirror.release_url]
        run = harmony.spawn(*bundle, cwd=root)
        out, err = interrupt_when(  # 0.5 s on, the layer's first half has arrived; the rest does not come
            run, lambda: any(origin == "storage" and layer in path for origin, path, _ in registry.hits),
            "the layer was never asked for", timeout=60, settle=0.5, ends_within=20)
        assert run.returncode == 130, out + err
        assert err.strip().splitlines()[-1] == (
            "harmony: error: stopped by SIGINT: what was downloaded and checked stays, a file being downloaded "
            "was discarded; run the command again to finish the bundle")
        assert not [p for p in (*harmony.home.rglob("*.part"), *root.rglob("*.part"))]
        assert not (root / "bundle" / "harmony-images-amd64.tar").exists()

        registry.stalled.clear()
        again = harmony(*bundle, cwd=root)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "1 image(s) of the project for linux/amd64 bundled in harmony-images-amd64.tar" in again.stdout
    finally:
        registry.stop()
