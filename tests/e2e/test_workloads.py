"""A project's workloads on k3s, end to end: `harmony up` in the worked example (examples/shop)
applies its manifests and its Kustomize overlay (built by the real kubectl) and waits until they run; a second `up` changes nothing; a changed
manifest, a hand edit in the cluster, a manifest removed and a workload removed are each shown
by `plan` and `check` first, then put right by `up`. And the failures: a rollout that never
completes, a Deployment past its progress deadline (which ends the wait at once), a Job that
fails, a manifest that is not YAML."""

from __future__ import annotations

import base64
import datetime
import io
import json
import re
import shutil
import tarfile
import time
from pathlib import Path

import yaml

from harmony.workloads.lease import MICRO_TIME
from tests.e2e.conftest import EXAMPLE, NEW, assert_untouched, interrupt_when, until


def project(tmp_path: Path, host, harmony, source: Path = EXAMPLE, **cluster) -> Path:
    """A project (the example), copied, pointed at `host`: its release from the test mirror."""
    root = tmp_path / source.name
    shutil.copytree(source, root)
    spec = yaml.safe_load((root / "harmony.yaml").read_text())
    spec["cluster"] = {"name": "shop", "version": NEW, "kubeconfig_server": host.api_url, "allow_http": True,
                       "k3s": {"release_url": harmony.mirror.release_url}, **cluster}
    spec["target"] = host.target
    spec["ssh"] = {"key": str(harmony.ssh_key)}
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def kubectl_json(harmony, *args) -> dict:
    result = harmony.kubectl("--context", "shop", *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_example_runs_and_stays_as_its_files_say(host, harmony, tmp_path):
    root = project(tmp_path, host, harmony)
    first_plan = harmony("plan", cwd=root)
    assert ("workloads: the cluster's API does not answer yet: up would create every object of the 3 workload(s)"
            in first_plan.stdout), first_plan.stdout + first_plan.stderr
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "workload web: 5 created; running" in up.stdout
    assert "workload cache: 2 created; running" in up.stdout  # the Kustomize overlay's
    assert "workload status: 1 created; running" in up.stdout  # the chart's HelmChart, installed
    chart = kubectl_json(harmony, "get", "helmchart", "status", "-n", "kube-system")
    assert chart["spec"]["targetNamespace"] == "shop" and "message: open for business" in chart["spec"]["valuesContent"]
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(chart["spec"]["chartContent"]))) as archive:
        assert "shop-status/Chart.yaml" in archive.getnames()  # as `helm package` lays it out
    install = kubectl_json(harmony, "get", "job", "helm-install-status", "-n", "kube-system")
    assert install["status"]["succeeded"] == 1
    # The chart's own Deployment, as helm installed it, rolled out before "running" was said.
    released = kubectl_json(harmony, "get", "deployment", "status", "-n", "shop", "--show-managed-fields")
    assert released["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert released["metadata"]["annotations"] == {"meta.helm.sh/release-name": "status",
                                                   "meta.helm.sh/release-namespace": "shop"}
    assert [m["manager"] for m in released["metadata"]["managedFields"]] == ["helm"]
    assert released["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MESSAGE", "value": "open for business"}]
    assert released["status"]["availableReplicas"] == 1
    redis = kubectl_json(harmony, "get", "deployment", "redis", "-n", "shop")
    assert redis["spec"]["replicas"] == 2 and redis["metadata"]["labels"]["tier"] == "cache"
    # The NodePort, at the address the controller reaches the cluster at (here, as published).
    assert "reach web: Service/web in shop: 127.0.0.1:30080" in up.stdout
    deployment = kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")
    assert deployment["status"]["availableReplicas"] == 2
    job = kubectl_json(harmony, "get", "job", "migrate", "-n", "shop")
    assert job["status"]["succeeded"] == 1
    version = deployment["metadata"]["resourceVersion"]

    again = harmony("up", "--yes", cwd=root)
    assert "workload web: 5 unchanged; running" in again.stdout, again.stdout + again.stderr
    assert "workload cache: 2 unchanged; running" in again.stdout
    assert "workload status: 1 unchanged; running" in again.stdout
    assert kubectl_json(harmony, "get", "job", "helm-install-status", "-n", "kube-system")["metadata"]["uid"] == \
        install["metadata"]["uid"]  # an unchanged chart is not installed again
    assert kubectl_json(harmony, "get", "deployment", "status", "-n", "shop")["metadata"]["resourceVersion"] == \
        released["metadata"]["resourceVersion"]  # nor its release written again
    # --json: every object, what happened to it, and how to reach what runs (docs/workloads.md).
    report = json.loads(harmony("up", "--yes", "--json", cwd=root).stdout)
    assert report["ok"] and report["workloads"]["failures"] == []
    assert {(o["workload"], o["kind"], o["name"], o["namespace"], o["action"]) for o in report["workloads"]["objects"]} == {
        ("web", "Namespace", "shop", None, "unchanged"), ("web", "ConfigMap", "web-content", "shop", "unchanged"),
        ("web", "Deployment", "web", "shop", "unchanged"), ("web", "Service", "web", "shop", "unchanged"),
        ("web", "Job", "migrate", "shop", "unchanged"), ("cache", "Deployment", "redis", "shop", "unchanged"),
        ("cache", "Service", "redis", "shop", "unchanged"), ("status", "HelmChart", "status", "kube-system", "unchanged")}
    assert report["workloads"]["reach"] == ["reach web: Service/web in shop: 127.0.0.1:30080"]

    # A changed chart (its values here) is installed again: up waits for the new install Job.
    edit(root / "harmony.yaml", "open for business", "closed for stocktaking")
    assert "workload status: 1 to change" in harmony("plan", cwd=root).stdout
    changed = harmony("up", "--yes", cwd=root)
    assert "workload status: 1 changed; running" in changed.stdout, changed.stdout + changed.stderr
    reinstall = kubectl_json(harmony, "get", "job", "helm-install-status", "-n", "kube-system")
    assert reinstall["metadata"]["uid"] != install["metadata"]["uid"] and reinstall["status"]["succeeded"] == 1
    upgraded = kubectl_json(harmony, "get", "deployment", "status", "-n", "shop")  # and its release, rolled out again
    assert upgraded["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "closed for stocktaking"
    assert upgraded["metadata"]["generation"] == 2 and upgraded["status"]["availableReplicas"] == 1
    assert kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")["metadata"]["resourceVersion"] == version
    assert harmony("check", cwd=root).returncode == 0

    # A changed manifest: planned, drift for check, applied by up.
    edit(root / "k8s" / "web.yaml", "replicas: 2", "replicas: 3")
    plan = harmony("plan", cwd=root)
    assert "workload web: 1 to change, 4 unchanged" in plan.stdout, plan.stdout + plan.stderr
    check = harmony("check", cwd=root)
    assert check.returncode == 1 and "workload web: would change Deployment/web in shop" in check.stdout
    assert "1 changed, 4 unchanged; running" in harmony("up", "--yes", cwd=root).stdout
    assert kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")["spec"]["replicas"] == 3

    # A hand edit in the cluster is drift, and put back.
    assert harmony.kubectl("--context", "shop", "patch", "deployment", "web", "-n", "shop", "--type=merge",
                           "-p", '{"spec":{"replicas":7}}').returncode == 0
    assert "would change Deployment/web in shop" in harmony("check", cwd=root).stdout
    assert "1 changed" in harmony("up", "--yes", cwd=root).stdout
    assert kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")["spec"]["replicas"] == 3

    # A changed Job: its template is immutable, so it is replaced, and its new run waited for.
    first_run = kubectl_json(harmony, "get", "job", "migrate", "-n", "shop")["metadata"]["uid"]
    edit(root / "k8s" / "migrate.yaml", "echo migrated", "echo migrated again")
    assert "workload web: 1 to replace, 4 unchanged" in harmony("plan", cwd=root).stdout
    assert "would replace Job/migrate in shop" in harmony("check", cwd=root).stdout
    replaced = harmony("up", "--yes", cwd=root)
    assert "workload web: 1 replaced, 4 unchanged; running" in replaced.stdout, replaced.stdout + replaced.stderr
    rerun = kubectl_json(harmony, "get", "job", "migrate", "-n", "shop")
    assert rerun["metadata"]["uid"] != first_run and rerun["status"]["succeeded"] == 1
    assert "again" in json.dumps(rerun["spec"]["template"])

    # A manifest removed: its object is pruned (k3s's manifests directory would leave it).
    (root / "k8s" / "migrate.yaml").unlink()
    assert "would prune Job/migrate in shop" in harmony("check", cwd=root).stdout
    pruned = harmony("up", "--yes", cwd=root)
    assert "workload web: 1 pruned, 4 unchanged; running" in pruned.stdout, pruned.stdout + pruned.stderr
    assert harmony.kubectl("--context", "shop", "get", "job", "migrate", "-n", "shop").returncode == 1

    # A workload removed from harmony.yaml: all of it goes, its namespace last.
    spec = yaml.safe_load((root / "harmony.yaml").read_text())
    spec["workloads"] = []
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))
    gone = harmony("up", "--yes", cwd=root)
    assert "workload web: 4 pruned" in gone.stdout, gone.stdout + gone.stderr
    assert "workload cache: 2 pruned" in gone.stdout
    assert "workload status: 1 pruned" in gone.stdout
    assert harmony.kubectl("--context", "shop", "get", "job", "helm-install-status", "-n", "kube-system").returncode == 1
    # A namespace is Terminating a while, as in a real cluster, then gone.
    assert until(lambda: harmony.kubectl("--context", "shop", "get", "namespace", "shop").returncode == 1, 15)
    assert "workload" not in harmony("up", "--yes", cwd=root).stdout  # and nothing is left to say


