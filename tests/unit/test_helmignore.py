"""A local chart is packed as `helm package` packs it: its .helmignore read with Helm's rules
(the cases of helm's own pkg/ignore/rules_test.go), and the dotfiles of templates/ left out; a
HelmChart larger than the cluster takes is refused, with the fix."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from harmony import project
from harmony.errors import BadInput
from harmony.workloads import helmignore, spec
from harmony.workloads.confine import ProjectFiles

# The .helmignore `helm create` writes.
HELM_CREATE = """\
# Patterns to ignore when building packages.
# This supports shell glob matching, relative path matching, and
# negation (prefixed with !). Only one pattern per line.
.DS_Store
# Common VCS dirs
.git/
.gitignore
.bzr/
.bzrignore
.hg/
.hgignore
.svn/
# Common backup files
*.swp
*.bak
*.tmp
*.orig
*~
# Various IDEs
.project
.idea/
*.tmproj
.vscode/
"""


@pytest.fixture
def testdata(tmp_path) -> Path:
    """helm's pkg/ignore/testdata: the files its tests ask about."""
    for name in (".helmignore", ".joonix", "a.txt", "cargo/a.txt", "cargo/b.txt", "cargo/c.txt", "helm.txt",
                 "mast/a.txt", "mast/b.txt", "mast/c.txt", "rudder.txt", "templates/.dotfile", "tiller.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    return tmp_path


@pytest.mark.parametrize("pattern, name, expect", [
    # Glob tests
    ("helm.txt", "helm.txt", True), ("helm.*", "helm.txt", True), ("helm.*", "rudder.txt", False),
    ("*.txt", "tiller.txt", True), ("*.txt", "cargo/a.txt", True), ("cargo/*.txt", "cargo/a.txt", True),
    ("cargo/*.*", "cargo/a.txt", True), ("cargo/*.txt", "mast/a.txt", False), ("ru[c-e]?er.txt", "rudder.txt", True),
    ("templates/.?*", "templates/.dotfile", True),
    # "." should never get ignored. https://github.com/helm/helm/issues/1776
    (".*", ".", False), (".*", "./", False), (".*", ".joonix", True), (".*", "helm.txt", False), (".*", "", False),
    # Directory tests
    ("cargo/", "cargo", True), ("cargo/", "cargo/", True), ("cargo/", "mast/", False), ("helm.txt/", "helm.txt", False),
    # Negation tests
    ("!helm.txt", "helm.txt", False), ("!helm.txt", "tiller.txt", True), ("!*.txt", "cargo", True),
    ("!cargo/", "mast/", True),
    # Absolute path tests
    ("/a.txt", "a.txt", True), ("/a.txt", "cargo/a.txt", False), ("/cargo/a.txt", "cargo/a.txt", True),
])
def test_helms_own_ignore_cases(testdata, pattern, name, expect):
    assert helmignore.Rules([pattern]).ignore(name, (testdata / name).is_dir()) is expect


def test_comments_and_blank_lines_are_skipped_and_bad_patterns_refused():
    rules = helmignore.Rules("#ignore\n\n\t#ignore\nfoo\nbar/*\nbaz/bar/foo.txt\n\none/more\n".splitlines())
    assert len(rules.rules) == 4
    with pytest.raises(BadInput, match=r"^chart/.helmignore:2: 'foo/\*\*/bar' uses \*\*, which Helm's patterns do not "
                                       r"have: fix or remove the line \(helm package refuses it too\)$"):
        helmignore.Rules(["*.bak", "foo/**/bar"], "chart/.helmignore")
    with pytest.raises(BadInput, match=r"'\[z-' has a malformed \[...\] class: fix or remove the line"):
        helmignore.Rules(["[z-"])


def test_a_chart_is_packed_without_what_its_helmignore_and_helms_default_leave_out(tmp_path):
    chart = tmp_path / "chart"
    for name in ("Chart.yaml", "values.yaml", ".helmignore", "templates/deployment.yaml", "templates/_helpers.tpl",
                 "templates/.deployment.yaml.swp", "templates/NOTES.txt", ".git/HEAD", ".git/objects/ab/cdef",
                 "values-secret.yaml.bak", "values.yaml~", ".vscode/settings.json", "files/.keep", "README.md"):
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text("name: shop\nversion: 0.1.0\n" if name == "Chart.yaml" else "x\n")
    (chart / ".helmignore").write_text(HELM_CREATE)
    files = ProjectFiles(tmp_path / "harmony.yaml")
    packed = spec.chart_archive(chart, "workload 'shop'", files, "workloads[0].helm.chart")
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(packed))) as archive:
        assert sorted(archive.getnames()) == [
            "shop/.helmignore", "shop/Chart.yaml", "shop/README.md", "shop/files/.keep", "shop/templates/NOTES.txt",
            "shop/templates/_helpers.tpl", "shop/templates/deployment.yaml", "shop/values.yaml"]
    (chart / "values-secret.yaml.bak").write_text("changed, and ignored\n")
    # deterministic, and blind to what it leaves out
    assert spec.chart_archive(chart, "workload 'shop'", files, "workloads[0].helm.chart") == packed


