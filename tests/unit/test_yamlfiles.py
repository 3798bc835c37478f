"""The bounds on every YAML file harmony reads: size, alias expansion (as kubectl's go-yaml
decoder bounds it), nesting, and keys given twice; each refusal is BadInput naming the file and
the line, with either of PyYAML's parsers."""

from __future__ import annotations

import shutil
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from harmony import project, yamlfiles
from harmony.errors import BadInput
from harmony.workloads import spec

# A Deployment as projects write them: one anchor for the labels, one for the resources.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &labels
    app.kubernetes.io/name: web
    app.kubernetes.io/part-of: shop
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels: *labels
    spec:
      containers:
        - name: web
          image: registry.example/web:1.4.2
          resources: &resources
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 500m, memory: 256Mi}
        - name: proxy
          image: registry.example/proxy:2.0
          resources: *resources
"""

# "Billion laughs": nine aliases of nine aliases..., 10^9 strings once expanded, in 700 bytes.
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi"))


@pytest.fixture(params=["C", "Python"], autouse=True)
def parser(request, monkeypatch):
    """Each test with PyYAML's C parser (where it is built) and with its pure Python one."""
    if request.param == "C" and not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without its C parser")
    monkeypatch.setattr(yamlfiles, "PARSER", yaml.CSafeLoader if request.param == "C" else yaml.SafeLoader)


@contextmanager
def within(seconds: int):
    """Fail, instead of hanging, where the code under test would expand what it should refuse."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def refusal(path: Path, text: str) -> str:
    path.write_text(text)
    with pytest.raises(BadInput) as caught:
        yamlfiles.documents(path)
    return str(caught.value)


def test_a_manifest_with_anchors_reads_as_pyyaml_reads_it(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(DEPLOYMENT + "---\n" + DEPLOYMENT.replace("name: web\n", "name: api\n", 1))
    read = yamlfiles.documents(path)
    assert [d.value for d in read] == list(yaml.safe_load_all(path.read_text()))
    assert read[1].node.start_mark.line == DEPLOYMENT.count("\n") + 1  # lines stay known, for messages


def test_an_alias_bomb_is_refused_quickly_without_expanding_it(tmp_path):
    with within(10):
        started = time.monotonic()
        message = refusal(tmp_path / "lol.yaml", BOMB)
        assert time.monotonic() - started < 2
    assert message.startswith(f"{tmp_path / 'lol.yaml'}:4: d[")
    assert "aliases expand it to over" in message and "write the values out, or use fewer aliases" in message


def test_a_bomb_in_harmony_yaml_or_a_values_file_is_refused_too(tmp_path):
    (tmp_path / "harmony.yaml").write_text("x-laughs:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines()))
    with within(10), pytest.raises(BadInput, match="harmony.yaml:5: x-laughs.d.*aliases expand"):
        project.load(tmp_path / "harmony.yaml")
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: site\nversion: 0.1.0\n")
    (tmp_path / "prod.yaml").write_text(BOMB)
    (tmp_path / "harmony.yaml").write_text(
        "workloads:\n  - name: site\n    helm: {chart: ./chart, values_files: [prod.yaml]}\n")
    with within(10), pytest.raises(BadInput, match="prod.yaml:4: d.*aliases expand"):
        spec.load(project.load(tmp_path / "harmony.yaml"))


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "- " * 5000 + "deep\n", "{a: " * 5000 + "1" + "}" * 5000])
def test_five_thousand_levels_of_nesting_are_refused_cleanly(tmp_path, text):
    message = refusal(tmp_path / "deep.yaml", text)
    # libyaml (the C parser) may stop first, at its own limit of 1000 levels.
    assert message.startswith(f"{tmp_path / 'deep.yaml'}:1: ")
    assert message.endswith(("nested deeper than 100 levels, deeper than any Kubernetes object: is it the file meant? "
                             "Nest it less deeply",
                             "not valid YAML (exceeded maximum nesting depth): fix the file's syntax"))


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    image = "          image: registry.example/web:1.4.2\n"
    text = DEPLOYMENT.replace(image, image + image.replace("1.4.2", "1.5.0"))
    assert refusal(tmp_path / "web.yaml", text) == (f"{tmp_path / 'web.yaml'}:18: spec.template.spec.containers[0]: "
                                                    "'image' is given twice (first on line 17): keep one")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlfiles, "MAX_BYTES", 1024)
    path = tmp_path / "dump.yaml"
    path.write_text("data: " + "x" * 2000 + "\n")
    with pytest.raises(BadInput, match=f"^{path}: 2,007 bytes, over harmony's limit of 1,024 for a YAML file"):
        yamlfiles.documents(path)
    with pytest.raises(BadInput, match=f"^{path}: 2,007 bytes, over"):  # text built from it (Kustomize's)
        yamlfiles.documents(path, path.read_text())


def test_an_alias_of_an_anchor_not_yet_defined_or_around_it_is_refused(tmp_path):
    assert refusal(tmp_path / "a.yaml", "a: &a [1, *a]\n").endswith(
        "a.yaml:1: a[1]: *a is the alias of no anchor before it: &a must come first (and not around it)")


def test_a_file_of_one_document_with_a_second_is_refused(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("replicas: 2\n---\nreplicas: 3\n")
    with pytest.raises(BadInput, match=f"^{path}:3: a second YAML document \\(after ---\\): this file holds one"):
        yamlfiles.load(path)


def test_a_plain_equals_sign_is_a_string_as_kubectl_reads_it(tmp_path):
    path = tmp_path / "crd.yaml"  # as in prometheus-operator's AlertmanagerConfig CRD
    path.write_text("matchType:\n  enum:\n  - '!='\n  - =\n  - =~\n  - '!~'\n  type: string\n")
    assert yamlfiles.load(path) == {"matchType": {"enum": ["!=", "=", "=~", "!~"], "type": "string"}}


def test_what_kustomize_builds_is_bounded_too(tmp_path, monkeypatch):
    shutil.copytree(Path(__file__).parents[2] / "examples" / "shop" / "cache", tmp_path / "cache")
    overlay = tmp_path / "cache" / "overlays" / "dev"
    (tmp_path / "harmony.yaml").write_text("workloads:\n  - {name: cache, kustomize: cache/overlays/dev}\n")
    loaded = project.load(tmp_path / "harmony.yaml")
    monkeypatch.setattr(yamlfiles, "MAX_BYTES", 300)  # over its kustomization.yaml, under what it builds
    with pytest.raises(BadInput, match=f"^{overlay}: [0-9,]+ bytes, over harmony's limit of 300 for a YAML file"):
        spec.load(loaded)
