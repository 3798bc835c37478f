"""A project's own code: its image built by the real Docker engine on the controller, sent to a
k3s node over SSH that reaches no registry, imported into its containerd, and run by the
workload that names it; a code change rolls it to a new build, and an unchanged project sends
nothing."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.conftest import NEW
from tests.localimages import tiny_base_image

NO_REGISTRY = "/etc/standin-no-registry"  # the stand-in k3s's mark of a host that reaches no registry
K3S_IMAGES = "/var/lib/rancher/k3s/agent/images"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web, ports: [{containerPort: 8080}]}]}
"""


@pytest.fixture
def base_image():
    """A tiny local base image (`tests.localimages`): no registry is reachable here."""
    with tiny_base_image("harmony-own-test") as name:
        yield f"{name}-base:1"


CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: "{{ .Release.Name }}-web"}
spec:
  selector: {matchLabels: {app: chart-web}}
  template:
    metadata: {labels: {app: chart-web}}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
"""


def write_app(root, base_image) -> None:
    """A repository's own app: web/ (its code and Dockerfile, FROM `base_image`) and k8s/web.yaml
    (a Deployment running `image: web`)."""
    (root / ".git").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "web" / "Dockerfile").write_text(f"FROM {base_image}\nCOPY index.html /srv/index.html\n")
    (root / "web" / "index.html").write_text("<h1>hello</h1>\n")
    (root / "k8s").mkdir()
    (root / "k8s" / "web.yaml").write_text(DEPLOYMENT)


def write_project(root, host, harmony, base_image) -> None:
    write_app(root, base_image)
    (root / "chart" / "templates").mkdir(parents=True)  # a chart runs the build through its values
    (root / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    (root / "chart" / "values.yaml").write_text("image: {repository: nginx, tag: '1.27', pullPolicy: Always}\n")
    (root / "chart" / "templates" / "deployment.yaml").write_text(CHART_DEPLOYMENT)
    spec = {
        "cluster": {"name": "own", "runtime": "k3s", "version": NEW, "kubeconfig_server": host.api_url,
                    "allow_http": True, "k3s": {"release_url": harmony.mirror.release_url}},
        "target": host.target,
        "ssh": {"key": str(harmony.ssh_key)},
        "images": [{"name": "web", "context": "web"}],
        "workloads": [{"name": "web", "manifests": "k8s/"},
                      {"name": "chart", "helm": {"chart": "chart/", "image_values": {"image": "web"}}}],
    }
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))


def images_of(harmony, deployment: str) -> list[tuple[str, str]]:
    found = json.loads(harmony.kubectl("--context", "own", "get", "deployment", deployment, "-o", "json").stdout)
    return [(c["image"], c["imagePullPolicy"]) for c in found["spec"]["template"]["spec"]["containers"]]


def up(harmony, root) -> dict:
    done = harmony("up", "--yes", "--json", cwd=root, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_a_projects_image_is_built_sent_and_rolled_on_change(host, harmony, base_image, tmp_path):
    host.sh(f"touch {NO_REGISTRY}")
    # As an airgapped host must, it holds k3s's own images (the release's airgap archive, a token
    # file at the stand-in's mirror), which the chart's install Job runs.
    host.sh(f"mkdir -p {K3S_IMAGES} && : > {K3S_IMAGES}/k3s-airgap-images-amd64.tar.zst")
    root = tmp_path / "own"
    write_project(root, host, harmony, base_image)

    first = up(harmony, root)
    (image,) = first["images"]
    tag = image["tag"]
    assert tag.startswith("harmony-") and first["images_sent_bytes"] > 0, json.dumps(first, indent=1)
    held = host.sh("k3s ctr -n k8s.io images ls -q").split()
    assert f"docker.io/library/web:{tag}" in held
    template = json.loads(harmony.kubectl("--context", "own", "get", "deployment", "web", "-o", "json").stdout)
    (container,) = template["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (f"web:{tag}", "IfNotPresent")
    assert images_of(harmony, "chart-web") == [(f"web:{tag}", "IfNotPresent")]

    # check builds what up would (changing nothing): an unchanged project has no difference, an
    # edited one the build up would send and the workloads it would roll
    assert harmony("check", cwd=root, timeout=300).returncode == 0
    source = (root / "web" / "index.html").read_text()
    (root / "web" / "index.html").write_text("<h1>not yet</h1>\n")
    drifted = harmony("check", "--json", cwd=root, timeout=300)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    differences = json.loads(drifted.stdout)["cluster_differences"]
    assert any(d.startswith("image web: harmony-") and "would be sent to" in d for d in differences), differences
    assert "workload web: would change Deployment/web in default" in differences, differences
    (root / "web" / "index.html").write_text(source)

    rolls_on_change_only(lambda: up(harmony, root), harmony, root, "own", tag, ["change", "change"],  # the chart's too
                         lambda new_tag: f"docker.io/library/web:{new_tag}" in host.sh("k3s ctr -n k8s.io images ls -q"))


def rolls_on_change_only(run_up, harmony, root, context: str, tag: str, changed_actions: list[str], holds) -> None:
    """With `run_up` running `harmony up --json` on the project: an unchanged project sends
    nothing and changes nothing; an edit of the image's code sends a new build (which
    `holds(tag)` finds on the nodes) and rolls the workloads to it; the next unchanged run sends
    nothing again."""
    again = run_up()
    assert again["images"][0]["tag"] == tag and again["images_sent_bytes"] == 0
    assert {o["action"] for o in again["workloads"]["objects"]} == {"unchanged"}

    (root / "web" / "index.html").write_text("<h1>hello, again</h1>\n")
    changed = run_up()
    new_tag = changed["images"][0]["tag"]
    assert new_tag != tag and changed["images_sent_bytes"] > 0 and holds(new_tag)
    assert [o["action"] for o in changed["workloads"]["objects"]] == changed_actions
    rolled = json.loads(harmony.kubectl("--context", context, "get", "deployment", "web", "-o", "json").stdout)
    assert rolled["spec"]["template"]["spec"]["containers"][0]["image"] == f"web:{new_tag}"
    assert rolled["status"].get("updatedReplicas") == 1

    last = run_up()
    assert last["images"][0]["tag"] == new_tag and last["images_sent_bytes"] == 0
