"""Airgap bundles on the controller: their version, their files per architecture, damage."""

import hashlib

import pytest

from harmony import releases
from harmony.k3s import airgap, bundle
from harmony.errors import BadInput, HarmonyError


def make_bundle(path, version="v1.31.4+k3s1"):
    path.mkdir()
    (path / "VERSION").write_text(version + "\n")
    files = {"k3s": b"binary", "k3s-airgap-images-amd64.tar.zst": b"images"}
    for name, data in files.items():
        (path / name).write_bytes(data)
    (path / "sha256sum-amd64.txt").write_text(
        "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items()))
    return path


def test_a_bundle_gives_its_version_and_each_architectures_files(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    assert airgap.version(str(bundle)) == "v1.31.4+k3s1"
    binary, images = airgap.items(str(bundle), "x86_64")
    assert binary.dest == "/usr/local/bin/k3s" and binary.sha256 == hashlib.sha256(b"binary").hexdigest()
    assert images.dest == "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst"


def test_a_damaged_bundle_or_a_missing_architecture_is_bad_input(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    with pytest.raises(BadInput, match="has no sha256sum-arm64.txt"):
        airgap.items(str(bundle), "aarch64")
    (bundle / "k3s").write_bytes(b"tampered")
    with pytest.raises(BadInput, match="the bundle is damaged"):
        airgap.version(str(bundle))
    with pytest.raises(BadInput, match="is not an airgap bundle"):
        airgap.version(str(tmp_path))


def test_versions_sort_as_releases_do():
    ordered = ["v1.30.8+k3s1", "v1.31.4-rc1+k3s1", "v1.31.4+k3s1", "v1.31.4+k3s2", "v1.31.10+k3s1"]
    assert sorted(ordered, key=releases.version_key) == ordered


def test_a_bundle_that_fails_before_anything_is_in_it_leaves_no_empty_directory(tmp_path):
    unreachable = {"k3s_version": "v1.31.4+k3s1", "k3s_release_url": "http://127.0.0.1:1", "harmony_allow_http": True}
    with pytest.raises(HarmonyError):
        bundle.bundle(str(tmp_path / "new"), unreachable, ["amd64"])
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()  # one the user made stays
    with pytest.raises(HarmonyError):
        bundle.bundle(str(tmp_path / "mine"), unreachable, ["amd64"])
    assert (tmp_path / "mine").is_dir()
