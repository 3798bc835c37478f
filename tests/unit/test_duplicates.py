"""The same object twice in a project, in one workload or across two, is refused naming both
places; the namespace of an object that names none is its workload's, and a cluster-scoped
object's (built in, or of the project's own CRDs) does not count."""

from __future__ import annotations

from pathlib import Path

import pytest

from harmony import project
from harmony.errors import BadInput
from harmony.workloads import spec

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: production\n"
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: backupplans.ops.example.com
spec:
  group: ops.example.com
  scope: Cluster
  names: {kind: BackupPlan, plural: backupplans, singular: backupplan}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
PLAN = "apiVersion: ops.example.com/v1\nkind: BackupPlan\nmetadata:\n  name: nightly\n  namespace: {}\n"


def load(tmp_path: Path, files: dict[str, str], workloads: str) -> list[spec.Workload]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "harmony.yaml").write_text(f"workloads:\n{workloads}")
    return spec.load(project.load(tmp_path / "harmony.yaml"))


def test_an_object_in_two_workloads_is_refused_naming_both(tmp_path):
    files = {"web.yaml": NAMESPACE + "---\n" + CONFIG, "api.yaml": CONFIG.replace("production", "staging")}
    with pytest.raises(BadInput) as caught:
        load(tmp_path, files, "  - {name: web, namespace: shop, manifests: web.yaml}\n"
                              "  - {name: api, namespace: shop, manifests: api.yaml}\n")
    assert str(caught.value) == (f"ConfigMap/settings in shop is given twice, in {tmp_path / 'web.yaml'}, document 2 "
                                 f"and in {tmp_path / 'api.yaml'}, document 1: keep one")


def test_an_object_twice_in_one_workload_is_refused(tmp_path):
    files = {"a.yaml": CONFIG, "b.yaml": CONFIG.replace("name: settings", "name: settings\n  namespace: default")}
    with pytest.raises(BadInput, match="ConfigMap/settings in default is given twice, in .*a.yaml, document 1 and in "
                                       ".*b.yaml, document 1"):
        load(tmp_path, files, "  - {name: web, manifests: [a.yaml, b.yaml]}\n")


def test_the_same_name_in_other_namespaces_kinds_or_groups_is_no_duplicate(tmp_path):
    files = {"a.yaml": CONFIG, "b.yaml": CONFIG.replace("kind: ConfigMap", "kind: Secret"),
             "c.yaml": PLAN.format("a") + "---\n" + PLAN.format("b")}  # a namespaced BackupPlan: no CRD says otherwise
    loaded = load(tmp_path, files, "  - {name: web, manifests: [a.yaml, b.yaml]}\n"
                                   "  - {name: api, namespace: shop, manifests: [a.yaml, c.yaml]}\n")
    assert [len(w.objects) for w in loaded] == [2, 3]


def test_a_cluster_scoped_object_is_one_whatever_namespace_it_names(tmp_path):
    files = {"ns.yaml": NAMESPACE, "ns2.yaml": NAMESPACE.replace("name: shop", "name: shop\n  namespace: other")}
    with pytest.raises(BadInput, match="^Namespace/shop is given twice, in .*ns.yaml, document 1 and in .*ns2.yaml"):
        load(tmp_path, files, "  - {name: web, manifests: ns.yaml}\n"
                              "  - {name: api, namespace: x, manifests: ns2.yaml}\n")
    # A custom resource is cluster-scoped when the project's own CRD says so.
    files = {"crd.yaml": CRD, "plans.yaml": PLAN.format("a") + "---\n" + PLAN.format("b")}
    with pytest.raises(BadInput, match="^BackupPlan/nightly is given twice, in .*plans.yaml, document 1 and in "
                                       ".*plans.yaml, document 2: keep one"):
        load(tmp_path, files, "  - {name: ops, manifests: [crd.yaml, plans.yaml]}\n")


def test_an_object_twice_in_a_list_names_the_items(tmp_path):
    files = {"list.yaml": "apiVersion: v1\nkind: List\nitems:\n"
                          "  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: web}}\n"
                          "  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: web}}\n"}
    with pytest.raises(BadInput, match="^ServiceAccount/web in default is given twice, in .*list.yaml, document 1, "
                                       "item 1 and in .*list.yaml, document 1, item 2: keep one$"):
        load(tmp_path, files, "  - {name: web, manifests: list.yaml}\n")
