"""The stand-in Kubernetes API's pure parts (tests/standin/api): the vendored resource table,
version priority, schema pruning and name rules, each as the real API server has them."""

from __future__ import annotations

import json
import time
import types

import pytest

from tests.standin.api import (autoscaler, catalog, crds, deployments, fields, jsonpatch, names, rest, schema,
                               store, strategic, validation)
from tests.standin.api.errors import ApiError


def test_the_table_has_kubernetes_1_31s_served_versions_only():
    served = catalog.groups(catalog.BUILTINS)
    assert served["autoscaling"] == ["v2", "v1"]
    assert served["flowcontrol.apiserver.k8s.io"] == ["v1", "v1beta3"]  # legacy beta, removed in 1.32
    assert not any("alpha" in v or v == "v1beta1" for versions in served.values() for v in versions)
    deployments = catalog.find(catalog.BUILTINS, "apps", "v1", "deployments")
    assert deployments.short_names == ("deploy",) and deployments.categories == ("all",)
    assert deployments.subresource("scale") == {"name": "scale", "kind": "Scale", "group": "autoscaling",
                                                "version": "v1", "verbs": ["get", "patch", "update"]}
    assert catalog.find(catalog.BUILTINS, "", "v1", "events").kind == "Event"


def test_versions_sort_as_kubernetes_prefers_them():
    versions = ["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo"]
    assert sorted(versions, key=catalog.version_priority) == ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]


def test_unknown_fields_of_a_builtin_kind_are_found_and_pruned():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "bogus": 1},
                  "spec": {"replicas": 1, "extra": 2,
                           "template": {"spec": {"containers": [{"name": "web", "image": "nginx", "imagge": "x"}]}}}}
    kept, unknown = schema.prune(deployment, {"$ref": "io.k8s.api.apps.v1.Deployment"}, top=True)
    assert unknown == ["metadata.bogus", "spec.extra", "spec.template.spec.containers[0].imagge"]
    assert kept["spec"] == {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}


def test_a_structural_schema_prunes_unless_it_preserves_unknown_fields():
    crd_schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    kept, unknown = schema.prune({"apiVersion": "x/v1", "kind": "X", "spec": {"size": 1, "colour": "red"},
                                  "extra": {"anything": {"goes": 1}}}, crd_schema, top=True)
    assert unknown == ["spec.colour"] and kept["extra"] == {"anything": {"goes": 1}}


def test_names_follow_the_rule_of_their_kind():
    assert names.problems("ConfigMap", "a.b-c") == []
    assert names.problems("Namespace", "a.b") != []  # a DNS-1123 label: no dots
    assert names.problems("Service", "1web") != []  # a DNS-1035 label starts with a letter
    assert "must be no more than 253 characters" in names.problems("ConfigMap", "a" * 254)[0][2]
    generated = names.generate("web-")
    assert generated.startswith("web-") and len(generated) == 9 and names.problems("Pod", generated) == []


DEPLOYMENT = {"$ref": "io.k8s.api.apps.v1.Deployment"}


def applied(containers: list[dict]) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": containers}}}}


