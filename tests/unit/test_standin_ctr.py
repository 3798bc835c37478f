"""The stand-in k3s's `ctr` (tests/standin/api/containerd.py) and its kubelet's pull policies
(tests/standin/api/workloads.py): archives built here as `docker save` and containerd write
them, read as containerd v1.7's importer reads them, and the decisions of the kubelet's image
manager."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid

import pytest

from tests.standin.api import containerd, workloads
from tests.standin.api.containerd import CtrError, import_archive


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def config_of(arch: str = "amd64") -> bytes:
    return json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                       "config": {"Cmd": ["sh"]}, "salt": uuid.uuid4().hex}).encode()


def layer() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        add(t, "hello.txt", uuid.uuid4().hex.encode())
    return out.getvalue()


def docker_archive(tags: list[str], arch: str = "amd64", drop: str | None = None) -> tuple[bytes, bytes]:
    """A docker-archive (docker save before Docker 25): manifest.json, a config, a layer."""
    config, data = config_of(arch), layer()
    config_name, layer_name = sha(config)[7:] + ".json", sha(data)[7:] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": [layer_name]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        if drop != "config":
            add(t, config_name, config)
        if drop != "layer":
            add(t, layer_name, data)
        add(t, "manifest.json", json.dumps(manifest).encode())
    return out.getvalue(), config


def oci_archive(annotations: list[dict], platforms=("amd64",), multi: bool = False, missing: str | None = None,
                layout: str = "1.0.0") -> tuple[bytes, dict]:
    """An OCI image layout archive (what harmony bundles, and docker save from Docker 25 on):
    oci-layout, index.json, blobs; `multi`: each index.json entry is an image index over
    `platforms`."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict:
        blobs[sha(data)] = data
        return {"digest": sha(data), "size": len(data)}

    manifests, configs = {}, {}
    for arch in platforms:
        config, data = config_of(arch), layer()
        configs[arch] = sha(config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": containerd.OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(data)}]}
                              ).encode()
        manifests[arch] = {"mediaType": containerd.OCI_MANIFEST, **blob(manifest),
                           "platform": {"architecture": arch, "os": "linux"}}
    if multi:
        index = json.dumps({"schemaVersion": 2, "mediaType": containerd.OCI_INDEX,
                            "manifests": list(manifests.values())}).encode()
        top = {"mediaType": containerd.OCI_INDEX, **blob(index)}
    else:
        top = dict(manifests[platforms[0]])
        top.pop("platform")
    if missing == "other-platform":
        del blobs[manifests[platforms[1]]["digest"]]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        add(t, "oci-layout", json.dumps({"imageLayoutVersion": layout}).encode())
        add(t, "index.json", json.dumps({"schemaVersion": 2, "manifests": [
            {**top, "annotations": a} for a in annotations]}).encode())
        for digest, data in blobs.items():
            add(t, "blobs/sha256/" + digest[7:], data)
    return out.getvalue(), {"top": top, "manifests": manifests, "configs": configs}


def names(images: list[dict]) -> list[str]:
    return [i["name"] for i in images]


# ---------------------------------------------------------------- reading archives


def test_a_docker_archive_names_its_tags_normalized_with_containerds_manifest():
    data, config = docker_archive(["web:1", "registry.example:5000/team/api:2.0", "library/x"])
    images = import_archive(io.BytesIO(data))
    assert names(images) == ["docker.io/library/web:1", "registry.example:5000/team/api:2.0",
                             "docker.io/library/x:latest"]
    image = images[0]
    assert image["config"] == sha(config)
    assert image["mediaType"] == containerd.DOCKER_MANIFEST  # the schema 2 manifest containerd writes
    assert image["platforms"] == ["linux/amd64"]
    assert len({i["target"] for i in images}) == 1 and image["target"].startswith("sha256:")
    # the manifest is the same bytes each time: the digest ctr prints is stable
    assert import_archive(io.BytesIO(data))[0]["target"] == image["target"]


