"""The stand-in k3s's Kubernetes API (tests/standin/api) as the real clients see it: the real
kubectl's discovery, server-side apply, diff, conflicts and forced applies, and the official
Python client's dynamic client, against a server `harmony up` installed. What harmony's
workloads rely on must hold here first, or their tests would prove nothing."""

from __future__ import annotations

import json
import time

import yaml
from kubernetes import config as kube_config, dynamic

from tests.e2e.conftest import until
from tests.standin.api.catalog import BUILTINS, groups

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
"""


def test_kubectl_and_the_python_client_apply_server_side(host, harmony, tmp_path):
    assert harmony.up(host).returncode == 0
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    kubectl = lambda *args: harmony.kubectl("--context", "harmony", *args)  # noqa: E731

    applied = kubectl("apply", "--server-side", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/web serverside-applied" in applied.stdout
    assert kubectl("diff", "--server-side", "-f", str(manifest)).returncode == 0  # nothing to change

    # A hand edit takes the field over: a plain apply conflicts, a forced one takes it back.
    assert kubectl("patch", "deployment", "web", "-n", "shop", "--type=merge",
                   "-p", '{"spec":{"replicas":5}}').returncode == 0
    conflict = kubectl("apply", "--server-side", "-f", str(manifest))
    assert conflict.returncode == 1 and 'conflict with "kubectl-patch"' in conflict.stderr
    assert kubectl("diff", "--server-side", "--force-conflicts", "-f", str(manifest)).returncode == 1
    assert kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest)).returncode == 0
    live = json.loads(kubectl("get", "deployment", "web", "-n", "shop", "-o", "json", "--show-managed-fields").stdout)
    assert live["spec"]["replicas"] == 2 and live["metadata"]["generation"] == 3
    assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["kubectl"]

    # An object made by `kubectl create` is kubectl-create's: another value applied conflicts.
    assert kubectl("create", "configmap", "made", "-n", "shop", "--from-literal=a=1").returncode == 0
    (tmp_path / "made.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: made, namespace: shop}\n"
                                        "data: {a: '2'}\n")
    made = kubectl("apply", "--server-side", "-f", str(tmp_path / "made.yaml"))
    assert made.returncode == 1 and 'conflict with "kubectl-create" using v1: .data.a' in made.stderr, made.stderr

    # A Job's template is immutable, as kubectl hears it from a real API server.
    job = ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: once, namespace: shop}\nspec:\n  template:\n    spec:\n"
           "      restartPolicy: Never\n      containers: [{name: once, image: busybox:1.36, command: [echo, %s]}]\n")
    (tmp_path / "job.yaml").write_text(job % "one")
    assert kubectl("apply", "--server-side", "-f", str(tmp_path / "job.yaml")).returncode == 0
    (tmp_path / "job.yaml").write_text(job % "two")
    refused = kubectl("apply", "--server-side", "-f", str(tmp_path / "job.yaml"))
    assert refused.returncode == 1 and 'The Job "once" is invalid: spec.template' in refused.stderr \
        and "field is immutable" in refused.stderr, refused.stderr

    # The Python client: apply with a field manager, list by label, and a field left out of
    # the next apply is removed.
    client = dynamic.DynamicClient(kube_config.new_client_from_config(str(harmony.kubeconfig), context="harmony"))
    maps = client.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "2"},
            "metadata": {"name": "settings", "namespace": "shop", "labels": {"part-of": "shop"}}}
    maps.server_side_apply(body=body, name="settings", namespace="shop", field_manager="harmony")
    del body["data"]["b"]
    maps.server_side_apply(body=body, name="settings", namespace="shop", field_manager="harmony")
    (found,) = maps.get(namespace="shop", label_selector="part-of=shop").items
    assert dict(found.data) == {"a": "1"}
    assert kubectl("delete", "namespace", "shop").returncode == 0
    assert kubectl("get", "configmap", "settings", "-n", "shop").returncode == 1


def test_the_manifests_directory_applies_on_mtime_and_never_deletes(host, harmony):
    """k3s's own way of applying manifests, which harmony's workloads do better: a file is applied
    when it appears and when its mtime changes, and removing it deletes nothing; a file whose
    name makes no valid Addon name is never applied."""
    assert harmony.up(host).returncode == 0
    manifests = "/var/lib/rancher/k3s/server/manifests"
    get = lambda: harmony.kubectl("--context", "harmony", "get", "configmap", "extra", "-o", "json")  # noqa: E731
    host.sh(f"mkdir -p {manifests} && touch -d '2020-01-01' /tmp/old")
    host.write(f"{manifests}/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: '1'}\n")
    host.write(f"{manifests}/bad_name.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n")
    deadline = time.monotonic() + 20
    while get().returncode != 0:
        assert time.monotonic() < deadline, "the manifest was never applied"
        time.sleep(0.5)
    # Each file is tracked by an Addon named after it: `bad_name` is no valid name, so k3s
    # applies nothing of that file.
    addons = harmony.kubectl("--context", "harmony", "get", "addons", "-n", "kube-system", "-o", "name")
    assert addons.stdout.split() == ["addon.k3s.cattle.io/extra"], addons
    assert harmony.kubectl("--context", "harmony", "get", "configmap", "other").returncode == 1
    host.sh(f"touch -r /tmp/old {manifests}/extra.yaml")  # a new mtime: applied again (still a=1)
    time.sleep(3)
    host.write("/tmp/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: '2'}\n")
    # New content, put in place whole with the mtime k3s has seen already: not applied.
    host.sh(f"touch -r /tmp/old /tmp/extra.yaml && mv -f /tmp/extra.yaml {manifests}/extra.yaml")
    time.sleep(5)
    assert json.loads(get().stdout)["data"] == {"a": "1"}
    host.sh(f"rm {manifests}/extra.yaml")
    time.sleep(5)
    assert get().returncode == 0  # still there


def test_kubectl_api_resources_lists_every_builtin_resource_of_kubernetes_1_31(host, harmony):
    """Discovery is made from the vendored table of Kubernetes 1.31's resources: kubectl lists
    each at its group's preferred version, with its short names, scope, kind and verbs."""
    assert harmony.up(host).returncode == 0
    listed = harmony.kubectl("--context", "harmony", "api-resources", "-o", "wide", "--no-headers")
    assert listed.returncode == 0, listed.stderr
    rows = {}
    for line in listed.stdout.splitlines():
        fields = line.split()
        if fields[1].count("/") == 1 or fields[1] == "v1":  # no short names: NAME APIVERSION ...
            fields.insert(1, "")
        rows[(fields[0], fields[2])] = fields[1:]
    preferred = {group: versions[0] for group, versions in groups(BUILTINS).items()}
    expected = {(r.name, r.group_version): ["/".join(r.short_names) and ",".join(r.short_names), r.group_version,
                                            str(r.namespaced).lower(), r.kind, ",".join(r.verbs)]
                for r in BUILTINS if r.version == preferred[r.group]}
    for key, row in expected.items():
        assert rows.get(key, [])[:5] == row, (key, rows.get(key))
    assert ("horizontalpodautoscalers", "autoscaling/v2") in rows
    assert set(rows) - set(expected) == {  # the CRDs k3s registers
        ("helmcharts", "helm.cattle.io/v1"), ("helmchartconfigs", "helm.cattle.io/v1"), ("addons", "k3s.cattle.io/v1"),
        ("etcdsnapshotfiles", "k3s.cattle.io/v1")}
    everything = harmony.kubectl("--context", "harmony", "get", "all", "-n", "default", "-o", "name")  # category all
    assert everything.returncode == 0 and everything.stdout.split() == ["service/kubernetes"], everything
    versions = json.loads(harmony.kubectl("--context", "harmony", "get", "--raw", "/apis/autoscaling").stdout)
    assert [v["version"] for v in versions["versions"]] == ["v2", "v1"] and versions["preferredVersion"]["version"] == "v2"


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
CRONTAB = """\
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: nightly, namespace: default}
spec: {cronSpec: "0 3 * * *", image: backup:1%s}
"""