def test_server_side_apply_merges_containers_by_name_and_owns_each_one():
    """Two managers apply a container each: both stay, each owns its own item (FieldsV1
    `k:{"name":...}`); one that leaves its container out removes it, not the other's."""
    live = fields.apply(None, applied([{"name": "web", "image": "nginx", "ports": [{"containerPort": 80,
                                                                                    "protocol": "TCP"}]}]),
                        "harmony", False, DEPLOYMENT)
    live = fields.apply(live, applied([{"name": "mesh", "image": "envoy"}]), "mesh-injector", False, DEPLOYMENT)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["web", "mesh"]
    mine = next(m for m in live["metadata"]["managedFields"] if m["manager"] == "harmony")["fieldsV1"]
    web = mine["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert web == {".": {}, "f:image": {}, "f:name": {},
                   "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {},
                                                                          "f:protocol": {}}}}
    live = fields.apply(live, applied([]), "mesh-injector", False, DEPLOYMENT)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_an_apply_conflicts_on_one_containers_field_and_names_it_as_the_api_does():
    live = fields.apply(None, applied([{"name": "web", "image": "nginx:1"}]), "harmony", False, DEPLOYMENT)
    live = fields.update(live, fields.merge_patch(live, {}) | {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:2"}]}}}}, "kubectl-edit", DEPLOYMENT)
    with pytest.raises(ApiError) as refused:
        fields.apply(live, applied([{"name": "web", "image": "nginx:1"}]), "harmony", False, DEPLOYMENT)
    assert refused.value.body["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: '
                                             '.spec.template.spec.containers[name="web"].image')


def hpa(load: str | None, **spec) -> dict:
    annotations = {autoscaler.LOAD_ANNOTATION: load} if load else {}
    return {"metadata": {"annotations": annotations}, "spec": {"maxReplicas": 10, **spec}}


def test_the_autoscaler_follows_the_load_within_its_bounds_and_window():
    history: list = []
    assert autoscaler.desired(hpa("160"), 2, history, 0)[0] == 4  # twice the 80% target
    assert autoscaler.desired(hpa("85"), 4, history, 1)[0] == 4  # within the 10% tolerance
    assert autoscaler.desired(hpa("40"), 4, history, 2)[0] == 4  # a scale-down waits out the window
    assert autoscaler.desired(hpa("40"), 4, [], 400)[0] == 2
    assert autoscaler.desired(hpa("400"), 4, [], 0)[0] == 10  # clamped to maxReplicas
    replicas, conditions = autoscaler.desired(hpa(None, minReplicas=3), 1, [], 0)
    assert replicas == 3 and conditions["ScalingActive"] == ("False", "FailedGetResourceMetric")
    assert autoscaler.desired(hpa("160"), 0, [], 0)[0] == 0  # scaled to zero by hand: left alone


def test_a_rolling_deployment_counts_its_old_pods_until_its_deadline():
    deployment = {"metadata": {"name": "web", "generation": 2}, "spec": {"progressDeadlineSeconds": 60}}
    rolling = deployments.status(deployment, False, True, time.time(), 4, "web-abc")
    assert (rolling["replicas"], rolling["updatedReplicas"], rolling["availableReplicas"]) == (5, 2, 3)
    late = deployments.status(deployment, False, True, time.time() - 61, 4, "web-abc")
    assert late["conditions"][1]["reason"] == "ProgressDeadlineExceeded"
    done = deployments.status(deployment, True, True, time.time() - 61, 4, "web-abc")
    assert (done["replicas"], done["updatedReplicas"], done["conditions"][1]["reason"]) == (4, 4, "NewReplicaSetAvailable")


def test_a_crd_must_be_named_plural_dot_group_and_store_one_version():
    crd = {"metadata": {"name": "crontab.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "kind": "CronTab"},
        "versions": [{"name": "v1", "served": True, "storage": False, "schema": {"openAPIV3Schema": {}}}]}}
    with pytest.raises(ApiError) as refused:
        crds.validate(crd)
    message = refused.value.body["message"]
    assert message.startswith('CustomResourceDefinition.apiextensions.k8s.io "crontab.example.com" is invalid: [')
    assert 'metadata.name: Invalid value: "crontab.example.com": must be spec.names.plural+"."+spec.group' in message
    assert "must have exactly one version marked as storage version" in message
    assert "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required" in message


def test_a_crds_kind_is_served_only_once_it_is_established(tmp_path, monkeypatch):
    """As apiextensions-apiserver: between a CRD's creation and its Established condition its
    group is in no discovery document and its paths are not found."""
    clock = types.SimpleNamespace(time=lambda: 1000.0)
    monkeypatch.setattr(store, "time", clock)
    monkeypatch.setattr(crds, "time", clock)
    api = store.Store(str(tmp_path / "state.json"))
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "crontabs.stable.example.com"}, "spec": {
               "group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "kind": "CronTab"},
               "versions": [{"name": "v1", "served": True, "storage": True,
                             "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    request = lambda method, path, body=b"": rest.handle(  # noqa: E731
        api, method, path, {}, {"Content-Type": "application/json"}, body)[:2]
    assert request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json.dumps(crd).encode())[0] == 201
    crontabs = "/apis/stable.example.com/v1/namespaces/default/crontabs"

    def served() -> bool:
        groups = [g["name"] for g in request("GET", "/apis")[1]["groups"]]
        code = request("GET", crontabs)[0]
        assert ("stable.example.com" in groups) == (code == 200), (groups, code)
        return code == 200

    assert not served()
    assert request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.stable.example.com")[1] \
        .get("status", {}).get("conditions", []) == []
    clock.time = lambda: 1000.0 + crds.ESTABLISH_SECONDS
    assert served()


def test_a_strategic_merge_patch_merges_containers_by_name_and_honours_its_directives():
    live = applied([{"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}, {"name": "log", "image": "a"}])
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "log"}],
                                            "containers": [{"name": "web", "image": "nginx:2"},
                                                           {"name": "log", "$patch": "delete"}]}}}}
    merged = strategic.merge(live, patch, DEPLOYMENT)
    assert merged["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80}]}]
    assert strategic.without_directives(patch)["spec"]["template"]["spec"] == {
        "containers": [{"name": "web", "image": "nginx:2"}, {"name": "log"}]}


def test_a_json_patch_applies_in_order_or_is_refused():
    doc = {"spec": {"replicas": 1, "list": ["a"]}}
    patched = jsonpatch.apply(doc, [{"op": "add", "path": "/spec/list/-", "value": "b"},
                                    {"op": "move", "from": "/spec/replicas", "path": "/spec/count"},
                                    {"op": "test", "path": "/spec/count", "value": 1}])
    assert patched == {"spec": {"list": ["a", "b"], "count": 1}} and doc["spec"]["replicas"] == 1
    with pytest.raises(ApiError) as refused:
        jsonpatch.apply(doc, [{"op": "remove", "path": "/spec/missing"}])
    assert refused.value.body["code"] == 422


def test_a_workload_needs_a_matching_selector_and_named_containers_with_images():
    deployment = {"spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    assert validation.problems("Deployment", deployment) == []
    deployment["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    deployment["spec"]["template"]["spec"]["containers"] += [{"name": "web"}]
    assert validation.problems("Deployment", deployment) == [
        ("spec.template.metadata.labels", 'Invalid value: map[string]string{"app":"other"}',
         "`selector` does not match template `labels`"),
        ("spec.template.spec.containers[1].name", 'Duplicate value: "web"', ""),
        ("spec.template.spec.containers[1].image", "Required value", "")]