def test_an_oci_layout_names_images_by_containerds_annotation_first():
    data, parts = oci_archive([
        {"io.containerd.image.name": "docker.io/library/web:1", "org.opencontainers.image.ref.name": "1"},
        {"org.opencontainers.image.ref.name": "2"},  # a bare tag: the import-DATE prefix
        {"org.opencontainers.image.ref.name": "web:3"},  # kept as it is: not normalized
        {},  # no name: not imported
    ])
    images = import_archive(io.BytesIO(data), today="2026-12-07")
    assert names(images) == ["docker.io/library/web:1", "import-2026-12-07:2", "web:3"]
    assert {i["target"] for i in images} == {parts["top"]["digest"]}
    assert images[0]["config"] == parts["configs"]["amd64"] and images[0]["platforms"] == ["linux/amd64"]
    with_base = import_archive(io.BytesIO(data), base_name="team/web")
    assert names(with_base) == ["docker.io/library/web:1", "team/web:2"]  # web:3 lacks the prefix
    digests = import_archive(io.BytesIO(data), base_name="team/web", digests=True)
    assert f"team/web@{parts['top']['digest']}" in names(digests)


def test_a_multi_platform_index_needs_only_the_hosts_platform_unless_all_are_imported():
    data, parts = oci_archive([{"io.containerd.image.name": "docker.io/library/web:1"}],
                              platforms=("amd64", "arm64"), multi=True, missing="other-platform")
    (image,) = import_archive(io.BytesIO(data))
    assert image["target"] == parts["top"]["digest"] and image["mediaType"] == containerd.OCI_INDEX
    with pytest.raises(CtrError, match=r"^content digest sha256:[0-9a-f]{64}: not found$"):
        import_archive(io.BytesIO(data), all_platforms=True)


def test_bad_archives_fail_with_containerds_messages():
    cases = {
        b"": "unrecognized image format",
        b"not a tar": "unexpected EOF",
        b"x" * 2048: "archive/tar: invalid tar header",
    }
    for data, message in cases.items():
        with pytest.raises(CtrError) as error:
            import_archive(io.BytesIO(data))
        assert str(error.value) == message
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        add(t, "hello.txt", b"hi")
    with pytest.raises(CtrError, match="^unrecognized image format$"):
        import_archive(io.BytesIO(out.getvalue()))
    gz = io.BytesIO()
    with tarfile.open(fileobj=gz, mode="w:gz") as t:
        add(t, "manifest.json", b"[]")
        add(t, "noise", os.urandom(4096))
    with pytest.raises(CtrError, match="^archive/tar: invalid tar header$"):  # no decompression
        import_archive(io.BytesIO(gz.getvalue()))
    data, _ = docker_archive(["web:1"], drop="config")
    with pytest.raises(CtrError, match=r'^image config "[0-9a-f]{64}\.json" not found$'):
        import_archive(io.BytesIO(data))
    data, _ = docker_archive(["web:1"], drop="layer")
    with pytest.raises(CtrError, match=r'^failed to resolve layers: layer "[0-9a-f]{64}/layer.tar" not found$'):
        import_archive(io.BytesIO(data))
    data, _ = oci_archive([{"io.containerd.image.name": "x"}], layout="2.0.0")
    with pytest.raises(CtrError, match="^unsupported OCI version 2.0.0$"):
        import_archive(io.BytesIO(data))


@pytest.mark.skipif(subprocess.run(["docker", "info"], capture_output=True).returncode != 0,
                    reason="no Docker engine")
