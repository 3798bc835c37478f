"""`harmony up --watch` (`harmony.watch`): which change affects what, what a cycle does for it
(builds, sends and applies through stand-ins here), the line it says, and the options refused
before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from harmony import watch
from harmony.errors import Interrupted, RunFailed
from harmony.images.build import BuildFailed, ImageBuild
from harmony.images.reference import parse
from harmony.project import load as load_project
from harmony.workloads.apply import Step
from harmony.workloads.converge import Outcome
from harmony.workloads.rollout import Failure
from harmony.workloads.spec import Workload

HARMONY = [sys.executable, "-m", "harmony"]
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web"}]}}}}


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "shop"
    for directory in ("web", "api", "k8s/sub", "chart/templates", "overlay", "base", ".git"):
        (root / directory).mkdir(parents=True)
    (root / "web" / "Dockerfile").write_text("FROM scratch\n")
    (root / "api" / "Dockerfile").write_text("FROM scratch\n")
    (root / "api.Dockerfile").write_text("FROM scratch\n")
    (root / "k8s" / "web.yaml").write_text(yaml.safe_dump(DEPLOYMENT))
    (root / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    (root / "values.yaml").write_text("replicas: 1\n")
    (root / "overlay" / "kustomization.yaml").write_text("resources: [../base]\n")
    (root / "base" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (root / "harmony.yaml").write_text(yaml.safe_dump({
        "cluster": {"runtime": "k3s"},
        "images": [{"name": "web", "context": "web"}, {"name": "api", "context": "api", "dockerfile": "../api.Dockerfile"}],
        "workloads": [{"name": "web", "manifests": "k8s/"},
                      {"name": "chart", "helm": {"chart": "chart/", "values_files": ["values.yaml"]}},
                      {"name": "remote", "helm": {"repo": "https://charts.example.com", "chart": "x", "version": "1"}},
                      {"name": "overlay", "kustomize": "overlay"}]}))
    return load_project(root / "harmony.yaml")


@pytest.fixture
def small(tmp_path):
    """A project of one image and one workload that runs it."""
    root = tmp_path / "small"
    (root / "web").mkdir(parents=True)
    (root / "k8s").mkdir()
    (root / "web" / "Dockerfile").write_text("FROM scratch\n")
    (root / "k8s" / "web.yaml").write_text(yaml.safe_dump(DEPLOYMENT))
    (root / "harmony.yaml").write_text(yaml.safe_dump({
        "cluster": {"runtime": "k3s"}, "images": [{"name": "web", "context": "web"}],
        "workloads": [{"name": "web", "manifests": "k8s/"}]}))
    return load_project(root / "harmony.yaml")


def watched_of(project) -> watch.Watched:
    from harmony.images import builds

    return watch.Watched.of(project, builds.of(project))


def test_each_change_is_mapped_to_the_images_and_workloads_it_affects(project):
    watched, root = watched_of(project), project.path.parent.resolve()

    def affected(*paths):
        return watched.affected([str(root / p) for p in paths])

    assert affected("web/index.html") == watch.Affected(images=("web",))
    assert affected("api.Dockerfile", "web/src/app.js") == watch.Affected(images=("web", "api"))
    for workload_file in ("k8s/web.yaml", "k8s/sub/new.yaml", "chart/templates/deploy.yaml", "values.yaml",
                          "overlay/kustomization.yaml", "base/cm.yaml"):
        assert affected(workload_file) == watch.Affected(workloads=True), workload_file
    assert affected("harmony.yaml") == watch.Affected(project_file=True)
    assert not affected("README.md") and not affected("webby/x")


def test_the_filter_leaves_out_git_editors_files_and_what_affects_nothing(project):
    keep, root = watch.wanted(watched_of(project)), project.path.parent.resolve()
    assert keep(None, str(root / "web" / "index.html"))
    assert not keep(None, str(root / ".git" / "index"))
    assert not keep(None, str(root / "web" / ".index.html.swp"))
    assert not keep(None, str(root / "web" / "index.html~"))
    assert not keep(None, str(root / "docs" / "notes.md"))


@pytest.mark.parametrize("said, line", [
    (watch.Said(images=["web: rebuilt in 3.1 s (harmony-0123456789ab), shipped 12.3 MB to 1 node"],
                rollout="rolled out in 4.0 s"),
     "web: rebuilt in 3.1 s (harmony-0123456789ab), shipped 12.3 MB to 1 node, rolled out in 4.0 s"),
    (watch.Said(images=["web: unchanged (harmony-0123456789ab)"]), "web: unchanged (harmony-0123456789ab)"),
    (watch.Said(workloads="workloads: 1 changed", rollout="rolled out in 2.0 s"),
     "workloads: 1 changed, rolled out in 2.0 s"),
    (watch.Said(images=["web: build failed: exit 1"], notes=[watch.PROJECT_FILE_CHANGED]),
     f"web: build failed: exit 1; {watch.PROJECT_FILE_CHANGED}"),
])
def test_a_cycle_says_one_line(said, line):
    assert said.line() == line


def test_the_parts_of_a_line():
    assert watch.image_part("web", "harmony-b", "harmony-a", 3.14, 12_345_678, 1) == \
        "web: rebuilt in 3.1 s (harmony-b), shipped 12.3 MB to 1 node"
    assert watch.image_part("web", "harmony-a", "harmony-a", 0.4, 0, 0) == "web: unchanged (harmony-a)"
    assert watch.image_part("web", "harmony-b", None, 1, 2_000_000, 3).endswith("shipped 2.0 MB to 3 nodes")
    failed = BuildFailed("the build of image 'web' failed; its last lines: ...", ["#5 RUN make", "make: *** [all] Error 2", ""])
    assert watch.failed_part("web", "build", failed) == "web: build failed: make: *** [all] Error 2"
    assert watch.failed_part("web", "sending", RunFailed("node-1: no space left")) == \
        "web: sending failed: node-1: no space left"


# -- a cycle, with stand-ins for the builder, the nodes and the cluster -----------------------

@dataclass
class Built:
    name: str
    tag: str

    @property
    def reference(self):
        return parse(f"{self.name}:{self.tag}")


@dataclass
class Cluster:
    """What the stand-ins did: the tags each build gets, the images sent, the workloads applied."""

    tags: dict[str, str]
    failing: set[str] = field(default_factory=set)
    sent: list[list[str]] = field(default_factory=list)
    applied: list[list[Workload]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@pytest.fixture
def cluster(monkeypatch):
    cluster = Cluster({"web": "harmony-aaaaaaaaaaaa"})

    def build(flow, image, arches, left=""):
        if image.name in cluster.failing:
            raise BuildFailed(f"the build of image '{image.name}' failed", ["step 2/2", "COPY failed: no index.html"])
        return Built(image.name, cluster.tags[image.name])

    monkeypatch.setattr(watch.images, "build_for", build)
    monkeypatch.setattr(watch.images, "nodes_and_arches", lambda flow: ([{"metadata": {"name": "node-1"}}], ["amd64"]))
    monkeypatch.setattr(watch.images, "send", lambda flow, built: (
        cluster.sent.append([b.name for b in built]) or {b.name: 5_000_000 for b in built}))
    return cluster


def loop_of(project, cluster: Cluster, workloads=(Workload("web", (DEPLOYMENT,)),)) -> watch.Loop:
    from types import SimpleNamespace

    def converge(flow):
        cluster.applied.append(list(flow.workloads))
        steps = [Step(w.name, "change", "Deployment", "web", "default") for w in flow.workloads]
        return Outcome(steps, list(cluster.failures), waited=True)

    report = SimpleNamespace(extra={"images": [{"name": "web", "tag": "harmony-aaaaaaaaaaaa",
                                                "reference": "docker.io/library/web:harmony-aaaaaaaaaaaa"}]})
    flow = SimpleNamespace(request=SimpleNamespace(project=project), workloads=list(workloads), report=report,
                           builds=[ImageBuild("web", project.root / "web", project.root / "web" / "Dockerfile")],
                           runtime=SimpleNamespace(bundle=lambda settings: None), settings=None)
    return watch.Loop(flow, converge)


def test_a_changed_image_is_sent_and_its_workloads_rolled_and_an_unchanged_one_does_nothing(small, cluster):
    loop = loop_of(small, cluster)
    assert loop.cycle(watch.Affected(images=("web",))) == "web: unchanged (harmony-aaaaaaaaaaaa)"
    assert cluster.sent == [] and cluster.applied == []

    cluster.tags["web"] = "harmony-bbbbbbbbbbbb"
    line = loop.cycle(watch.Affected(images=("web",)))
    assert line.startswith("web: rebuilt in ") and "(harmony-bbbbbbbbbbbb), shipped 5.0 MB to 1 node, rolled out in " \
        in line, line
    assert cluster.sent == [["web"]]
    (applied,) = cluster.applied
    assert applied[0].objects[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "web:harmony-bbbbbbbbbbbb"

    cluster.tags["web"] = "harmony-aaaaaaaaaaaa"  # back as it was: a build the nodes hold is not sent again
    assert "shipped" not in loop.cycle(watch.Affected(images=("web",))) and len(cluster.sent) == 1


def test_a_failed_build_says_its_last_line_and_the_next_cycle_builds_it_again(small, cluster):
    loop = loop_of(small, cluster)
    cluster.failing, cluster.tags["web"] = {"web"}, "harmony-bbbbbbbbbbbb"
    assert loop.cycle(watch.Affected(images=("web",))) == "web: build failed: COPY failed: no index.html"
    assert cluster.applied == []
    cluster.failing = set()
    assert "rebuilt" in loop.cycle(watch.Affected(images=("web",))) and len(cluster.applied) == 1


def test_an_image_no_cycle_built_yet_is_built_whatever_changed(small, cluster):
    loop = loop_of(small, cluster)
    loop.tags.clear()  # the first up failed before its build
    line = loop.cycle(watch.Affected(workloads=True))
    assert line.startswith("web: rebuilt in ") and "workloads: 1 changed, rolled out in" in line, line


def test_workload_files_are_read_again_and_applied_and_a_bad_one_is_one_line(small, cluster):
    loop = loop_of(small, cluster)
    (small.root / "k8s" / "web.yaml").write_text(yaml.safe_dump({**DEPLOYMENT, "metadata": {"name": "web2"}}))
    line = loop.cycle(watch.Affected(workloads=True))
    assert line.startswith("workloads: 1 changed, rolled out in "), line
    names = [o["metadata"]["name"] for w in cluster.applied[-1] for o in w.objects]
    assert "web2" in names and cluster.applied[-1][0].objects[0]["spec"]["template"]["spec"]["containers"][0][
        "image"] == "web:harmony-aaaaaaaaaaaa"

    (small.root / "k8s" / "web.yaml").write_text("kind: [\n")
    line = loop.cycle(watch.Affected(workloads=True))
    assert line.startswith("workloads: ") and "web.yaml" in line and "\n" not in line
    assert len(cluster.applied) == 1


def test_a_rollout_that_fails_says_why(small, cluster):
    loop = loop_of(small, cluster)
    cluster.failures = [Failure("web", "Deployment/web in default", "ImagePullBackOff")]
    cluster.tags["web"] = "harmony-bbbbbbbbbbbb"
    line = loop.cycle(watch.Affected(images=("web",)))
    assert line.endswith("not running: workload web: Deployment/web in default: ImagePullBackOff"), line


def test_harmony_yaml_changed_is_said_and_not_acted_on(small, cluster):
    assert loop_of(small, cluster).cycle(watch.Affected(project_file=True)) == watch.PROJECT_FILE_CHANGED
    assert cluster.applied == [] and cluster.sent == []


def test_a_stop_during_a_cycle_is_not_taken_for_a_failure(small, cluster, monkeypatch):
    def stopped(flow, image, arches, left=""):
        raise Interrupted("SIGINT", "building web")

    monkeypatch.setattr(watch.images, "build_for", stopped)
    cluster.tags["web"] = "harmony-bbbbbbbbbbbb"
    with pytest.raises(Interrupted):
        loop_of(small, cluster).cycle(watch.Affected(images=("web",)))


# -- the option, refused before anything runs ------------------------------------------------

@pytest.mark.parametrize("args, said", [
    (["--watch", "--json"], "--watch prints a line for each change it applies, not one JSON report"),
    (["--watch", "root@127.0.0.1:1"], "--watch watches a project's files"),
])
def test_watch_without_a_project_or_with_json_is_one_line_exit_2(tmp_path, args, said):
    (tmp_path / ".git").mkdir()
    result = subprocess.run([*HARMONY, "up", "--yes", *args], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("harmony: error:")]
    assert said in line and "Traceback" not in result.stderr


def test_harmony_help_does_not_import_watchfiles():
    script = "import sys, harmony.cli; print('watchfiles' in sys.modules or 'harmony.watch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parents[2])
    assert done.stdout.strip() == "False", done.stderr
