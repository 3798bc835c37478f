"""An airgapped project's own code: `harmony bundle` builds its image with the real Docker engine
(FROM a tiny local base image) beside the k3s release, then `harmony up --airgap`, from a
controller whose PATH has no builder, onto a host that reaches no registry: the node imports the
build from the bundle's images archive, and the Deployment runs `web:harmony-…`."""

from __future__ import annotations

import json

import yaml

from harmony.images import archive
from tests.e2e import test_own_images
from tests.e2e.conftest import needs_mirror
from tests.e2e.test_airgap import IMAGES, UNREACHABLE, sha256
from tests.e2e.test_own_images import NO_REGISTRY, write_project

base_image = test_own_images.base_image  # the fixture, shared


@needs_mirror
def test_an_airgapped_projects_own_image_runs_from_its_bundle(host, harmony, base_image, tmp_path):
    host.sh(f"touch {NO_REGISTRY}")
    root = tmp_path / "own"
    write_project(root, host, harmony, base_image)  # its web image, and k8s/web.yaml running `image: web`
    spec = yaml.safe_load((root / "harmony.yaml").read_text())
    spec["cluster"]["k3s"] = {"airgap_dir": "bundle", "release_url": UNREACHABLE}
    spec["workloads"] = [{"name": "web", "manifests": "k8s/"}]
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))

    made = harmony("bundle", "bundle", "--release-url", harmony.mirror.release_url, cwd=root, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "1 image(s) of the project for linux/amd64 bundled in harmony-images-amd64.tar" in made.stdout
    (line,) = [line for line in made.stdout.splitlines() if "image web built for linux/amd64: " in line]
    tag = line.rsplit(": ", 1)[1]
    assert tag.startswith("harmony-") and "warning" not in made.stdout
    bundle = root / "bundle"
    assert json.loads((bundle / "harmony-builds.json").read_text()) == {"amd64": {"web": tag}}
    assert archive.names(bundle / "harmony-images-amd64.tar") == {f"docker.io/library/web:{tag}"}
    assert "harmony-builds.json" in (bundle / "sha256sum-harmony.txt").read_text()

    no_builder = tmp_path / "no-builder"  # the controller of an airgapped up: no docker, no podman, ...
    no_builder.mkdir()
    asked = len(harmony.mirror.requests)
    up = harmony("up", "--yes", "--json", cwd=root, env={"PATH": str(no_builder)}, timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    assert harmony.mirror.requests[asked:] == []  # neither the controller nor the host downloaded anything
    report = json.loads(up.stdout)
    assert report["images"] == [{"name": "web", "tag": tag, "reference": f"docker.io/library/web:{tag}",
                                 "bundled": True}] and report["images_sent_bytes"] == 0
    assert host.sh(f"sha256sum {IMAGES}").split()[0] == sha256(bundle / "harmony-images-amd64.tar")
    deployment = json.loads(harmony.kubectl("--context", "own", "get", "deployment", "web", "-o", "json").stdout)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (f"web:{tag}", "IfNotPresent")
    assert deployment["status"].get("readyReplicas") == 1
    (node,) = json.loads(harmony.kubectl("--context", "own", "get", "nodes", "-o", "json").stdout)["items"]
    assert f"docker.io/library/web:{tag}" in {n for entry in node["status"]["images"] for n in entry["names"]}

    started = host.started_at()
    again = harmony("up", "--yes", "--json", cwd=root, env={"PATH": str(no_builder)}, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {o["action"] for o in json.loads(again.stdout)["workloads"]["objects"]} == {"unchanged"}
    assert host.started_at() == started

    spec = yaml.safe_load((root / "harmony.yaml").read_text())  # an image the bundle did not build
    spec["images"].append({"name": "api", "context": "web"})
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))
    unbuilt = harmony("up", "--yes", cwd=root, env={"PATH": str(no_builder)})
    assert unbuilt.returncode == 2
    assert unbuilt.stderr.strip().splitlines()[-1] == (
        f"harmony: error: the airgap bundle {bundle} built web for linux/amd64, not the project's image(s) api: "
        f"make it again (harmony bundle {bundle})")
    assert host.started_at() == started