def test_an_archive_from_a_real_docker_save(tmp_path):
    """A tiny local image (docker import of a one-file tar: no registry), saved by the real
    docker: whichever format this Docker writes (docker-archive, or OCI layout with it), the
    stand-in names it as containerd does."""
    tag = f"standin-ctr-test-{uuid.uuid4().hex[:8]}:1"
    (tmp_path / "hello.txt").write_text("hello\n")
    subprocess.run(["tar", "-C", str(tmp_path), "-cf", str(tmp_path / "rootfs.tar"), "hello.txt"], check=True)
    subprocess.run(["docker", "import", str(tmp_path / "rootfs.tar"), tag], check=True, capture_output=True)
    try:
        saved = tmp_path / "image.tar"
        subprocess.run(["docker", "save", "-o", str(saved), tag], check=True, capture_output=True, timeout=120)
        image_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", tag], check=True,
                                  capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    with open(saved, "rb") as f:
        images = import_archive(f)
    assert names(images) == [f"docker.io/library/{tag}"]
    assert images[0]["config"] == image_id  # Docker's image id is its config's digest
    assert images[0]["platforms"] == ["linux/amd64"] and containerd.unpackable(images[0])


# ---------------------------------------------------------------- the command and the store


@pytest.fixture
def containerd_socket(tmp_path):
    """The stand-in containerd's socket, as a running k3s serves it, over a store in tmp."""
    address, root = str(tmp_path / "run" / "containerd.sock"), str(tmp_path / "root")
    sock = containerd.serve_socket(address, root)
    yield address, root
    sock.close()


