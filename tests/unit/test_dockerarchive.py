"""A builder's docker-archive read into an image of the bundle's OCI archive: as Docker 20.10
writes one (a config named by its digest, layers as <v1 id>/layer.tar, a repeated layer as a
symlink), as Docker 25 writes one (an OCI layout inside, manifest.json naming its blobs), and
from a real `docker save`; each imported by containerd's rules as the same image."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from harmony.errors import RunFailed
from harmony.images import archive, dockerarchive
from harmony.images.reference import parse
from tests.localimages import tiny_base_image
from tests.standin.api.containerd import import_archive

REFERENCE = parse("web:harmony-0123456789ab")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "harmony" / "blobs"


def layer(*files: tuple[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return data.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_of(layers: list[bytes], architecture: str = "amd64") -> bytes:
    return json.dumps({"architecture": architecture, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                       "rootfs": {"type": "layers", "diff_ids": [sha(data) for data in layers]}}).encode()


def write_tar(path: Path, files: list[tuple]) -> Path:
    """A tar of (name, bytes) files and (name, "->", target) symlinks, in order."""
    with tarfile.open(path, "w") as tar:
        for name, *rest in files:
            info = tarfile.TarInfo(name)
            if rest[0] == "->":
                info.type, info.linkname = tarfile.SYMTYPE, rest[1]
                tar.addfile(info)
            else:
                info.size = len(rest[0])
                tar.addfile(info, io.BytesIO(rest[0]))
    return path


BASE, APP = layer(("etc/base", b"base\n")), layer(("srv/index.html", b"<h1>hello</h1>\n"))


def docker_20_10(path: Path, layers: list[bytes], config: bytes | None = None, tags=(str(REFERENCE),)) -> Path:
    """As Docker 20.10's `docker save` writes it: <image id>.json, <v1 id>/layer.tar (a layer
    seen before: a symlink to it), <v1 id>/json and VERSION, manifest.json, repositories."""
    config = config or config_of(layers)
    files, names, seen = [], [], {}
    for index, data in enumerate(layers):
        v1 = hashlib.sha256(f"v1-{index}".encode()).hexdigest()
        names.append(f"{v1}/layer.tar")
        files += [(f"{v1}/VERSION", b"1.0"), (f"{v1}/json", b"{}")]
        files.append((f"{v1}/layer.tar", "->", f"../{seen[data]}/layer.tar") if data in seen
                     else (f"{v1}/layer.tar", data))
        seen.setdefault(data, v1)
    files.append((f"{sha(config)[7:]}.json", config))
    files.append(("manifest.json", json.dumps([{"Config": f"{sha(config)[7:]}.json", "RepoTags": list(tags),
                                                "Layers": names}]).encode()))
    files.append(("repositories", b"{}"))
    return write_tar(path, files)


def docker_25(path: Path, layers: list[bytes], with_manifest_json: bool = True) -> Path:
    """As Docker 25's `docker save` writes it: an OCI layout (its own manifest, index.json) and
    manifest.json naming the same blobs."""
    config = config_of(layers)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(d),
                                       "size": len(d)} for d in layers]}).encode()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
                            "size": len(manifest), "annotations": {"io.containerd.image.name": str(REFERENCE)}}]}
    files = [("blobs/sha256/" + sha(data)[7:], data) for data in dict.fromkeys([config, manifest, *layers])]
    files += [("index.json", json.dumps(index).encode()), ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')]
    if with_manifest_json:
        files.append(("manifest.json", json.dumps([{
            "Config": "blobs/sha256/" + sha(config)[7:], "RepoTags": [str(REFERENCE)],
            "Layers": ["blobs/sha256/" + sha(d)[7:] for d in layers]}]).encode()))
    return write_tar(path, files)


def imported(path: Path) -> list[dict]:
    """What containerd's importer records of an archive (the stand-in's `ctr images import`)."""
    with path.open("rb") as f:
        return import_archive(f)


def check_image(image, layers: list[bytes], cache: Path) -> None:
    manifest = json.loads(image.manifest)
    assert image.media_type == manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [(l["mediaType"], l["digest"], l["size"]) for l in manifest["layers"]] == [
        ("application/vnd.oci.image.layer.v1.tar", sha(d), len(d)) for d in layers]
    assert image.reference == REFERENCE and image.platform == "linux/amd64"
    for blob in image.blobs:  # each in the cache, by its digest
        assert blob.path.parent == cache / "sha256" and sha(blob.path.read_bytes()) == blob.digest
    assert not list(cache.rglob("*.part"))


@pytest.mark.parametrize("layers", [[BASE, APP], [BASE, APP, BASE]], ids=["layers", "a-repeated-layer"])
def test_docker_20_10s_archive_becomes_an_oci_image_of_the_bundle(tmp_path, cache, layers):
    saved = docker_20_10(tmp_path / "web.tar", layers)
    image = dockerarchive.read(saved, REFERENCE, "linux/amd64")
    check_image(image, layers, cache)
    assert image.blobs[0].digest == sha(config_of(layers))  # the image ID: the tag's digits stay true

    bundled = tmp_path / "harmony-images-amd64.tar"
    archive.write(bundled, [image])
    assert archive.names(bundled) == {"docker.io/library/web:harmony-0123456789ab"}
    (record,) = imported(bundled)
    assert record["name"] == "docker.io/library/web:harmony-0123456789ab"
    assert record["config"] == imported(saved)[0]["config"]  # the same image as the builder's own archive

    again = tmp_path / "again.tar"
    archive.write(again, [dockerarchive.read(saved, REFERENCE, "linux/amd64")])
    assert again.read_bytes() == bundled.read_bytes()  # the same build: the same bundle file


@pytest.mark.parametrize("with_manifest_json", [True, False], ids=["docker-25", "oci-archive"])
def test_docker_25s_archive_with_its_oci_layout_and_an_oci_archive(tmp_path, cache, with_manifest_json):
    saved = docker_25(tmp_path / "web.tar", [BASE, APP], with_manifest_json)
    image = dockerarchive.read(saved, REFERENCE, "linux/amd64")
    check_image(image, [BASE, APP], cache)
    assert image.manifest == dockerarchive.read(docker_20_10(tmp_path / "old.tar", [BASE, APP]), REFERENCE,
                                                "linux/amd64").manifest


def test_a_compressed_layer_keeps_its_media_type(tmp_path):
    compressed = gzip.compress(APP, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(BASE), sha(APP)]}}).encode()
    image = dockerarchive.read(docker_20_10(tmp_path / "web.tar", [BASE, compressed], config), REFERENCE, "linux/amd64")
    assert [l["mediaType"] for l in json.loads(image.manifest)["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip"]


def test_of_several_images_the_one_tagged_is_read(tmp_path):
    one = docker_20_10(tmp_path / "one.tar", [BASE], tags=["other:1"])
    two = docker_20_10(tmp_path / "two.tar", [BASE, APP])
    with tarfile.open(one) as first, tarfile.open(two) as second:
        entries = json.loads(first.extractfile("manifest.json").read()) + \
            json.loads(second.extractfile("manifest.json").read())
        files = {m.name: (tar.extractfile(m).read(),) if m.isfile() else ("->", m.linkname)
                 for tar in (first, second) for m in tar.getmembers()}
    files["manifest.json"] = (json.dumps(entries).encode(),)
    both = write_tar(tmp_path / "both.tar", [(name, *rest) for name, rest in files.items()])
    assert len(json.loads(dockerarchive.read(both, REFERENCE, "linux/amd64").manifest)["layers"]) == 2
    with pytest.raises(RunFailed, match="holds 2 images, and not one tagged docker.io/library/nginx:1"):
        dockerarchive.read(both, parse("nginx:1"), "linux/amd64")


def test_a_damaged_or_foreign_archive_is_refused_naming_it(tmp_path, cache):
    wrong = config_of([BASE, APP])  # its diff_ids say other layers than the archive holds
    damaged = docker_20_10(tmp_path / "damaged.tar", [BASE, layer(("srv/x", b"x"))], wrong)
    with pytest.raises(RunFailed, match="damaged.tar: its layers do not match its image config's diff_ids"):
        dockerarchive.read(damaged, REFERENCE, "linux/amd64")
    arm = docker_20_10(tmp_path / "arm.tar", [BASE], config_of([BASE], "arm64"))
    with pytest.raises(RunFailed, match="holds an image for linux/arm64, not linux/amd64: build it for linux/amd64"):
        dockerarchive.read(arm, REFERENCE, "linux/amd64")
    assert dockerarchive.read(arm, REFERENCE, "linux/arm64").platform == "linux/arm64"
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(RunFailed, match="junk.tar is not a docker-archive harmony can read"):
        dockerarchive.read(tmp_path / "junk.tar", REFERENCE, "linux/amd64")
    missing = write_tar(tmp_path / "missing.tar", [("manifest.json", json.dumps([{
        "Config": "abc.json", "RepoTags": [], "Layers": []}]).encode())])
    with pytest.raises(RunFailed, match="missing.tar is not a docker-archive harmony can read.*abc.json"):
        dockerarchive.read(missing, REFERENCE, "linux/amd64")
    assert not list(cache.rglob("*.part"))


def docker_works() -> bool:
    return bool(shutil.which("docker")) and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(not docker_works(), reason="needs a Docker engine")
def test_a_real_docker_save_of_a_build(tmp_path, cache):
    with tiny_base_image("harmony-dockerarchive-test") as name:
        (tmp_path / "ctx").mkdir()
        (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {name}-base:1\nCOPY index.html /srv/index.html\n")
        (tmp_path / "ctx" / "index.html").write_text("<h1>hello</h1>\n")
        tag = f"{name}-web:1"
        subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path / "ctx")], check=True, capture_output=True,
                       timeout=300, env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"})
        image_id = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag], check=True,
                                  capture_output=True, text=True, timeout=60).stdout.strip()
        saved = tmp_path / "web.tar"
        subprocess.run(["docker", "save", "-o", str(saved), tag], check=True, capture_output=True, timeout=300)
    reference = parse(tag)
    image = dockerarchive.read(saved, reference, "linux/amd64")
    assert image.blobs[0].digest == image_id and len(image.blobs) == 3  # the config, the base's and the COPY's layer
    bundled = tmp_path / "harmony-images-amd64.tar"
    archive.write(bundled, [image])
    (record,) = imported(bundled)
    assert record["name"] == str(reference) and record["config"] == image_id == imported(saved)[0]["config"]