def test_a_chart_too_large_for_a_helmchart_is_refused_until_its_helmignore_leaves_the_bulk_out(tmp_path):
    (tmp_path / "chart" / "templates").mkdir(parents=True)
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (tmp_path / "chart" / "templates" / "configmap.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "chart" / "dump.sql.bak").write_bytes(os.urandom(900_000))  # a backup left in the chart
    (tmp_path / "harmony.yaml").write_text("workloads:\n  - name: shop\n    helm: {chart: ./chart}\n")
    with pytest.raises(BadInput, match=r"workload 'shop': its chart is 1,2\d\d,\d\d\d bytes as chartContent, over the "
                                       r"1,048,576 k3s can install: publish the chart to a repository or OCI registry "
                                       r"and name it with helm.repo and helm.version, or leave files out of it with a "
                                       r"\.helmignore$"):
        spec.load(project.load(tmp_path / "harmony.yaml"))
    (tmp_path / "chart" / ".helmignore").write_text(HELM_CREATE)
    (chart,) = spec.load(project.load(tmp_path / "harmony.yaml"))[0].objects
    assert len(chart["spec"]["chartContent"]) < 1000


def test_values_too_large_for_a_helmchart_are_refused(tmp_path):
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    dashboard = json.dumps({"title": "Shop", "panels": [{"id": n, "type": "timeseries", "targets": [
        {"expr": f'sum(rate(http_requests_total{{job="shop", route="/r{n}"}}[5m]))'}]} for n in range(400)]})
    (tmp_path / "dashboards.yaml").write_text(  # Grafana dashboards given as values: a common way to outgrow them
        "dashboards:\n" + "".join(f"  shop-{n}.json: '{dashboard}'\n" for n in range(40)))
    (tmp_path / "harmony.yaml").write_text(
        "workloads:\n  - name: shop\n    helm: {chart: ./chart, values_files: [dashboards.yaml]}\n")
    with pytest.raises(BadInput, match=r"its HelmChart is [1-3],\d\d\d,\d\d\d bytes, over the 1,572,864 the cluster "
                                       r"stores: make its values smaller, or publish the chart"):
        spec.load(project.load(tmp_path / "harmony.yaml"))


def test_a_chart_file_helm_package_would_refuse_is_refused(tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    os.mkfifo(tmp_path / "debug.pipe")
    with pytest.raises(BadInput, match=f"^{tmp_path / 'debug.pipe'}: not a regular file, which helm package refuses: "
                                       f"add it to {tmp_path / '.helmignore'}$"):
        helmignore.chart_files(tmp_path)
    (tmp_path / ".helmignore").write_text("*.pipe\n")
    with (tmp_path / "backup.tar").open("wb") as backup:
        backup.truncate(6 * 1024 * 1024)
    with pytest.raises(BadInput, match="backup.tar: 6,291,456 bytes, over the 5,242,880 helm package takes of a chart"):
        helmignore.chart_files(tmp_path)
    (tmp_path / ".helmignore").write_text("*.pipe\n*.tar\n")
    assert helmignore.chart_files(tmp_path) == [tmp_path / ".helmignore", tmp_path / "Chart.yaml"]
