"""The pure parts of workloads: reading manifests (and refusing what is not an object), when a
rollout is complete (as `kubectl rollout status` judges it), the ApplySet ID, and what counts as
a difference between an object and a dry run of it."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest
import yaml

from harmony import project
from harmony.errors import BadInput, RunFailed
from harmony.workloads import access, apply, rollout, spec


def load(tmp_path: Path, workloads: str) -> list[spec.Workload]:
    path = tmp_path / "harmony.yaml"
    path.write_text(f"workloads:\n{workloads}")
    return spec.load(project.load(path))


def test_manifests_from_files_and_directories_in_order(tmp_path):
    (tmp_path / "k8s" / "sub").mkdir(parents=True)
    (tmp_path / "k8s" / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n---\n"
                                             "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    (tmp_path / "k8s" / "sub" / "a.yml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n")
    (tmp_path / "k8s" / "notes.txt").write_text("not a manifest")
    (tmp_path / "one.json").write_text('{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}}')
    (workload,) = load(tmp_path, "  - {name: web, namespace: shop, manifests: [k8s/, one.json]}\n")
    assert workload.namespace == "shop"
    # As kubectl apply -f DIR: the files directly in it; its subdirectories' only with -R.
    assert [o["metadata"]["name"] for o in workload.objects] == ["b", "s", "svc"]
    assert workload.source(2) == f"{tmp_path / 'one.json'}, document 1"
    (workload,) = load(tmp_path, "  - {name: web, manifests: [k8s/, one.json], recursive: true}\n")
    assert [o["metadata"]["name"] for o in workload.objects] == ["b", "s", "a", "svc"]


def test_a_directory_of_subdirectories_only_says_to_read_them_recursively(tmp_path):
    (tmp_path / "deploy" / "base").mkdir(parents=True)
    (tmp_path / "deploy" / "base" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    with pytest.raises(BadInput, match="deploy has no manifests directly in it, only in its subdirectories: "
                                       "add recursive: true to read them \\(as kubectl apply -R\\)"):
        load(tmp_path, "  - {name: web, manifests: deploy/}\n")
    with pytest.raises(BadInput, match=":2: workloads\\[0\\]: 'recursive' is only for manifests: remove it"):
        load(tmp_path, "  - {name: web, kustomize: deploy/, recursive: true}\n")


@pytest.mark.parametrize("text, expected", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n", "m.yaml:4: not valid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Secret\nmetadata: {name: b}\n",
     "m.yaml: document 2: a Kubernetes object needs apiVersion"),
    ("- a list\n", "m.yaml: document 1: not a Kubernetes object"),
])
def test_a_manifest_that_is_not_objects_is_bad_input_naming_file_and_document(tmp_path, text, expected):
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(BadInput, match=expected):
        load(tmp_path, "  - {name: web, manifests: m.yaml}\n")


def test_missing_manifests_are_bad_input(tmp_path):
    with pytest.raises(BadInput, match="workload 'web': .*/nowhere does not exist"):
        load(tmp_path, "  - {name: web, manifests: nowhere}\n")


def test_a_chart_is_a_helmchart_for_k3s_with_its_values_merged_as_helm_merges_them(tmp_path):
    (tmp_path / "c" / "templates").mkdir(parents=True)
    (tmp_path / "c" / "Chart.yaml").write_text("apiVersion: v2\nname: site\nversion: 0.1.0\n")
    (tmp_path / "c" / "templates" / "x.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "base.yaml").write_text("image: {repository: nginx, tag: '1'}\nreplicas: 1\n")
    (tmp_path / "prod.yaml").write_text("image: {tag: '2'}\n")
    text = ("  - {name: site, namespace: web, helm: {chart: ./c, values_files: [base.yaml, prod.yaml], "
            "values: {replicas: 3}}}\n  - {name: db, helm: {chart: postgresql, repo: 'https://charts.example', "
            "version: 1.2.3}}\n")
    site, db = load(tmp_path, text)
    (chart,) = site.objects
    assert chart["apiVersion"] == "helm.cattle.io/v1" and chart["metadata"] == {"name": "site", "namespace": "kube-system"}
    assert chart["spec"]["targetNamespace"] == "web" and chart["spec"]["createNamespace"] is True
    assert yaml.safe_load(chart["spec"]["valuesContent"]) == {"image": {"repository": "nginx", "tag": "2"}, "replicas": 3}
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(chart["spec"]["chartContent"]))) as archive:
        assert sorted(archive.getnames()) == ["site/Chart.yaml", "site/templates/x.yaml"]
    # The same files give the same archive: an unchanged chart is an unchanged HelmChart.
    assert load(tmp_path, text)[0].objects[0]["spec"]["chartContent"] == chart["spec"]["chartContent"]
    assert db.objects[0]["spec"] == {"targetNamespace": "default", "createNamespace": True, "chart": "postgresql",
                                     "version": "1.2.3", "repo": "https://charts.example"}


@pytest.mark.parametrize("helm, expected", [
    ("{chart: postgresql, repo: 'https://charts.example'}", "needs its version pinned: add helm.version"),
    ("{chart: 'oci://registry.example/charts/db'}", "needs its version pinned"),
    ("{chart: ./nochart}", "nochart is not a Helm chart \\(no Chart.yaml\\)"),
    ("{chart: ./c, values_files: [missing.yaml]}", "the values file .*missing.yaml does not exist"),
])
def test_a_chart_that_cannot_be_installed_as_given_is_bad_input(tmp_path, helm, expected):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "Chart.yaml").write_text("name: c\n")
    with pytest.raises(BadInput, match=expected):
        load(tmp_path, f"  - {{name: db, helm: {helm}}}\n")


def deployment(generation=2, observed=2, replicas=3, updated=3, available=3, **condition):
    return {"kind": "Deployment", "metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "availableReplicas": available,
                       "conditions": [{"type": "Available", **condition}] if condition else []}}


def test_rollout_states_as_kubectl_rollout_status_judges_them():
    assert rollout.state(deployment()) == ("done", "3 of 3 ready")
    assert rollout.state(deployment(observed=1))[0] == "waiting"  # the controller is behind the spec
    assert rollout.state(deployment(updated=2)) == ("waiting", "2 of 3 ready")
    assert rollout.state(deployment(available=0, status="False", reason="MinimumReplicasUnavailable")) == \
        ("waiting", "0 of 3 ready (MinimumReplicasUnavailable)")
    job = {"kind": "Job", "metadata": {}, "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}]}}
    assert rollout.state(job) == ("failed", "BackoffLimitExceeded: too many")
    assert rollout.state({"kind": "Job", "metadata": {}, "status": {"conditions": [
        {"type": "Complete", "status": "True"}]}})[0] == "done"
    daemons = {"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {
        "observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}}
    assert rollout.state(daemons) == ("waiting", "1 of 2 ready")


def test_the_applyset_id_follows_the_kep():
    # base64url, unpadded, of sha256("<name>.<namespace>.<kind>.<group>"), with the -v1 suffix.
    import base64
    import hashlib

    digest = hashlib.sha256(b"harmony.web.kube-system.ConfigMap.").digest()
    assert apply.applyset_id("web") == f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"
    assert apply.applyset_id("web") != apply.applyset_id("db")


def test_a_dry_run_differs_from_the_live_object_only_in_what_the_spec_says():
    live = {"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "7", "managedFields": [1]},
            "data": {"x": "1"}, "status": {"phase": "whatever"}}
    dry = {"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "8", "managedFields": [2]},
           "data": {"x": "1"}}
    assert apply.comparable(live) == apply.comparable(dry)
    assert apply.comparable(live) != apply.comparable({**dry, "data": {"x": "2"}})


class Answers:
    """A cluster that answers `get` with given objects (the access lines read nothing else)."""

    def __init__(self, objects):
        self.objects = objects

    def get(self, resource, name, namespace):
        return self.objects[name]


def test_how_to_reach_services_and_ingresses_on_k3s_and_k3d():
    objects = {
        "np": {"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}},
        "lb": {"spec": {"type": "LoadBalancer", "ports": [{"port": 443, "nodePort": 31000}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}},
        "internal": {"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}},
        "ing": {"spec": {"rules": [{"host": "shop.example", "http": {"paths": [{"path": "/cart"}]}}, {}]}},
    }
    steps = [apply.Step("web", apply.UNCHANGED, kind, name, "shop")
             for kind, name in (("Service", "np"), ("Service", "lb"), ("Service", "internal"), ("Ingress", "ing"))]
    steps.append(apply.Step("web", apply.PRUNE, "Service", "np", "old"))
    assert access.lines(Answers(objects), steps, "10.0.0.1") == [
        "reach web: Service/np in shop: 10.0.0.1:30080",
        "reach web: Service/lb in shop: 10.0.0.5:443",
        "reach web: Ingress/ing in shop: http://shop.example/cart, http://10.0.0.1/",
    ]
    assert access.lines(Answers(objects), steps, "127.0.0.1", ("8080:80@loadbalancer", "30080@server:0")) == [
        "reach web: Service/np in shop: 127.0.0.1:30080",
        "reach web: Service/lb in shop: not published on the host: add a k3d port mapping, like '443:443@loadbalancer'",
        "reach web: Ingress/ing in shop: http://shop.example/cart, http://127.0.0.1:8080/",
    ]


class Pods:
    """A cluster whose pods and logs are given."""

    def __init__(self, pods, log=""):
        self.listed, self.log_text, self.asked = pods, log, []

    def pods(self, namespace, selector):
        self.asked.append((namespace, selector))
        return self.listed

    def log(self, namespace, pod, container, lines, previous):
        self.asked.append((pod, container, lines, previous))
        return self.log_text


def pod(name, **status):
    return {"metadata": {"name": name, "namespace": "shop"}, "status": status}


def test_the_first_pod_in_trouble_explains_a_rollout():
    web = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"selector": {"matchLabels": {"tier": "front", "app": "web"}}}}
    creating = pod("web-1", containerStatuses=[{"name": "web", "state": {"waiting": {"reason": "ContainerCreating"}}}])
    crashing = pod("web-2", containerStatuses=[{"name": "web", "state": {"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 40s"}}}])
    cluster = Pods([creating, crashing], log="a\nb\n")
    assert rollout.explain(cluster, web) == "pod web-2: CrashLoopBackOff: back-off 40s; its log ends: a | b"
    assert cluster.asked == [("shop", "app=web,tier=front"), ("web-2", "web", rollout.LOG_LINES, True)]
    unschedulable = pod("web-3", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                              "message": "0/1 nodes are available"}])
    assert rollout.explain(Pods([unschedulable]), web) == "pod web-3: Unschedulable: 0/1 nodes are available"
    job = {"kind": "Job", "metadata": {"name": "migrate", "namespace": "shop"}}
    failed = Pods([pod("migrate-x", containerStatuses=[{"name": "m", "state": {"terminated": {"exitCode": 2}}}])])
    assert rollout.explain(failed, job) == "pod migrate-x: container m exited with 2"
    assert failed.asked == [("shop", "job-name=migrate"), ("migrate-x", "m", rollout.LOG_LINES, False)]
    assert rollout.explain(Pods([creating]), web) is None


def test_a_kustomize_directory_is_built_by_the_real_kubectl(tmp_path):
    example = Path(__file__).parents[2] / "examples" / "shop"
    (tmp_path / "harmony.yaml").write_text(f"workloads:\n  - {{name: cache, kustomize: {example}/cache/overlays/dev}}\n")
    (workload,) = spec.load(project.load(tmp_path / "harmony.yaml"))
    kinds = {o["kind"]: o for o in workload.objects}
    assert set(kinds) == {"Deployment", "Service"}
    assert kinds["Deployment"]["spec"]["replicas"] == 2 and kinds["Deployment"]["metadata"]["namespace"] == "shop"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(BadInput, match=r"bad: kubectl kustomize failed: .*missing.yaml"):
        load(tmp_path, "  - {name: bad, kustomize: bad}\n")


def test_a_changed_chart_is_installed_only_by_the_job_made_for_this_apply():
    step = apply.Step("status", apply.CHANGE, "HelmChart", "status", "kube-system", replaces="old-uid")
    done = {"kind": "Job", "metadata": {"name": "helm-install-status", "uid": "old-uid"},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert rollout._install_state(step, done) == (
        "waiting", "helm-controller has not replaced its install Job for the change yet")
    assert rollout._install_state(step, {**done, "metadata": {**done["metadata"], "uid": "new-uid"}}) == (
        "done", "Job helm-install-status: complete")
    assert rollout._install_state(step, None)[0] == "waiting"


def test_a_change_the_api_refuses_replaces_a_job_and_fails_anything_else():
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError

    class Refusing:
        def apply(self, step, dry=False):
            error = ApiException(status=422, reason="Unprocessable Entity")
            error.body, error.headers = '{"message": "spec.selector: field is immutable"}', {"Content-Type": "application/json"}
            raise UnprocessibleEntityError(error)

    job = apply.Step("web", apply.CREATE, "Job", "migrate", "shop")
    assert apply._compared(Refusing(), job, {}) == apply.REPLACE
    deployment = apply.Step("web", apply.CREATE, "Deployment", "web", "shop")
    with pytest.raises(RunFailed, match=r"workload 'web': Deployment/web in shop: the cluster refuses the change "
                                        r"\(spec.selector: field is immutable\): undo it, or delete the object first"):
        apply._compared(Refusing(), deployment, {})
