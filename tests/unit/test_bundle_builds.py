"""A project's own images in its airgap bundle: built where the bundle is made (a fake build
here: the builder is harmony.images.build's, under test in test_build.py), written beside the
pulled images, recorded per architecture in harmony-builds.json under the bundle's checksums,
and what `up --airgap` reads of it: the builds' tags, and the images the workloads run as they
will run them (NAME:TAG), none of which a registry is asked for."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harmony import project
from harmony.errors import BadInput
from harmony.images import archive, build
from harmony.images.reference import parse
from harmony.images.registry import Puller
from harmony.k3s import airgap, bundle
from harmony.workloads import images, spec
from tests.unit.test_dockerarchive import APP, BASE, config_of, docker_20_10

DIGEST = "sha256:" + "d" * 64
WORKLOAD = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  template:
    spec:
      initContainers: [{{name: pinned, image: "web@{DIGEST}"}}]
      containers: [{{name: web, image: web}}, {{name: dev, image: "docker.io/library/web:dev"}},
                   {{name: proxy, image: "nginx:1.27"}}]
"""


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def load(root: Path, with_images: bool = True):
    (root / "k8s").mkdir(parents=True, exist_ok=True)
    (root / "k8s" / "web.yaml").write_text(WORKLOAD)
    (root / "web").mkdir(exist_ok=True)
    (root / "web" / "Dockerfile").write_text("FROM scratch\n")
    images_ = "images: [{name: web, context: web}]\n" if with_images else ""
    (root / "harmony.yaml").write_text(images_ + "workloads:\n  - {name: web, manifests: k8s/}\n")
    loaded = project.load(root / "harmony.yaml")
    return loaded, spec.load(loaded)


def test_the_workloads_pull_what_they_run_but_the_builds(tmp_path):
    loaded, workloads = load(tmp_path)
    pulled = images.pulled(loaded, workloads, ["web"])
    assert {str(i): names for i, names in pulled.images.items()} == {  # a digest names no build: pulled
        f"docker.io/library/web@{DIGEST}": ("web",), "docker.io/library/nginx:1.27": ("web",)}
    assert pulled.warnings == ()  # `image: web` runs the build IfNotPresent: no pull on every start
    assert len(images.wanted(loaded, workloads).warnings) == 1  # as written, it would be pulled each start


def fake_build(monkeypatch, tmp_path) -> dict:
    """build.build making, per platform, a docker-archive as Docker 20.10 saves one; the builds
    it made by platform."""
    made = {}

    def fake(builder, image, platform, workdir, on_line=None):
        arch = platform.split("/")[1]
        layers = [BASE, APP + arch.encode()]
        config = config_of(layers, arch)
        image_id = "sha256:" + hashlib.sha256(config).hexdigest()
        tag = build.content_tag(image_id)
        reference = parse(f"{image.name}:{tag}")
        saved = docker_20_10(tmp_path / f"{image.name}-{arch}.tar", layers, config, [str(reference)])
        made[platform] = build.Built(image.name, image_id, tag, reference, saved, saved.stat().st_size)
        return made[platform]

    monkeypatch.setattr(build, "build", fake)
    return made


def bundle_of(directory: Path, loaded, workloads, arches, builds) -> list[str]:
    wanted = images.pulled(loaded, workloads, [b.name for b in builds])
    wanted = images.Wanted({}, wanted.warnings)  # what the registry would give is under test elsewhere
    return bundle.bundle_project(directory, loaded, wanted, arches, Puller(None, False),
                                 build.Builder("docker", "docker", "linux/amd64"), builds)