BROKEN = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: crashes, namespace: shop}
spec:
  selector: {matchLabels: {app: crashes}}
  template:
    metadata: {labels: {app: crashes}}
    spec: {containers: [{name: app, image: registry.example/crashing:2}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: nowhere, namespace: shop}
spec:
  selector: {matchLabels: {app: nowhere}}
  template:
    metadata: {labels: {app: nowhere}}
    spec:
      nodeSelector: {disk: ssd}
      containers: [{name: db, image: postgres:16}]
"""


def test_what_does_not_run_fails_the_run_with_the_clusters_reasons(host, harmony, tmp_path):
    root = project(tmp_path, host, harmony, wait_timeout=20)
    edit(root / "k8s" / "web.yaml", "image: nginx:1.27-alpine", "image: registry.example/unpullable:1")
    edit(root / "k8s" / "migrate.yaml", '"echo migrated"', '"echo failing; exit 1"')
    (root / "k8s" / "broken.yaml").write_text(BROKEN)
    spec = yaml.safe_load((root / "harmony.yaml").read_text())
    spec["workloads"][2]["helm"]["values"]["standin-install"] = "fail"  # the stand-in's install fails
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "workload web: 7 created; not running" in up.stdout
    lines = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in up.stdout.splitlines()
             if line.startswith(("workload web: ", "workload status: ")) and " in " in line.split(": ")[1]}
    assert re.fullmatch(r"not rolled out within 20 s: Job helm-install-status: 1 pod\(s\) active, 3 failed attempt\(s\), "
                        r"not complete; pod helm-install-status-\S+: container helm exited with 1; its log ends: "
                        r"helm_v3 upgrade --install \| Error: INSTALLATION FAILED: the stand-in was told to fail "
                        r"\(standin-install: fail\)", lines["HelmChart/status in kube-system"])
    assert re.fullmatch(r"BackoffLimitExceeded: Job has reached the specified backoff limit; pod migrate-\S+: container "
                        r"migrate exited with 1; its log ends: running the job's command \| error: the command "
                        r"exited with status 1", lines["Job/migrate in shop"])
    assert re.fullmatch(r'not rolled out within 20 s: Waiting for deployment "web" rollout to finish: 0 of 2 updated '
                        r'replicas are available\.\.\.; pod web-\S+: ImagePullBackOff: Back-off pulling image '
                        r'"registry.example/unpullable:1"', lines["Deployment/web in shop"])
    assert re.fullmatch(r'not rolled out within 20 s: Waiting for deployment "crashes" rollout to finish: 0 of 1 updated '
                        r"replicas are available\.\.\.; pod crashes-\S+: CrashLoopBackOff: back-off 40s "
                        r"restarting failed container=app pod=crashes-\S+; its log ends: starting "
                        r"registry.example/crashing:2 \| error: cannot start: the image is marked crashing \| exiting",
                        lines["Deployment/crashes in shop"])
    assert re.fullmatch(r"not rolled out within 20 s: Waiting for 1 pods to be ready\.\.\.; pod nowhere-0: Unschedulable: 0/1 nodes are "
                        r"available: 1 node\(s\) didn't match Pod's node affinity/selector.*", lines["StatefulSet/nowhere in shop"])
    assert "reach web" not in up.stdout  # nothing is said to be reachable that does not run
    assert up.stderr.strip().endswith("harmony: error: 2 workload(s) not running: status, web")


def test_a_deployment_past_its_progress_deadline_fails_the_run_at_once(host, harmony, tmp_path):
    root = project(tmp_path, host, harmony, wait_timeout=600)
    edit(root / "k8s" / "web.yaml", "  replicas: 2\n", "  replicas: 2\n  progressDeadlineSeconds: 5\n")
    edit(root / "k8s" / "web.yaml", "image: nginx:1.27-alpine", "image: registry.example/unpullable:1")
    started = time.monotonic()
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 1, up.stdout + up.stderr
    assert time.monotonic() - started < 300  # not the wait's 600 s: the deadline ends it (the rest runs)
    (line,) = [line for line in up.stdout.splitlines() if line.startswith("workload web: Deployment/web in shop: ")]
    assert re.fullmatch(r'workload web: Deployment/web in shop: deployment "web" exceeded its progress deadline: '
                        r'ReplicaSet "web-\S+" has timed out progressing\.; pod web-\S+: ImagePullBackOff: Back-off pulling '
                        r'image "registry.example/unpullable:1"', line)
    assert "workload cache: 2 created; running" in up.stdout and "workload status: 1 created; running" in up.stdout
    assert up.stderr.strip().endswith("harmony: error: 1 workload(s) not running: web")


def test_a_stop_while_waiting_for_the_workloads_ends_the_run_and_the_next_up_converges(host, harmony, tmp_path):
    root = project(tmp_path, host, harmony, wait_timeout=300)
    edit(root / "k8s" / "web.yaml", "image: nginx:1.27-alpine", "image: registry.example/unpullable:1")
    run = harmony.spawn("up", "--yes", cwd=root)
    out, err = interrupt_when(  # 2 s on, the rest of the objects are applied: it waits for the rollouts
        run, lambda: harmony.kubectl("--context", "shop", "get", "deployment", "web", "-n", "shop").returncode == 0,
        "the workload was never applied", timeout=120, settle=2, ends_within=30)
    assert run.returncode == 130, out + err
    assert ("harmony: error: stopped by SIGINT during 'waiting for the workloads' rollouts': what is done stays; "
            "run the command again to converge the rest") in err
    assert not lease(harmony)  # a stopped run lets go of the workloads
    edit(root / "k8s" / "web.yaml", "image: registry.example/unpullable:1", "image: nginx:1.27-alpine")
    up = harmony("up", "--yes", cwd=root)
    assert "workload web: 1 changed, 4 unchanged; running" in up.stdout, up.stdout + up.stderr


def lease(harmony) -> dict | None:
    """The Lease of the run applying the cluster's workloads, or None."""
    found = harmony.kubectl("--context", "shop", "get", "lease", "harmony-workloads", "-n", "kube-system", "-o", "json")
    return json.loads(found.stdout) if found.returncode == 0 else None


def test_a_run_waits_for_another_runs_hold_on_the_workloads_and_takes_over_a_dead_ones(host, harmony, tmp_path):
    """Another run applying the cluster's workloads (its Lease, planted here: a run from another
    machine, or against another server of the cluster, whose hosts' run does not share this
    one's host lock) makes `up` wait, then fail naming it; a hold its run stopped renewing is
    taken over."""
    root = project(tmp_path, host, harmony)
    assert harmony("up", "--yes", cwd=root).returncode == 0
    assert not lease(harmony)  # let go at the end
    now = datetime.datetime.now(datetime.timezone.utc)
    held = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "harmony-workloads", "namespace": "kube-system"},
            "spec": {"holderIdentity": "ops@laptop pid 4242 run 1a2b3c4d", "leaseDurationSeconds": 30,
                     "acquireTime": now.strftime(MICRO_TIME), "renewTime": now.strftime(MICRO_TIME)}}
    (tmp_path / "lease.json").write_text(json.dumps(held))
    assert harmony.kubectl("--context", "shop", "create", "-f", str(tmp_path / "lease.json")).returncode == 0
    edit(root / "k8s" / "web.yaml", "replicas: 2", "replicas: 3")
    waited = harmony("up", "--yes", "--set", "harmony_lock_wait=3", cwd=root)
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert ("harmony: error: another harmony run (ops@laptop pid 4242 run 1a2b3c4d) has been applying this "
            f"cluster's workloads since {now.strftime(MICRO_TIME)}: waited 3 s for it (harmony_lock_wait); try "
            "again when it ends") in waited.stderr
    assert kubectl_json(harmony, "get", "deployment", "web", "-n", "shop")["spec"]["replicas"] == 2  # untouched

    stale = (now - datetime.timedelta(minutes=1)).strftime(MICRO_TIME)  # as if its run was killed a minute ago
    patched = harmony.kubectl("--context", "shop", "patch", "lease", "harmony-workloads", "-n", "kube-system",
                              "--type", "merge", "-p", json.dumps({"spec": {"renewTime": stale}}))
    assert patched.returncode == 0, patched.stderr
    taken = harmony("up", "--yes", cwd=root)
    assert taken.returncode == 0 and "workload web: 1 changed, 4 unchanged; running" in taken.stdout, \
        taken.stdout + taken.stderr
    assert not lease(harmony)


def test_a_manifest_that_is_not_yaml_stops_before_any_host(host, harmony, tmp_path):
    root = project(tmp_path, host, harmony)
    (root / "k8s" / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n")
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 2
    assert up.stderr.strip().startswith(f"harmony: error: {root / 'k8s' / 'broken.yaml'}:4: not valid YAML")
    (root / "k8s" / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n---\nkind: Secret\n")
    up = harmony("up", "--yes", cwd=root)
    assert up.returncode == 2
    assert f"{root / 'k8s' / 'broken.yaml'}: document 1: a Kubernetes object needs metadata.name" in up.stderr
    assert_untouched(host)