def test_a_crd_serves_its_custom_resources_once_established(host, harmony, tmp_path):
    """As apiextensions-apiserver and kubectl meet it: a CRD's kind has no mapping before the CRD
    is Established (the window itself: tests/unit/test_standin_api.py), then it is served, at
    each served version, with its schema's fields only; deleting the CRD deletes its custom
    resources."""
    assert harmony.up(host).returncode == 0
    kubectl = lambda *args: harmony.kubectl("--context", "harmony", *args)  # noqa: E731
    (tmp_path / "cr.yaml").write_text(CRONTAB % "")
    (tmp_path / "bad.yaml").write_text(CRD.replace("crontabs.stable", "crontab.stable"))
    refused = kubectl("apply", "--server-side", "-f", str(tmp_path / "bad.yaml"))
    assert refused.returncode == 1 and 'metadata.name: Invalid value: "crontab.stable.example.com": must be ' \
        'spec.names.plural+"."+spec.group' in refused.stderr, refused.stderr

    # A CRD and its resource in one file, as operators ship them: kubectl maps every object
    # before it applies any, so the first apply creates the CRD and refuses its resource.
    (tmp_path / "both.yaml").write_text(f"{CRD}---\n{CRONTAB % ''}")
    first = kubectl("apply", "--server-side", "-f", str(tmp_path / "both.yaml"))
    assert first.returncode == 1 and "ensure CRDs are installed first" in first.stderr, first.stderr
    assert "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com serverside-applied" \
        in first.stdout, first.stdout
    waited = kubectl("wait", "--for=condition=Established", "--timeout=15s", "crd/crontabs.stable.example.com")
    assert waited.returncode == 0, waited.stderr
    crd = json.loads(kubectl("get", "crd", "crontabs.stable.example.com", "-o", "json").stdout)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["storedVersions"] == ["v1"]

    applied = kubectl("apply", "--server-side", "-f", str(tmp_path / "cr.yaml"))
    assert applied.returncode == 0, applied.stderr
    assert "nightly" in kubectl("get", "ct").stdout
    old = json.loads(kubectl("get", "--raw", "/apis/stable.example.com/v1beta1/namespaces/default/crontabs/nightly").stdout)
    assert old["apiVersion"] == "stable.example.com/v1beta1" and old["spec"]["image"] == "backup:1"
    group = json.loads(kubectl("get", "--raw", "/apis/stable.example.com").stdout)
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"] and group["preferredVersion"]["version"] == "v1"

    # Its status subresource: the only way to write its status.
    assert kubectl("patch", "ct", "nightly", "--subresource=status", "--type=merge",
                   "-p", '{"status":{"lastRun":"03:00"}}').returncode == 0
    assert kubectl("patch", "ct", "nightly", "--type=merge", "-p", '{"status":{"lastRun":"never"}}').returncode == 0
    client = dynamic.DynamicClient(kube_config.new_client_from_config(str(harmony.kubeconfig), context="harmony"))
    crontabs = client.resources.get(api_version="stable.example.com/v1", kind="CronTab")
    assert crontabs.get(name="nightly", namespace="default").status.lastRun == "03:00"

    # A field the schema does not declare: refused by kubectl's default (strict) validation.
    (tmp_path / "cr.yaml").write_text(CRONTAB % ", colour: red")
    unknown = kubectl("apply", "--validate=strict", "-f", str(tmp_path / "cr.yaml"))
    assert unknown.returncode == 1 and 'strict decoding error: unknown field "spec.colour"' in unknown.stderr, unknown.stderr
    ssa = kubectl("apply", "--server-side", "-f", str(tmp_path / "cr.yaml"))
    assert ssa.returncode == 1 and ".spec.colour: field not declared in schema" in ssa.stderr, ssa.stderr

    assert kubectl("delete", "crd", "crontabs.stable.example.com").returncode == 0
    gone = kubectl("get", "--raw", "/apis/stable.example.com/v1/namespaces/default/crontabs/nightly")
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def workload(kind: str, name: str, namespace: str, image: str, spec: str = "") -> str:
    """A workload's manifest: its pods labelled app=NAME and selected by that, one container;
    `spec`: more lines of its spec."""
    return (f"apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{spec}"
            f"  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
            f"    spec: {{containers: [{{name: {name}, image: {image}}}]}}\n")