def test_the_bundle_builds_records_and_checks_the_projects_images(tmp_path, monkeypatch):
    made = fake_build(monkeypatch, tmp_path)
    loaded, workloads = load(tmp_path / "app")
    directory = tmp_path / "bundle"
    directory.mkdir()
    (directory / "VERSION").write_text("v1.31.4+k3s1\n")
    builds = [build.ImageBuild("web", tmp_path / "app" / "web", tmp_path / "app" / "web" / "Dockerfile")]
    lines = bundle_of(directory, loaded, workloads, ["amd64", "arm64"], builds)
    amd64, arm64 = made["linux/amd64"].tag, made["linux/arm64"].tag
    assert amd64 != arm64
    assert lines[:2] == [lines[0], f"  image web built for linux/amd64: {amd64}"]
    assert lines[0].startswith("1 image(s) of the project for linux/amd64 bundled in harmony-images-amd64.tar")
    assert f"  image web built for linux/arm64: {arm64}" in lines
    assert json.loads((directory / airgap.BUILDS).read_text()) == {"amd64": {"web": amd64}, "arm64": {"web": arm64}}
    assert archive.names(directory / "harmony-images-arm64.tar") == {f"docker.io/library/web:{arm64}"}
    listed = (directory / airgap.IMAGES_CHECKSUMS).read_text()
    assert {line.split()[1] for line in listed.splitlines()} == {
        "harmony-images-amd64.tar", "harmony-images-arm64.tar", airgap.BUILDS}

    assert airgap.builds(str(directory), "amd64", ["web"]) == {"web": amd64}
    assert airgap.builds(str(directory), "amd64", []) == {}
    images.check_bundled(str(directory), loaded, [])  # no workload: only the builds are wanted
    with pytest.raises(BadInput, match=r"lacks 2 image\(s\) the workloads run \(docker.io/library/nginx:1.27, "
                                       r"docker.io/library/web@sha256:d+\) in harmony-images-amd64.tar"):
        images.check_bundled(str(directory), loaded, workloads)  # the builds are there, as NAME:TAG

    with pytest.raises(BadInput, match=r"^the airgap bundle \S+ built web for linux/amd64, not the project's "
                                       r"image\(s\) api: make it again \(harmony bundle \S+\)$"):
        airgap.builds(str(directory), "amd64", ["web", "api"])
    with pytest.raises(BadInput, match=r"built images for linux/amd64, linux/arm64 only, not the project's image\(s\) "
                                       r"web: make it again"):
        airgap.builds(str(directory), "s390x", ["web"])

    record = directory / airgap.BUILDS
    record.write_text(record.read_text().replace(amd64, "harmony-" + "0" * 12))
    with pytest.raises(BadInput, match="harmony-builds.json does not match its checksum in sha256sum-harmony.txt"):
        airgap.builds(str(directory), "amd64", ["web"])
    with pytest.raises(BadInput, match="harmony-builds.json does not match its checksum"):
        airgap.version(str(directory))

    without = load(tmp_path / "plain", with_images=False)
    bundle_of(directory, *without, ["amd64"], [])  # no builds now: no record of old ones stays
    assert not record.exists() and not (directory / "harmony-images-arm64.tar").exists()
    with pytest.raises(BadInput, match=r"bundle \S+ built no image, not the project's image\(s\) web: make it again"):
        airgap.builds(str(directory), "amd64", ["web"])


def test_up_wants_the_bundles_builds_of_every_architecture(tmp_path, monkeypatch):
    made = fake_build(monkeypatch, tmp_path)
    loaded, workloads = load(tmp_path / "app")
    directory = tmp_path / "bundle"
    directory.mkdir()
    bundle_of(directory, loaded, workloads, ["amd64"], [build.ImageBuild("web", tmp_path, tmp_path / "Dockerfile")])
    tag = made["linux/amd64"].tag
    # the archive held only the pulled images: the build is missing, by the name the workloads will run
    pulled_only = directory / "harmony-images-amd64.tar"
    archive.write(pulled_only, [])
    with pytest.raises(BadInput, match=rf"lacks \d image\(s\) the workloads run \(.*docker.io/library/web:{tag}"):
        images.check_bundled(str(directory), loaded, workloads)
    (directory / airgap.BUILDS).unlink()
    with pytest.raises(BadInput, match=r"built no image, not the project's image\(s\) web: make it again "
                                       r"\(harmony bundle "):
        images.check_bundled(str(directory), loaded, workloads)
    for path in directory.glob("harmony-images-*.tar"):
        path.unlink()
    with pytest.raises(BadInput, match="holds none of the images the project's workloads run"):
        images.check_bundled(str(directory), loaded, [])


def test_the_builder_and_the_builds_are_checked_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(bundle, "make", lambda *a: pytest.fail("downloaded before the builds were checked"))
    loaded, _ = load(tmp_path / "app")
    with pytest.raises(BadInput, match=r"^no image builder is installed"):
        bundle.bundle(str(tmp_path / "bundle"), {"k3s_version": "v1.31.4+k3s1"}, ["amd64"], loaded)
    assert not (tmp_path / "bundle").exists()
