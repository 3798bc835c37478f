"""Images for airgapped projects: names normalized as containerd normalizes them, the images a
project's workloads run, the archive k3s imports, and the registry client against the stand-in
registry (token auth, redirects to signed storage links, content negotiation, digests)."""

from __future__ import annotations

import base64
import json
import tarfile
from pathlib import Path

import pytest

from harmony import project
from harmony.charts import fetch_chart
from harmony.errors import BadInput, RunFailed
from harmony.images import archive, reference
from harmony.images.registry import Puller
from harmony.workloads import images, spec
from tests.e2e import tls
from tests.standin.chartrepo import ChartRepo, chart_archive
from tests.standin.registry import Registry


@pytest.mark.parametrize("name, normalized", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.27-alpine", "docker.io/library/nginx:1.27-alpine"),
    ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
    ("ghcr.io/org/app:v1", "ghcr.io/org/app:v1"),
    ("localhost/app", "localhost/app:latest"),
    ("10.0.0.5:5000/team/app:2", "10.0.0.5:5000/team/app:2"),
    ("nginx@sha256:" + "a" * 64, "docker.io/library/nginx@sha256:" + "a" * 64),
    ("nginx:1.27@sha256:" + "b" * 64, "docker.io/library/nginx:1.27@sha256:" + "b" * 64),
])
def test_names_are_normalized_as_containerd_does(name, normalized):
    assert str(reference.parse(name)) == normalized


@pytest.mark.parametrize("name", ["Nginx:1", "nginx:", "nginx@sha256:short", "a//b"])
def test_a_name_that_is_not_a_reference_is_bad_input(name):
    with pytest.raises(BadInput, match="is not an image reference"):
        reference.parse(name)


def test_only_latest_or_untagged_images_float():
    assert reference.parse("nginx").floating and reference.parse("nginx:latest").floating
    assert not reference.parse("nginx:1.27").floating
    assert not reference.parse("nginx@sha256:" + "c" * 64).floating


def wanted(tmp_path: Path, text: str) -> images.Wanted:
    path = tmp_path / "harmony.yaml"
    path.write_text(text)
    loaded = project.load(path)
    return images.wanted(loaded, spec.load(loaded))


def test_the_images_of_every_container_list_and_the_listed_ones(tmp_path):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers: [{name: init, image: "busybox:1.36"}]
      containers: [{name: web, image: "nginx:1.27"}, {name: side, image: "nginx:latest", imagePullPolicy: IfNotPresent}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: "busybox:1.36"}]}}}}}