REFUSALS = "---\n".join([
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: strict}\n",
    workload("Deployment", "web", "strict", "nginx:1.27"),
    workload("StatefulSet", "db", "strict", "postgres:16", "  serviceName: db\n") +
    "  volumeClaimTemplates:\n  - metadata: {name: data}\n"
    "    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: strict}\n"
    "spec: {selector: {app: web}, ports: [{port: 80}]}\n",
    "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: cache, namespace: strict}\n"
    "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n"])


def test_the_api_refuses_what_a_real_server_refuses(host, harmony, tmp_path):
    """kubectl hears the real server's refusals: a missing namespace, an unknown field with
    strict validation, a bad name, immutable fields (dry runs too), a request body over 3 MiB,
    and creates in a namespace that is Terminating, until the namespace is gone."""
    assert harmony.up(host).returncode == 0
    kubectl = lambda *args: harmony.kubectl("--context", "harmony", *args)  # noqa: E731
    manifest = tmp_path / "refusals.yaml"
    manifest.write_text(REFUSALS)
    assert kubectl("apply", "--server-side", "-f", str(manifest)).returncode == 0
    service = json.loads(kubectl("get", "service", "web", "-n", "strict", "-o", "json").stdout)
    assert service["spec"]["clusterIP"].startswith("10.43.")  # allocated, as the API does

    missing = kubectl("create", "configmap", "a", "-n", "nowhere")
    assert missing.returncode == 1 and 'namespaces "nowhere" not found' in missing.stderr
    bad_name = kubectl("create", "configmap", "Bad_Name", "-n", "strict")
    assert bad_name.returncode == 1 and 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: ' \
        '"Bad_Name": a lowercase RFC 1123 subdomain must consist of' in bad_name.stderr, bad_name.stderr
    (tmp_path / "unknown.yaml").write_text(workload("Deployment", "web", "strict", "nginx:1.27", "  replica: 2\n"))
    unknown = kubectl("apply", "--validate=strict", "-f", str(tmp_path / "unknown.yaml"))
    assert unknown.returncode == 1 and 'Deployment in version "v1" cannot be handled as a Deployment: strict ' \
        'decoding error: unknown field "spec.replica"' in unknown.stderr, unknown.stderr
    (tmp_path / "mismatch.yaml").write_text(workload("Deployment", "web", "strict", "nginx:1.27").replace(
        "{labels: {app: web}}", "{labels: {app: wbe}}"))
    mismatch = kubectl("apply", "--server-side", "-f", str(tmp_path / "mismatch.yaml"))
    assert mismatch.returncode == 1 and 'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid ' \
        'value: map[string]string{"app":"wbe"}: `selector` does not match template `labels`' in mismatch.stderr, \
        mismatch.stderr
    warned = kubectl("apply", "--validate=warn", "-f", str(tmp_path / "unknown.yaml"))
    assert warned.returncode == 0 and 'unknown field "spec.replica"' in warned.stderr, warned.stderr

    changed = manifest.read_text().replace("{matchLabels: {app: web}}", "{matchLabels: {app: web2}}") \
        .replace("{labels: {app: web}}", "{labels: {app: web2}}").replace("storage: 1Gi", "storage: 2Gi") \
        .replace("spec: {selector", "spec: {clusterIP: 10.43.99.99, selector")
    manifest.write_text(changed)
    for dry_run in ("--dry-run=server", "--dry-run=none"):
        refused = kubectl("apply", "--server-side", dry_run, "-f", str(manifest))
        assert refused.returncode == 1
        assert 'Deployment.apps "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:' \
            'map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is ' \
            'immutable' in refused.stderr, refused.stderr
        assert 'StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other ' \
            "than 'replicas'" in refused.stderr
        assert 'PersistentVolumeClaim "cache" is invalid: spec: Forbidden: spec is immutable after creation except ' \
            "resources.requests and volumeAttributesClassName for bound claims" in refused.stderr
        assert 'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.43.99.99"}: may not ' \
            "change once set" in refused.stderr

    (tmp_path / "big.json").write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "big", "namespace": "strict"}, "data": {"blob": "x" * (3 * 1024 * 1024)}}))
    big = kubectl("create", "-f", str(tmp_path / "big.json"))
    assert big.returncode == 1 and "Request entity too large: limit is 3145728" in big.stderr, big.stderr
    # A ConfigMap's data holds at most 1 MiB (ValidateConfigMap); an object that validation lets
    # through (a 2 MiB environment variable) is then too large for etcd.
    (tmp_path / "big.json").write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "big", "namespace": "strict"}, "data": {"blob": "x" * (2 * 1024 * 1024)}}))
    over = kubectl("create", "-f", str(tmp_path / "big.json"))
    assert over.returncode == 1 and 'ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes' \
        in over.stderr, over.stderr
    heavy = yaml.safe_load(workload("Deployment", "heavy", "strict", "nginx:1.27"))
    heavy["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "BLOB", "value": "x" * (2 * 1024 * 1024)}]
    (tmp_path / "big.json").write_text(json.dumps(heavy))
    too_big = kubectl("create", "-f", str(tmp_path / "big.json"))
    assert too_big.returncode == 1 and "etcdserver: request is too large" in too_big.stderr, too_big.stderr

    (tmp_path / "generated.json").write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "generateName": "run-", "namespace": "strict"}}))
    generated = kubectl("create", "-o", "name", "-f", str(tmp_path / "generated.json"))
    assert generated.returncode == 0 and generated.stdout.startswith("configmap/run-"), generated.stderr

    # A namespace deleted is Terminating a while: it takes no new objects, then it is gone with them.
    assert kubectl("delete", "namespace", "strict", "--wait=false").returncode == 0
    namespace = json.loads(kubectl("get", "namespace", "strict", "-o", "json").stdout)
    assert namespace["status"]["phase"] == "Terminating" and namespace["spec"]["finalizers"] == ["kubernetes"]
    late = kubectl("create", "configmap", "late", "-n", "strict")
    assert late.returncode == 1 and 'configmaps "late" is forbidden: unable to create ' \
        "new content in namespace strict because it is being terminated" in late.stderr, late.stderr
    assert kubectl("wait", "--for=delete", "namespace/strict", "--timeout=15s").returncode == 0
    assert kubectl("get", "deployment", "web", "-n", "strict").returncode == 1


