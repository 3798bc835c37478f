"""Every file a workload reads is inside the project's directory, symlinks followed: a path or
a symlink that leads out is bad input naming its key, and nothing of the file outside is read
into a message or an object."""

from __future__ import annotations

import os

import pytest

from harmony import project
from harmony.errors import BadInput
from harmony.workloads import spec

SECRET = "password: hunter2-from-outside\n"
CHART = "name: shop\nversion: 0.1.0\n"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inside}\n"


@pytest.fixture
def layout(tmp_path):
    """A project directory beside a directory outside it, which holds a secret."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "creds.yaml").write_text(SECRET)
    (tmp_path / "project" / "chart").mkdir(parents=True)
    (tmp_path / "project" / "chart" / "Chart.yaml").write_text(CHART)
    return tmp_path / "project"


def refusal(root, workloads: str) -> str:
    (root / "harmony.yaml").write_text(f"workloads:\n{workloads}")
    with pytest.raises(BadInput) as caught:
        spec.load(project.load(root / "harmony.yaml"))
    message = str(caught.value)
    assert "hunter2" not in message and "\n" not in message
    assert "is outside the project's directory" in message and "copy the file into the project" in message
    return message


def test_a_values_file_outside_the_project_is_refused_naming_its_key(layout):
    (layout / "values.yaml").write_text("replicas: 1\n")
    workload = "{name: db, helm: {chart: ./chart, values_files: [values.yaml, ../outside/creds.yaml]}}"
    message = refusal(layout, f"  - {workload}\n")
    assert message.startswith(
        f"{layout / 'harmony.yaml'}: workloads[0].helm.values_files[1]: '../outside/creds.yaml' is outside")


def test_absolute_paths_outside_are_refused_and_inside_taken(layout):
    assert "workloads[0].helm.values_files[0]: '/etc/shadow' is outside" in refusal(
        layout, "  - {name: db, helm: {chart: ./chart, values_files: [/etc/shadow]}}\n")
    (layout / "web.yaml").write_text(CONFIGMAP)
    assert "workloads[0].manifests[1]: '/etc/passwd' is outside" in refusal(
        layout, "  - {name: web, manifests: [web.yaml, /etc/passwd]}\n")
    assert "workloads[0].manifests: '../../etc/passwd' is outside" in refusal(
        layout, "  - {name: web, manifests: ../../etc/passwd}\n")
    (layout / "harmony.yaml").write_text(f"workloads:\n  - {{name: web, manifests: {layout / 'web.yaml'}}}\n")
    assert len(spec.load(project.load(layout / "harmony.yaml"))[0].objects) == 1


def test_a_symlink_out_of_the_project_in_a_manifests_directory_is_refused(layout):
    (layout / "k8s").mkdir()
    (layout / "k8s" / "a.yaml").write_text(CONFIGMAP)
    os.symlink(layout.parent / "outside" / "creds.yaml", layout / "k8s" / "b.yaml")
    assert "workloads[0].manifests: 'k8s/b.yaml' is outside" in refusal(layout, "  - {name: web, manifests: k8s/}\n")
    os.symlink(layout.parent / "outside", layout / "linked")  # a symlinked directory named by the file
    assert "workloads[0].manifests: 'linked' is outside" in refusal(layout, "  - {name: web, manifests: linked}\n")


def test_a_symlink_loop_is_bad_input(layout):
    (layout / "k8s").mkdir()
    os.symlink("a.yaml", layout / "k8s" / "b.yaml")
    os.symlink("b.yaml", layout / "k8s" / "a.yaml")
    (layout / "harmony.yaml").write_text("workloads:\n  - {name: web, manifests: k8s/}\n")
    with pytest.raises(BadInput, match="Too many levels of symbolic links"):
        spec.load(project.load(layout / "harmony.yaml"))


def test_symlinks_that_stay_inside_the_project_are_followed(layout):
    (layout / "shared").mkdir()
    (layout / "shared" / "web.yaml").write_text(CONFIGMAP)
    (layout / "shared" / "values.yaml").write_text("replicas: 3\n")
    (layout / "k8s").mkdir()
    os.symlink("../shared/web.yaml", layout / "k8s" / "web.yaml")
    os.symlink("../shared/values.yaml", layout / "chart" / "values.yaml")
    (layout / "harmony.yaml").write_text("workloads:\n  - {name: web, manifests: k8s/}\n"
                                         "  - {name: db, helm: {chart: chart, values_files: [chart/values.yaml]}}\n")
    web, db = spec.load(project.load(layout / "harmony.yaml"))
    assert web.objects[0]["metadata"]["name"] == "inside"
    assert db.objects[0]["spec"]["valuesContent"] == "replicas: 3\n"


@pytest.mark.parametrize("name", ["templates/creds.yaml", ".helmignore", "Chart.yaml"])
def test_a_symlink_out_of_the_project_in_a_chart_is_refused(layout, name):
    target = layout.parent / "outside" / "creds.yaml"
    if name == "Chart.yaml":
        target.write_text(CHART + SECRET)
        (layout / "chart" / name).unlink()
    (layout / "chart" / name).parent.mkdir(exist_ok=True)
    os.symlink(target, layout / "chart" / name)
    message = refusal(layout, "  - {name: db, helm: {chart: ./chart}}\n")
    assert f"workloads[0].helm.chart: 'chart/{name}' is outside" in message


def test_a_chart_outside_the_project_is_refused(layout):
    (layout.parent / "outside" / "Chart.yaml").write_text(CHART)
    assert "workloads[0].helm.chart: '../outside' is outside" in refusal(
        layout, "  - {name: db, helm: {chart: ../outside}}\n")


def test_a_kustomization_cannot_take_resources_from_outside_the_project(layout):
    (layout.parent / "outside" / "kustomization.yaml").write_text("resources: [creds.yaml]\n")
    (layout / "overlay").mkdir()
    (layout / "overlay" / "kustomization.yaml").write_text("resources: [../../outside]\n")
    assert "workloads[0].kustomize (overlay/kustomization.yaml, resources): '../../outside' is outside" in refusal(
        layout, "  - {name: cache, kustomize: overlay}\n")
    # Through a base inside the project, and through a symlinked directory: the same.
    (layout / "base").mkdir()
    (layout / "base" / "kustomization.yaml").write_text("bases: [../../outside]\n")
    (layout / "overlay" / "kustomization.yaml").write_text("resources: [../base]\n")
    assert "workloads[0].kustomize (base/kustomization.yaml, bases): '../../outside' is outside" in refusal(
        layout, "  - {name: cache, kustomize: overlay}\n")
    os.symlink(layout.parent / "outside", layout / "overlay" / "linked")
    (layout / "overlay" / "kustomization.yaml").write_text("components: [linked]\n")
    assert "workloads[0].kustomize (overlay/kustomization.yaml, components): 'linked' is outside" in refusal(
        layout, "  - {name: cache, kustomize: overlay}\n")
    (layout / "overlay" / "kustomization.yaml").write_text("generators: [../../outside]\n")
    assert "workloads[0].kustomize (overlay/kustomization.yaml, generators): '../../outside' is outside" in refusal(
        layout, "  - {name: cache, kustomize: overlay}\n")
    assert "workloads[0].kustomize: '../outside' is outside" in refusal(
        layout, "  - {name: cache, kustomize: ../outside}\n")


def test_kustomize_s_own_restrictor_keeps_a_kustomization_s_files_in_its_directory(layout):
    """A file a kustomization loads (a resource, a generator's file) through a symlink out is
    refused by `kubectl kustomize --load-restrictor LoadRestrictionsRootOnly`."""
    (layout / "overlay").mkdir()
    os.symlink(layout.parent / "outside" / "creds.yaml", layout / "overlay" / "creds.yaml")
    (layout / "overlay" / "kustomization.yaml").write_text(
        "configMapGenerator: [{name: creds, files: [creds.yaml]}]\n")
    (layout / "harmony.yaml").write_text("workloads:\n  - {name: cache, kustomize: overlay}\n")
    with pytest.raises(BadInput, match="kubectl kustomize failed: .*is not in or below") as caught:
        spec.load(project.load(layout / "harmony.yaml"))
    assert "hunter2" not in str(caught.value)
