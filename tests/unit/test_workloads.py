"""The pure parts of workloads: reading manifests (and refusing what is not an object), when a
rollout is complete (as `kubectl rollout status` judges it), the ApplySet ID, and what counts as
a difference between an object and a dry run of it."""

from __future__ import annotations

import base64
import io
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from harmony import project
from harmony.errors import BadInput
from harmony.workloads import access, apply, ownership, rollout, spec


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
    with pytest.raises(BadInput, match="'deploy' has no manifests directly in it, only in its subdirectories: "
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
    with pytest.raises(BadInput, match="workload 'web': 'nowhere' does not exist"):
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
    ("{chart: ./nochart}", "'nochart' is not a Helm chart \\(no Chart.yaml\\)"),
    ("{chart: ./c, values_files: [missing.yaml]}", "the values file 'missing.yaml' does not exist"),
])
def test_a_chart_that_cannot_be_installed_as_given_is_bad_input(tmp_path, helm, expected):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "Chart.yaml").write_text("name: c\n")
    with pytest.raises(BadInput, match=expected):
        load(tmp_path, f"  - {{name: db, helm: {helm}}}\n")


def rolled(kind, spec=None, generation=2, **status):
    """A Deployment, StatefulSet or DaemonSet named web, as the API shows it."""
    return {"kind": kind, "metadata": {"name": "web", "generation": generation}, "spec": spec or {}, "status": status}