def ctr(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = containerd.main(list(args), stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_import_records_the_images_per_namespace_and_lists_them(containerd_socket, tmp_path):
    address, root = containerd_socket
    data, config = docker_archive(["web:1"])
    archive = tmp_path / "web.tar"
    archive.write_bytes(data)
    code, out, err = ctr("-a", address, "-n", "k8s.io", "images", "import", "--all-platforms", str(archive))
    assert (code, err) == (0, "")
    target = containerd.ImageStore(root).images("k8s.io")["docker.io/library/web:1"]["target"]
    assert out == f"unpacking docker.io/library/web:1 ({target})...done\n"
    assert containerd.ImageStore(root).images("k8s.io")["docker.io/library/web:1"]["config"] == sha(config)

    other, _ = docker_archive(["api:2"])
    assert ctr("--address", address, "i", "import", "-", stdin=other)[0] == 0  # default namespace: k8s.io
    assert ctr("-a", address, "--namespace=default", "image", "import", "-", stdin=other)[0] == 0

    assert ctr("-a", address, "-n", "k8s.io", "images", "ls", "-q")[1] == \
        "docker.io/library/api:2\ndocker.io/library/web:1\n"
    assert ctr("-a", address, "-n", "default", "images", "list", "--quiet")[1] == "docker.io/library/api:2\n"
    table = ctr("-a", address, "-n", "k8s.io", "images", "ls")[1].splitlines()
    assert table[0].split() == ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]
    assert table[2].split()[:3] == ["docker.io/library/web:1", containerd.DOCKER_MANIFEST, target]
    assert table[2].split()[-2:] == ["linux/amd64", "-"]

    # what the kubelet sees: the k8s.io namespace only, each image with its tags and digests
    entries = containerd.cri_images(containerd.ImageStore(root).images("k8s.io"))
    assert {n for e in entries for n in e["names"]} == {
        "docker.io/library/web:1", f"docker.io/library/web@{target}", "docker.io/library/api:2",
        f"docker.io/library/api@{containerd.ImageStore(root).images('k8s.io')['docker.io/library/api:2']['target']}"}


def test_import_failures_exit_1_with_ctrs_messages(containerd_socket, tmp_path):
    address, root = containerd_socket
    (tmp_path / "junk.tar").write_bytes(b"x" * 4096)
    assert ctr("-a", address, "images", "import", str(tmp_path / "junk.tar")) == \
        (1, "", "ctr: archive/tar: invalid tar header\n")
    assert ctr("-a", address, "images", "import", str(tmp_path / "none.tar")) == \
        (1, "", f"ctr: open {tmp_path / 'none.tar'}: no such file or directory\n")
    code, _, err = ctr("-a", address, "images", "import", "--bogus", "x")
    assert code == 1 and err.endswith("ctr: flag provided but not defined: -bogus\n")
    assert ctr("-a", address, "containers", "ls")[0] == 3  # not modelled: urfave's unknown command
    # an image for another platform: recorded, then its unpack fails, as with containerd
    data, _ = docker_archive(["arm:1"], arch="arm64")
    code, out, err = ctr("-a", address, "images", "import", "-", stdin=data)
    assert code == 1 and out.startswith("unpacking docker.io/library/arm:1 (sha256:") and out.endswith("...")
    assert err.startswith("ctr: manifest sha256:") and err.endswith(": not found\n")
    assert "docker.io/library/arm:1" in containerd.ImageStore(root).images("k8s.io")


def test_ctr_cannot_dial_a_containerd_that_is_not_running(tmp_path):
    # k3s stopped: containerd died with it and left its socket, which refuses at once
    stale = str(tmp_path / "stale.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(stale)
    listener.close()
    assert ctr("-a", stale, "images", "ls", "-q") == (1, "", (
        f'ctr: failed to dial "{stale}": connection error: desc = "transport: error while dialing: '
        f'dial unix {stale}: connect: connection refused"\n'))
    # never started: the socket is waited for, for the connect timeout
    missing = str(tmp_path / "missing.sock")
    started = time.monotonic()
    code, _, err = ctr("--connect-timeout", "1s", "-a", missing, "images", "import", "-")
    assert code == 1 and time.monotonic() - started >= 1
    assert err == (f'ctr: failed to dial "{missing}": context deadline exceeded: connection error: desc = '
                   f'"transport: error while dialing: dial unix://{missing}: timeout"\n')


def test_a_socket_that_appears_within_the_timeout_is_dialled(tmp_path):
    address, root = str(tmp_path / "late.sock"), str(tmp_path / "root")
    holder = {}
    timer = threading.Timer(0.5, lambda: holder.setdefault("sock", containerd.serve_socket(address, root)))
    timer.start()
    try:
        assert ctr("-a", address, "images", "ls", "-q") == (0, "", "")
    finally:
        timer.join()
        holder["sock"].close()


def test_sizes_read_as_ctrs():
    assert [containerd.human(n) for n in (0, 512, 1536, 3 << 20)] == ["0.0 B", "512.0 B", "1.5 KiB", "3.0 MiB"]


def test_status_images_are_the_50_largest():
    entries = [{"names": [f"docker.io/library/i{n}:1"], "sizeBytes": n} for n in range(60)]
    shown = containerd.node_images(entries)
    assert len(shown) == 50 and shown[0]["sizeBytes"] == 59 and shown[-1]["sizeBytes"] == 10


def test_the_default_namespace_and_address_are_k3ss(monkeypatch):
    monkeypatch.delenv("CONTAINERD_NAMESPACE", raising=False)
    assert (containerd.DEFAULT_NAMESPACE, containerd.DEFAULT_ADDRESS) == (
        "k8s.io", "/run/k3s/containerd/containerd.sock")
    assert ctr("--version") == (0, "ctr github.com/containerd/containerd v1.7.23-k3s2\n", "")


# ---------------------------------------------------------------- the kubelet's pull policies


NODE = {"labels": {}, "images": ["docker.io/library/web:1", "docker.io/library/app:latest"], "no_registry": False}
AIRGAPPED = {**NODE, "no_registry": True}


@pytest.mark.parametrize(("image", "policy"), [
    ("web:1", "IfNotPresent"), ("web", "Always"), ("web:latest", "Always"),
    ("registry.example:5000/team/web", "Always"), ("registry.example:5000/team/web:2", "IfNotPresent"),
    ("web@sha256:" + "a" * 64, "IfNotPresent"), ("web:latest@sha256:" + "a" * 64, "Always"),
])
def test_the_default_pull_policy_follows_the_tag(image, policy):
    assert workloads.pull_policy({"image": image}) == policy
    assert workloads.pull_policy({"image": image, "imagePullPolicy": "Never"}) == "Never"


def test_pull_decisions_as_the_kubelets_image_manager():
    problem = workloads.pull_problem
    never = ("ErrImageNeverPull", 'Container image "web:2" is not present with pull policy of Never')
    assert problem({"image": "web:2", "imagePullPolicy": "Never"}, [NODE]) == never
    assert problem({"image": "web:1", "imagePullPolicy": "Never"}, [AIRGAPPED]) is None  # present: used
    assert problem({"image": "web:1"}, [AIRGAPPED]) is None  # IfNotPresent, present: no pull
    assert problem({"image": "web:2"}, [AIRGAPPED]) == ("ImagePullBackOff", 'Back-off pulling image "web:2"')
    assert problem({"image": "web:2"}, [NODE]) is None  # pulled from the registry
    # Always pulls, so a node that reaches no registry fails even with the image present
    assert problem({"image": "app"}, [AIRGAPPED]) == ("ImagePullBackOff", 'Back-off pulling image "app"')
    assert problem({"image": "web:1", "imagePullPolicy": "Always"}, [AIRGAPPED])[0] == "ImagePullBackOff"
    assert problem({"image": "app"}, [NODE]) is None
    # an image no registry has: pulled only when it must be
    assert problem({"image": "unpullable:1"}, [NODE])[0] == "ImagePullBackOff"
    assert problem({"image": "unpullable:1"}, [{**NODE, "images": ["docker.io/library/unpullable:1"]}]) is None
    # the pods may land on any matching node: one that fails is enough
    assert problem({"image": "web:2"}, [NODE, AIRGAPPED])[0] == "ImagePullBackOff"


def test_a_workloads_pods_show_the_pull_failures():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "default", "generation": 1},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
                      "metadata": {"labels": {"app": "web"}},
                      "spec": {"containers": [{"name": "web", "image": "web:2", "imagePullPolicy": "Never"},
                                              {"name": "side", "image": "web:1"}]}}}}
    since = time.time() - 60
    assert workloads.kubelet(deployment, since, [NODE]) == "unpullable"
    (pod,) = workloads.pods_of(deployment, since, [NODE])
    web, side = pod["status"]["containerStatuses"]
    assert web["state"]["waiting"] == {
        "reason": "ErrImageNeverPull", "message": 'Container image "web:2" is not present with pull policy of Never'}
    assert side["state"]["waiting"]["reason"] == "ContainerCreating"
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    assert workloads.kubelet(deployment, since, [NODE]) == "running"
    assert workloads.kubelet(deployment, since, [AIRGAPPED]) == "unpullable"