CONTROLLED = workload("Deployment", "web", "default", "%s", "  replicas: 2\n  progressDeadlineSeconds: 4\n") + \
    "---\n" + workload("StatefulSet", "db", "default", "postgres:16", "  serviceName: db\n")
HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: default
  annotations: {standin.harmony.dev/cpu-utilization: "160"}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
"""


def test_controllers_scale_collect_garbage_and_time_rollouts_out(host, harmony, tmp_path):
    """kubectl scale writes through the scale subresource; the HPA controller scales its target
    there as kube-controller-manager; deleting an owner deletes its dependents; a rollout whose
    pods never become available keeps its old pods, then exceeds its progress deadline."""
    host.write("/etc/default/k3s", "HARMONY_STANDIN_HPA_SECONDS=1\nHARMONY_STANDIN_POD_SECONDS=1\n")
    assert harmony.up(host).returncode == 0
    kubectl = lambda *args: harmony.kubectl("--context", "harmony", *args)  # noqa: E731
    get = lambda *args: json.loads(kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)  # noqa: E731
    (tmp_path / "app.yaml").write_text(CONTROLLED % "nginx:1.27")
    assert kubectl("apply", "--server-side", "-f", str(tmp_path / "app.yaml")).returncode == 0

    assert kubectl("scale", "statefulset", "db", "--replicas=3").returncode == 0
    db = get("statefulset", "db")
    assert db["spec"]["replicas"] == 3
    scaled = [m for m in db["metadata"]["managedFields"] if m.get("subresource") == "scale"]
    assert [(m["manager"], m["operation"], m["fieldsV1"]) for m in scaled] == \
        [("kubectl", "Update", {"f:spec": {"f:replicas": {}}})], db["metadata"]["managedFields"]
    scale = json.loads(kubectl("get", "--raw", "/apis/apps/v1/namespaces/default/statefulsets/db/scale").stdout)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=db"

    (tmp_path / "hpa.yaml").write_text(HPA)
    assert kubectl("apply", "--server-side", "-f", str(tmp_path / "hpa.yaml")).returncode == 0
    assert until(lambda: get("deployment", "web")["spec"]["replicas"] == 5, 20)  # 2 -> 4 -> 5, at most
    web = get("deployment", "web")
    scaler = next(m for m in web["metadata"]["managedFields"] if m["manager"] == "kube-controller-manager")
    assert scaler["operation"] == "Update" and scaler["subresource"] == "scale"
    hpa = get("hpa.v1.autoscaling", "web")  # the same object, at autoscaling/v1
    limited = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingLimited")
    assert hpa["status"]["desiredReplicas"] == 5 and limited["reason"] == "TooManyReplicas"

    dependent = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-settings", "namespace": "default",
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                      "uid": web["metadata"]["uid"]}]}}
    (tmp_path / "dependent.json").write_text(json.dumps(dependent))
    assert kubectl("create", "-f", str(tmp_path / "dependent.json")).returncode == 0

    assert kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=15s").returncode == 0
    (tmp_path / "app.yaml").write_text(CONTROLLED % "web:crashing")
    conflict = kubectl("apply", "--server-side", "-f", str(tmp_path / "app.yaml"))  # replicas are the HPA's now
    assert conflict.returncode == 1 and 'conflict with "kube-controller-manager" with subresource "scale"' \
        in conflict.stderr, conflict.stderr
    (tmp_path / "app.yaml").write_text((CONTROLLED % "web:crashing").replace("  replicas: 2\n", ""))
    assert kubectl("apply", "--server-side", "-f", str(tmp_path / "app.yaml")).returncode == 0
    status = get("deployment", "web")["status"]
    assert status["replicas"] > status["updatedReplicas"] and status["availableReplicas"] > 0  # the old pods stay
    rollout = kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert rollout.returncode == 1 and 'deployment "web" exceeded its progress deadline' in rollout.stderr, rollout

    assert kubectl("delete", "deployment", "web").returncode == 0
    assert until(lambda: kubectl("get", "configmap", "web-settings").returncode == 1, 10)


def test_server_side_apply_merges_containers_by_name_between_managers(host, harmony, tmp_path):
    """A second manager's apply adds its container beside the first's, each owning its own
    (`k:{"name":...}` in managedFields), and the first manager's next apply leaves it there."""
    assert harmony.up(host).returncode == 0
    kubectl = lambda *args: harmony.kubectl("--context", "harmony", *args)  # noqa: E731
    (tmp_path / "app.yaml").write_text(MANIFEST)
    (tmp_path / "sidecar.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n"
        "    spec:\n      containers: [{name: mesh, image: envoy:1.31, ports: [{containerPort: 9901}]}]\n")
    assert kubectl("apply", "--server-side", "-f", str(tmp_path / "app.yaml")).returncode == 0
    added = kubectl("apply", "--server-side", "--field-manager=mesh", "-f", str(tmp_path / "sidecar.yaml"))
    assert added.returncode == 0, added.stderr
    assert kubectl("diff", "--server-side", "-f", str(tmp_path / "app.yaml")).returncode == 0
    assert kubectl("apply", "--server-side", "-f", str(tmp_path / "app.yaml")).returncode == 0
    live = json.loads(kubectl("get", "deployment", "web", "-n", "shop", "-o", "json", "--show-managed-fields").stdout)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["web", "mesh"]
    owned = {m["manager"]: m["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
             for m in live["metadata"]["managedFields"]}
    assert list(owned["kubectl"]) == ['k:{"name":"web"}'] and list(owned["mesh"]) == ['k:{"name":"mesh"}']


def test_client_side_apply_and_kubectl_patch_merge_strategically(host, harmony, tmp_path):
    """kubectl's own merges: a client-side apply of a changed image (a strategic merge patch
    with $setElementOrder) and a strategic `kubectl patch` of one container keep the rest of
    the container and the other containers, as strategic merge patches do; a JSON patch
    applies, or is refused where its test fails."""
    assert harmony.up(host).returncode == 0
    kubectl = lambda *args: harmony.kubectl("--context", "harmony", *args)  # noqa: E731
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST.replace("image: nginx:1.27}", "image: nginx:1.27, ports: [{containerPort: 80}]}, "
                                         "{name: log, image: busybox:1.36}"))
    assert kubectl("apply", "-f", str(manifest)).returncode == 0
    manifest.write_text(manifest.read_text().replace("nginx:1.27", "nginx:1.28"))
    again = kubectl("apply", "-f", str(manifest))
    assert again.returncode == 0 and "deployment.apps/web configured" in again.stdout, again.stderr
    patched = kubectl("patch", "deployment", "web", "-n", "shop",
                      "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"log","image":"busybox:1.37"}]}}}}')
    assert patched.returncode == 0, patched.stderr
    containers = json.loads(kubectl("get", "deployment", "web", "-n", "shop", "-o", "json").stdout)[
        "spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "web", "image": "nginx:1.28", "ports": [{"containerPort": 80}]},
                          {"name": "log", "image": "busybox:1.37"}]
    replaced = kubectl("patch", "deployment", "web", "-n", "shop", "--type=json",
                       "-p", '[{"op": "replace", "path": "/spec/replicas", "value": 3}]')
    assert replaced.returncode == 0, replaced.stderr
    failed = kubectl("patch", "deployment", "web", "-n", "shop", "--type=json",
                     "-p", '[{"op": "test", "path": "/spec/replicas", "value": 4}]')
    assert failed.returncode == 1 and "testing value /spec/replicas failed" in failed.stderr, failed.stderr
