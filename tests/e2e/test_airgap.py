"""Airgapped installs: `harmony bundle` on a controller that reaches the release site, then
`harmony up --airgap` onto a host that downloads nothing."""

from __future__ import annotations

import hashlib

from tests.e2e.conftest import NEW, needs_mirror

UNREACHABLE = "https://127.0.0.1:9/k3s-io/k3s/releases/download"


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