def test_the_node_reports_what_ctr_imported(tmp_path, monkeypatch):
    """k3s.py's view of a node's images: the k8s.io namespace of its store, in `images` for the
    pull decisions and in status.images."""
    import importlib.util
    import sys

    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "standin"))
    spec = importlib.util.spec_from_file_location("standin_k3s_module",
                                                  os.path.join(os.path.dirname(__file__), "..", "standin", "k3s.py"))
    k3s = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "argv", ["k3s", "server"])
    spec.loader.exec_module(k3s)
    config = {"data-dir": str(tmp_path)}
    store = containerd.ImageStore(k3s.containerd_root(config))
    store.add("k8s.io", import_archive(io.BytesIO(docker_archive(["web:1"])[0])))
    store.add("default", import_archive(io.BytesIO(docker_archive(["hidden:1"])[0])))
    reported = k3s.reported_images(k3s.containerd_root(config))
    assert "docker.io/library/web:1" in reported["images"] and "docker.io/library/hidden:1" not in reported["images"]
    node = {"name": "n", "uid": "u", "roles": [], "labels": {}, "taints": [], "address": "10.0.0.1",
            "version": "v1", "created": "2026-01-01T00:00:00Z", **reported}
    status = k3s.node_object(node)["status"]["images"]
    (entry,) = status
    assert "docker.io/library/web:1" in entry["names"] and entry["sizeBytes"] > 0