""")
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("name: status\nversion: 0.1.0\n")
    found = wanted(tmp_path, "workloads:\n  - {name: web, manifests: k8s/}\n"
                             "  - {name: status, helm: {chart: ./chart/}, images: ['ghcr.io/org/status:2', 'nginx:1.27']}\n"
                             "  - {name: bare, helm: {chart: ./chart/}}\n")
    assert {str(i): names for i, names in found.images.items()} == {
        "docker.io/library/busybox:1.36": ("web",), "docker.io/library/nginx:1.27": ("web", "status"),
        "docker.io/library/nginx:latest": ("web",), "ghcr.io/org/status:2": ("status",)}
    assert found.warnings == ("workload 'bare': harmony does not render Helm charts, so it cannot see this chart's "
                              "images: list them under the workload's images",)


def test_an_image_pulled_on_every_start_is_warned_of(tmp_path):
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
                                       "spec: {containers: [{name: c, image: redis}]}\n")
    found = wanted(tmp_path, "workloads:\n  - {name: cache, manifests: pod.yaml}\n")
    assert len(found.warnings) == 1 and "redis is pulled on every start" in found.warnings[0]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    ca = tls.make(tmp_path_factory.mktemp("ca"), "127.0.0.1")
    server = Registry("127.0.0.1", ca.server, {"library/nginx": ["1.27"], "team/private": ["1.0"]},
                      private={"team/private"}, charts={"charts/extras": ["1.2.0+up1"]}).start()
    server.ca_cert, server.tls = ca.ca_cert, ca.server
    yield server
    server.stop()


@pytest.fixture
def puller_env(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(registry.ca_cert))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return {"mirrors": {"docker.io": {"endpoint": [registry.origin()]}}}


def test_an_image_is_pulled_for_its_platform_with_a_token_and_without_credentials_at_storage(registry, puller_env):
    seen = len(registry.hits)
    image = Puller(puller_env, False).pull(reference.parse("nginx:1.27"), "arm64")
    assert image.platform == "linux/arm64"
    assert image.blobs[1].digest == registry.layer_of("library/nginx", "1.27", "arm64")
    hits = registry.hits[seen:]
    assert hits[0] == ("registry", "/v2/library/nginx/manifests/1.27", "")  # 401, then a token
    assert hits[1][:2] == ("auth", "/token")
    assert all(scheme == "" for origin, _, scheme in hits if origin == "storage")
    assert all(blob.path.read_bytes() == registry.blobs[blob.digest] for blob in image.blobs)


def test_a_digest_reference_and_an_expired_token(registry, puller_env, monkeypatch):
    puller = Puller(puller_env, False)
    digest = registry.digest_of("library/nginx", "1.27")
    puller.pull(reference.parse(f"nginx@{digest}"), "amd64")
    for token in registry.tokens:
        registry.tokens[token] = (registry.tokens[token][0], 0)  # every token has expired
    seen = len(registry.hits)
    puller.pull(reference.parse("nginx:1.27"), "amd64")
    assert ("auth", "/token", "") in registry.hits[seen:]


def test_private_images_need_credentials(registry, puller_env):
    name = reference.parse(f"{registry.address}/team/private:1.0")
    with pytest.raises(RunFailed, match=rf'refused to let harmony pull \(401\): give its credentials in '
                                        rf'cluster.k3s.registries configs."{registry.address}".auth'):
        Puller(puller_env, False).pull(name, "amd64")
    given = {"configs": {registry.address: {"auth": {"username": "standin", "password": "secret"}}}}
    assert Puller(given, False).pull(name, "amd64").platform == "linux/amd64"


def test_what_a_registry_does_not_have_or_gives_wrong_is_named(registry, puller_env):
    puller = Puller(puller_env, False)
    with pytest.raises(RunFailed, match="MANIFEST_UNKNOWN"):
        puller.pull(reference.parse(f"{registry.address}/library/nginx:9.9"), "amd64")
    with pytest.raises(RunFailed, match="has no linux/s390x build"):
        puller.pull(reference.parse(f"{registry.address}/library/nginx:1.27"), "s390x")
    layer = registry.layer_of("library/nginx", "1.27", "amd64")
    registry.tampered.add(layer)
    try:
        with pytest.raises(RunFailed, match=f"the blob {layer} does not match its digest: discarded"):
            puller.pull(reference.parse(f"{registry.address}/library/nginx:1.27"), "amd64")
    finally:
        registry.tampered.discard(layer)


def test_the_archive_is_an_oci_layout_named_for_containerd_and_the_same_bytes_each_time(registry, puller_env, tmp_path):
    puller = Puller(puller_env, False)
    pulled = [puller.pull(reference.parse("nginx:1.27"), "amd64"),
              puller.pull(reference.parse(f"{registry.address}/library/nginx:1.27"), "amd64")]
    archive.write(tmp_path / "a.tar", pulled)
    archive.write(tmp_path / "b.tar", list(reversed(pulled)))
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert archive.names(tmp_path / "a.tar") == {"docker.io/library/nginx:1.27", f"{registry.address}/library/nginx:1.27"}
    with tarfile.open(tmp_path / "a.tar") as tar:
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
        entry = json.loads(tar.extractfile("index.json").read())["manifests"][0]
        assert entry["annotations"]["org.opencontainers.image.ref.name"] == "1.27"
        assert entry["platform"] == {"os": "linux", "architecture": "amd64"}
        blobs = {m.name for m in tar.getmembers() if m.isfile() and m.name.startswith("blobs/")}
    assert len(blobs) == 3  # one manifest, config and layer: the same image under two names
    assert archive.names(tmp_path / "missing.tar") == set()


def test_charts_from_a_repository_and_from_an_oci_registry(registry, puller_env):
    repo = ChartRepo("127.0.0.1", registry.tls, {"extras": ["1.2.0"]}).start()
    try:
        puller = Puller(puller_env, False)
        assert fetch_chart({"repo": repo.url, "chart": "extras", "version": "1.2.0"}, puller) == \
            chart_archive("extras", "1.2.0")
        assert repo.hits == ["/index.yaml", "/charts/extras-1.2.0.tgz"]
        with pytest.raises(RunFailed, match="has no extras 9.9.9"):
            fetch_chart({"repo": repo.url, "chart": "extras", "version": "9.9.9"}, puller)
    finally:
        repo.stop()
    oci = {"chart": f"oci://{registry.address}/charts/extras", "version": "1.2.0+up1"}
    assert fetch_chart(oci, Puller(puller_env, False)) == chart_archive("extras", "1.2.0+up1")


def test_a_bundled_chart_travels_as_chart_content(tmp_path):
    path = tmp_path / "harmony.yaml"
    path.write_text("workloads:\n  - {name: extras, helm: {chart: extras, repo: 'https://charts.example', version: 1.2.0}}\n")
    loaded = project.load(path)
    (named,) = spec.load(loaded)[0].objects
    assert named["spec"]["repo"] == "https://charts.example" and "chartContent" not in named["spec"]
    bundle = tmp_path / "bundle"
    with pytest.raises(BadInput, match=r"the airgap bundle .* lacks its chart \(extras 1.2.0\): make it again"):
        spec.load(loaded, str(bundle))
    file = bundle / spec.bundled_chart(loaded.workloads[0]["helm"])
    file.parent.mkdir(parents=True)
    file.write_bytes(chart_archive("extras", "1.2.0"))
    (carried,) = spec.load(loaded, str(bundle))[0].objects
    assert base64.b64decode(carried["spec"]["chartContent"]) == chart_archive("extras", "1.2.0")
    assert not {"repo", "chart", "version"} & set(carried["spec"])