PROGRESSING = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
TIMED_OUT = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": 'ReplicaSet "web-5d9c7b" has timed out progressing.'}
THREE = {"replicas": 3}
DONE = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
ON_DELETE = {"updateStrategy": {"type": "OnDelete"}}
PARTITIONED = {"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}
STS = {"observedGeneration": 2, "readyReplicas": 3}
DAEMONS = {"observedGeneration": 2, "desiredNumberScheduled": 2}


# Each row: an object's status, the verdict and message expected, and the rule of kubectl's
# pkg/polymorphichelpers/rollout_status.go it checks.
@pytest.mark.parametrize("obj, expected", [
    # DeploymentStatusViewer.Status
    (rolled("Deployment", THREE, **{**DONE, "observedGeneration": 1}),
     ("waiting", "Waiting for deployment spec update to be observed...")),  # generation > observedGeneration
    (rolled("Deployment", THREE, **{**DONE, "availableReplicas": 0, "conditions": [PROGRESSING, TIMED_OUT]}),
     ("waiting", 'Waiting for deployment "web" rollout to finish: 0 of 3 updated replicas are available...')),
    # ^ GetDeploymentCondition takes the first Progressing condition
    (rolled("Deployment", THREE, **{**DONE, "availableReplicas": 0, "conditions": [TIMED_OUT]}),
     ("failed", 'deployment "web" exceeded its progress deadline: ReplicaSet "web-5d9c7b" has timed out progressing.')),
    (rolled("Deployment", THREE, **{**DONE, "observedGeneration": 1, "conditions": [TIMED_OUT]}),
     ("waiting", "Waiting for deployment spec update to be observed...")),  # the deadline of an older spec
    (rolled("Deployment", THREE, **{**DONE, "updatedReplicas": 1}),
     ("waiting", 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...')),
    (rolled("Deployment", THREE, **{**DONE, "replicas": 4}),  # the old ReplicaSet's pod still serves
     ("waiting", 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...')),
    (rolled("Deployment", THREE, **{**DONE, "availableReplicas": 2}),
     ("waiting", 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...')),
    (rolled("Deployment", THREE, **DONE), ("done", 'deployment "web" successfully rolled out')),
    (rolled("Deployment", {}, observedGeneration=2, replicas=1, updatedReplicas=1),  # spec.replicas defaults to 1
     ("waiting", 'Waiting for deployment "web" rollout to finish: 0 of 1 updated replicas are available...')),
    # StatefulSetStatusViewer.Status
    (rolled("StatefulSet", ON_DELETE), ("done", "rollout status is only available for RollingUpdate strategy type")),
    (rolled("StatefulSet", THREE, readyReplicas=3),
     ("waiting", "Waiting for statefulset spec update to be observed...")),  # observedGeneration 0
    (rolled("StatefulSet", THREE, observedGeneration=2, readyReplicas=1),
     ("waiting", "Waiting for 2 pods to be ready...")),
    (rolled("StatefulSet", PARTITIONED, **STS, updatedReplicas=0),
     ("waiting", "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...")),
    (rolled("StatefulSet", PARTITIONED, **STS, updatedReplicas=1),
     ("done", "partitioned roll out complete: 1 new pods have been updated...")),
    (rolled("StatefulSet", THREE, **STS, updatedReplicas=3),  # the API's default: RollingUpdate, partition 0
     ("done", "partitioned roll out complete: 3 new pods have been updated...")),
    (rolled("StatefulSet", {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}}, **STS, updatedReplicas=1,
            currentRevision="web-1", updateRevision="web-2"),
     ("waiting", "waiting for statefulset rolling update to complete 1 pods at revision web-2...")),
    (rolled("StatefulSet", {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}}, **STS, currentReplicas=3,
            currentRevision="web-2", updateRevision="web-2"),
     ("done", "statefulset rolling update complete 3 pods at revision web-2...")),
    # DaemonSetStatusViewer.Status
    (rolled("DaemonSet", ON_DELETE), ("done", "rollout status is only available for RollingUpdate strategy type")),
    (rolled("DaemonSet", generation=3, **DAEMONS), ("waiting", "Waiting for daemon set spec update to be observed...")),
    (rolled("DaemonSet", **DAEMONS, updatedNumberScheduled=1),
     ("waiting", 'Waiting for daemon set "web" rollout to finish: 1 out of 2 new pods have been updated...')),
    (rolled("DaemonSet", **DAEMONS, updatedNumberScheduled=2, numberAvailable=1),
     ("waiting", 'Waiting for daemon set "web" rollout to finish: 1 of 2 updated pods are available...')),
    (rolled("DaemonSet", **DAEMONS, updatedNumberScheduled=2, numberAvailable=2),
     ("done", 'daemon set "web" successfully rolled out')),
    # Jobs: their Complete and Failed conditions (not kubectl's)
    ({"kind": "Job", "metadata": {}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}},
     ("done", "complete")),
    ({"kind": "Job", "metadata": {}, "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}]}},
     ("failed", "BackoffLimitExceeded: too many")),
    ({"kind": "Job", "metadata": {}, "status": {"active": 1, "failed": 2}},
     ("waiting", "1 pod(s) active, 2 failed attempt(s), not complete")),
])
def test_rollout_states_as_kubectl_rollout_status_judges_them(obj, expected):
    assert rollout.state(obj) == expected


def test_the_applyset_id_follows_the_kep():
    # base64url, unpadded, of sha256("<name>.<namespace>.<kind>.<group>"), with the -v1 suffix.
    import base64
    import hashlib

    digest = hashlib.sha256(b"harmony.shop.web.kube-system.ConfigMap.").digest()
    parent = ownership.parent_name("shop", "web")
    assert parent == "harmony.shop.web"
    assert ownership.applyset_id(parent) == f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"
    assert ownership.applyset_id(parent) != ownership.applyset_id(ownership.parent_name("blog", "web"))


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
        "dev": {"spec": {"rules": [{"host": "shop.localhost"}]}},
    }
    steps = [apply.Step("web", apply.UNCHANGED, kind, name, "shop")
             for kind, name in (("Service", "np"), ("Service", "lb"), ("Service", "internal"), ("Ingress", "ing"),
                                ("Ingress", "dev"))]
    steps.append(apply.Step("web", apply.PRUNE, "Service", "np", "old"))
    assert access.lines(Answers(objects), steps, "10.0.0.1") == [
        "reach web: Service/np in shop: 10.0.0.1:30080",
        "reach web: Service/lb in shop: 10.0.0.5:443",
        "reach web: Ingress/ing in shop: http://shop.example/cart, http://10.0.0.1/",
        # a browser takes a .localhost name to this machine, which the cluster is not
        "reach web: Ingress/dev in shop: curl -H 'Host: shop.localhost' http://10.0.0.1/",
    ]
    assert access.lines(Answers(objects), steps[-2:-1], "127.0.0.1") == [
        "reach web: Ingress/dev in shop: http://shop.localhost/"]
    assert access.lines(Answers(objects), steps, "127.0.0.1", ("8080:80@loadbalancer", "30080@server:0")) == [
        "reach web: Service/np in shop: 127.0.0.1:30080",
        "reach web: Service/lb in shop: not published on the host: add a k3d port mapping, like '443:443@loadbalancer'",
        "reach web: Ingress/ing in shop: http://shop.example:8080/cart, http://127.0.0.1:8080/",
        "reach web: Ingress/dev in shop: http://shop.localhost:8080/",
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
    shutil.copytree(Path(__file__).parents[2] / "examples" / "shop" / "cache", tmp_path / "cache")
    (tmp_path / "harmony.yaml").write_text("workloads:\n  - {name: cache, kustomize: cache/overlays/dev}\n")
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


class Release:
    """A cluster whose HelmChart's install Job, and Deployments labelled as Helm's, are given."""

    def __init__(self, job, deployments):
        self.job, self.deployments, self.asked = job, deployments, []
        self.client = SimpleNamespace(resources=SimpleNamespace(get=self.resource))

    def resource(self, api_version, kind):
        def listed(namespace, label_selector):
            self.asked.append((api_version, kind, namespace, label_selector))
            items = self.deployments if kind == "Deployment" else []
            return SimpleNamespace(items=[SimpleNamespace(to_dict=lambda o=o: o) for o in items])
        return SimpleNamespace(get=listed)

    def install_job(self, step):
        return self.job

    def pods(self, namespace, selector):
        return []


def test_a_chart_runs_once_installed_and_its_releases_own_workloads_rolled_out():
    step = apply.Step("status", apply.CREATE, "HelmChart", "status", "kube-system",
                      body={"spec": {"targetNamespace": "shop"}})
    installed = {"kind": "Job", "metadata": {"name": "helm-install-status", "uid": "new"},
                 "status": {"conditions": [{"type": "Complete", "status": "True"}]}}

    def release_deployment(release, available):  # as listed: without its kind
        return {"metadata": {"name": release, "namespace": "shop", "generation": 1, "annotations": {
                    rollout.RELEASE_NAME: release, rollout.RELEASE_NAMESPACE: "shop"}},
                "spec": {"replicas": 1}, "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                                                    "availableReplicas": available}}

    other = release_deployment("other", 0)  # another release's, in the same namespace: not this chart's
    starting = Release(installed, [release_deployment("status", 0), other])
    assert rollout.now(starting, [step]) == [rollout.Failure("status", "HelmChart/status in kube-system", (
        'not rolled out: release status: Deployment/status in shop: Waiting for deployment "status" rollout to '
        "finish: 0 of 1 updated replicas are available..."))]
    assert ("apps/v1", "Deployment", "shop", "app.kubernetes.io/managed-by=Helm") in starting.asked
    assert rollout.now(Release(installed, [release_deployment("status", 1), other]), [step]) == []
    # Before its install Job completed, the release is not looked at.
    running = Release({**installed, "status": {"active": 1}}, [])
    assert rollout.now(running, [step])[0].reason == "not rolled out: Job helm-install-status: 1 pod(s) active, not complete"
    assert running.asked == []


def refused(status: int, message: str, causes: list):
    """The dynamic client's exception for an API refusal, as it raises it."""
    import json as json_

    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import api_exception

    error = ApiException(status=status, reason="Unprocessable Entity")
    error.body = json_.dumps({"kind": "Status", "message": message, "code": status, "details": {"causes": causes}})
    error.headers = {"Content-Type": "application/json"}
    return api_exception(error)


class Refusing:
    """A cluster that has the object, and refuses its dry run with `error`."""

    def __init__(self, error):
        self.error = error

    def get(self, resource, name, namespace):
        return {"metadata": {"name": name, "labels": {ownership.PART_OF: "mine"}}}

    def apply(self, resource, body, dry=False):
        raise self.error


def test_only_a_jobs_immutable_template_makes_a_replace():
    mine = {"mine": ownership.Parent("harmony.shop.web", "shop", "web")}
    template = refused(422, 'Job.batch "migrate" is invalid: spec.template: Invalid value: ...: field is immutable',
                       [{"reason": "FieldValueInvalid", "field": "spec.template",
                         "message": "Invalid value: ...: field is immutable"}])
    job = apply.Step("web", apply.CREATE, "Job", "migrate", "shop", {"spec": {}}, group="batch", source="k8s/m.yaml")
    assert apply._compare(Refusing(template), job, mine, "shop", False, {}) is None and job.action == apply.REPLACE

    # Any other refusal of a Job is the manifest's to mend: an invalid change is not a replace.
    invalid = refused(422, 'Job.batch "migrate" is invalid: spec.parallelism: Invalid value: -1',
                      [{"reason": "FieldValueInvalid", "field": "spec.parallelism", "message": "Invalid value: -1"}])
    job = apply.Step("web", apply.CREATE, "Job", "migrate", "shop", {"spec": {}}, group="batch")
    assert apply._compare(Refusing(invalid), job, mine, "shop", False, {}) == \
        'the cluster refuses it: Job.batch "migrate" is invalid: spec.parallelism: Invalid value: -1'
    deployment = apply.Step("web", apply.CREATE, "Deployment", "web", "shop", {"spec": {}}, group="apps")
    selector = refused(422, "spec.selector: field is immutable", [{"field": "spec.selector", "message": "immutable"}])
    assert apply._compare(Refusing(selector), deployment, mine, "shop", False, {}) == \
        "the cluster refuses it: spec.selector: field is immutable"


def test_whose_an_object_is():
    parents = {p.id: p for p in (ownership.Parent("harmony.shop.web", "shop", "web"),
                                 ownership.Parent("harmony.blog.web", "blog", "web"),
                                 ownership.Parent("harmony.db", None, "db"))}
    labelled = lambda parent: {"metadata": {"labels": {ownership.PART_OF: ownership.applyset_id(parent)}}}  # noqa: E731
    assert ownership.owner(labelled("harmony.shop.web"), parents, "shop") is None
    assert ownership.owner(labelled("harmony.blog.web"), parents, "shop") == "project blog's workload web"
    assert ownership.owner(labelled("harmony.db"), parents, "shop") == \
        "workload db of an earlier harmony (ApplySet parent kube-system/harmony.db)"
    assert ownership.owner({"metadata": {"labels": {ownership.PART_OF: "applyset-x-v1"}}}, parents, "shop") == \
        "another ApplySet (applyset-x-v1)"
    helm = {"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"},
                         "annotations": {"meta.helm.sh/release-name": "traefik"}}}
    assert ownership.owner(helm, parents, "shop") == "the Helm release traefik"
    by_hand = {"metadata": {"managedFields": [{"manager": "kubectl-client-side-apply"}, {"manager": "kubectl-edit"}]}}
    assert ownership.owner(by_hand, parents, "shop") == "whoever made it (kubectl-client-side-apply, kubectl-edit)"
    assert ownership.owner({"kind": "Namespace", "metadata": {"name": "kube-system"}}, parents, "shop") == \
        ownership.THE_CLUSTER


def test_a_namespace_is_pruned_only_when_nothing_of_anyone_else_is_in_it():
    mine = ownership.applyset_id("harmony.shop.web")
    parents = {ownership.applyset_id("harmony.blog.api"): ownership.Parent("harmony.blog.api", "blog", "api")}
    ours = {"kind": "Deployment", "metadata": {"name": "web", "labels": {ownership.PART_OF: mine}}}
    automatic = [{"kind": "ServiceAccount", "metadata": {"name": "default"}},
                 {"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}},
                 {"kind": "Endpoints", "metadata": {"name": "web"}},
                 {"kind": "Pod", "metadata": {"name": "web-1", "ownerReferences": [{"kind": "ReplicaSet"}]}}]
    assert ownership.strangers([ours, *automatic], mine, parents, "shop") == []
    theirs = {"kind": "ConfigMap", "metadata": {"name": "api", "labels": {
        ownership.PART_OF: ownership.applyset_id("harmony.blog.api")}}}
    release = {"kind": "Secret", "metadata": {"name": "sh.helm.release.v1.db.v1", "labels": {"owner": "helm"},
                                              "managedFields": [{"manager": "helm"}]}}
    assert ownership.strangers([ours, theirs, release, *automatic], mine, parents, "shop") == [
        "ConfigMap/api (project blog's workload api)", "Secret/sh.helm.release.v1.db.v1 (whoever made it (helm))"]


def test_objects_are_written_namespaces_and_crds_first_and_pruned_in_reverse():
    steps = [apply.Step("w", apply.CREATE, kind, kind.lower(), namespace, group=group) for kind, namespace, group in (
        ("Captain", "crew", "crew.example.org"), ("ClusterRole", None, "rbac.authorization.k8s.io"),
        ("CustomResourceDefinition", None, "apiextensions.k8s.io"), ("Namespace", None, ""))]
    assert [s.kind for s in apply._in_write_order(steps)] == ["Namespace", "CustomResourceDefinition", "ClusterRole",
                                                              "Captain"]
    assert [s.kind for s in sorted(steps, key=lambda s: -apply._rank(s))] == [
        "Captain", "ClusterRole", "CustomResourceDefinition", "Namespace"]
