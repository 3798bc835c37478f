"""Waiting until the workloads run: every Deployment, StatefulSet and DaemonSet rolled out,
every Job complete, every Helm chart installed and its own workloads rolled out, within the
run's wait timeout, as `kubectl rollout status` judges them. A Job that failed, or a Deployment
past its progress deadline, ends the wait at once; anything else not there by the deadline is
reported with what the cluster says of it, down to its first pod in trouble (`explain`): a
container's waiting reason and message (ImagePullBackOff and the image), the last lines of the
log of one that crashes or failed, or the scheduler's message for a pod it cannot place.

The rollouts are judged by a port of kubectl's own status viewers, so that "running" means
what `kubectl rollout status` would say: k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go
(`DeploymentStatusViewer.Status`, `DaemonSetStatusViewer.Status`, `StatefulSetStatusViewer.Status`),
with the Progressing condition found as `deploymentutil.GetDeploymentCondition`
(pkg/util/deployment/deployment.go) finds it; the messages are kubectl's. Two choices of ours:
- kubectl reads objects the API has defaulted; the defaults those viewers look at are applied
  here too (k8s.io/kubernetes pkg/apis/apps/v1/defaults.go: `SetDefaults_Deployment`,
  `SetDefaults_StatefulSet`, `SetDefaults_DaemonSet`), which changes nothing for what a real API
  returns, and judges an object read without them as the API would show it;
- a StatefulSet or DaemonSet whose update strategy is not RollingUpdate (OnDelete) has no
  rollout to follow: kubectl's viewer answers "done" together with the error "rollout status
  is only available for RollingUpdate strategy type" (and `kubectl rollout status` exits 1 on
  it); harmony takes the "done", since such a workload is updated only as its pods are deleted,
  and failing every `up` of it would make a valid strategy unusable.
Jobs are not kubectl's to judge there: one is done when its Complete condition is True, failed
when its Failed condition is."""

from __future__ import annotations

import time
from dataclasses import dataclass

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "HelmChart")
POLL_SECONDS = 1.0
LOG_LINES = 3
ROLLING_UPDATE = "RollingUpdate"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"  # deploymentutil.TimedOutReason
# How Helm marks what a release installs (helm/helm pkg/action/validate.go: appManagedByLabel,
# helmReleaseNameAnnotation, helmReleaseNamespaceAnnotation), as helm-controller's install runs it.
MANAGED_BY_HELM = "app.kubernetes.io/managed-by=Helm"
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
RELEASE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class Failure:
    workload: str
    object: str  # Kind/name in namespace
    reason: str

    @property
    def line(self) -> str:
        return f"workload {self.workload}: {self.object}: {self.reason}"


def state(obj: dict) -> tuple[str, str]:
    """("done" | "waiting" | "failed", why) of one object, from its status: a Job by its
    conditions, the others as kubectl's status viewer for the kind judges them."""
    if obj["kind"] == "Job":
        return _job(obj)
    viewer = {"Deployment": _deployment, "DaemonSet": _daemon_set, "StatefulSet": _stateful_set}[obj["kind"]]
    metadata, status = obj.get("metadata") or {}, obj.get("status") or {}
    return viewer(metadata.get("name", ""), metadata.get("generation", 0), _defaulted(obj), status)


def _job(obj: dict) -> tuple[str, str]:
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if conditions.get("Complete", {}).get("status") == "True":
        return "done", "complete"
    failed = conditions.get("Failed", {})
    if failed.get("status") == "True":
        return "failed", f"{failed.get('reason', 'Failed')}: {failed.get('message', 'the Job failed')}"
    retried = f", {status['failed']} failed attempt(s)" if status.get("failed") else ""
    return "waiting", f"{status.get('active', 0)} pod(s) active{retried}, not complete"


def _defaulted(obj: dict) -> dict:
    """The object's spec with the API's defaults that the viewers read: replicas 1, update
    strategy RollingUpdate, and a StatefulSet's partition 0 (SetDefaults_* in apps/v1)."""
    kind, spec = obj["kind"], dict(obj.get("spec") or {})
    if kind != "DaemonSet":
        spec.setdefault("replicas", 1)
    if kind == "Deployment":
        return spec
    strategy = dict(spec.get("updateStrategy") or {})
    if not strategy.get("type"):
        strategy["type"] = ROLLING_UPDATE
        if kind == "StatefulSet":
            strategy.setdefault("rollingUpdate", {})
    rolling = strategy.get("rollingUpdate")
    if kind == "StatefulSet" and strategy["type"] == ROLLING_UPDATE and rolling is not None:
        strategy["rollingUpdate"] = {"partition": 0, **rolling}
    return {**spec, "updateStrategy": strategy}


def _deployment(name: str, generation: int, spec: dict, status: dict) -> tuple[str, str]:
    """kubectl's DeploymentStatusViewer.Status; its error (the progress deadline) is "failed"."""
    if generation > status.get("observedGeneration", 0):
        return "waiting", "Waiting for deployment spec update to be observed..."
    progressing = _condition(status, "Progressing")
    if progressing and progressing.get("reason") == TIMED_OUT_REASON:
        said = f": {progressing['message']}" if progressing.get("message") else ""
        return "failed", f'deployment "{name}" exceeded its progress deadline{said}'
    replicas, updated = spec["replicas"], status.get("updatedReplicas", 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < replicas:
        return "waiting", f"{waiting}{updated} out of {replicas} new replicas have been updated..."
    if status.get("replicas", 0) > updated:
        return "waiting", f"{waiting}{status['replicas'] - updated} old replicas are pending termination..."
    if status.get("availableReplicas", 0) < updated:
        return "waiting", f"{waiting}{status.get('availableReplicas', 0)} of {updated} updated replicas are available..."
    return "done", f'deployment "{name}" successfully rolled out'


def _condition(status: dict, kind: str) -> dict | None:
    """deploymentutil.GetDeploymentCondition: the first condition of that type."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def _daemon_set(name: str, generation: int, spec: dict, status: dict) -> tuple[str, str]:
    """kubectl's DaemonSetStatusViewer.Status."""
    if spec["updateStrategy"]["type"] != ROLLING_UPDATE:
        return "done", f"rollout status is only available for {ROLLING_UPDATE} strategy type"
    if generation > status.get("observedGeneration", 0):
        return "waiting", "Waiting for daemon set spec update to be observed..."
    desired, waiting = status.get("desiredNumberScheduled", 0), f'Waiting for daemon set "{name}" rollout to finish: '
    if status.get("updatedNumberScheduled", 0) < desired:
        return "waiting", f"{waiting}{status.get('updatedNumberScheduled', 0)} out of {desired} new pods have been updated..."
    if status.get("numberAvailable", 0) < desired:
        return "waiting", f"{waiting}{status.get('numberAvailable', 0)} of {desired} updated pods are available..."
    return "done", f'daemon set "{name}" successfully rolled out'


def _stateful_set(name: str, generation: int, spec: dict, status: dict) -> tuple[str, str]:
    """kubectl's StatefulSetStatusViewer.Status."""
    strategy = spec["updateStrategy"]
    if strategy["type"] != ROLLING_UPDATE:
        return "done", f"rollout status is only available for {ROLLING_UPDATE} strategy type"
    observed = status.get("observedGeneration", 0)
    if observed == 0 or generation > observed:
        return "waiting", "Waiting for statefulset spec update to be observed..."
    replicas, updated = spec["replicas"], status.get("updatedReplicas", 0)
    if status.get("readyReplicas", 0) < replicas:
        return "waiting", f"Waiting for {replicas - status.get('readyReplicas', 0)} pods to be ready..."
    if strategy.get("rollingUpdate") is not None:
        partition = strategy["rollingUpdate"].get("partition")
        if partition is not None and updated < replicas - partition:
            return "waiting", (f"Waiting for partitioned roll out to finish: {updated} out of {replicas - partition} "
                               "new pods have been updated...")
        return "done", f"partitioned roll out complete: {updated} new pods have been updated..."
    update, current = status.get("updateRevision", ""), status.get("currentRevision", "")
    if update != current:
        return "waiting", f"waiting for statefulset rolling update to complete {updated} pods at revision {update}..."
    return "done", f"statefulset rolling update complete {status.get('currentReplicas', 0)} pods at revision {current}..."


def wait(cluster, steps, timeout: float, check=lambda doing: None) -> list[Failure]:
    """Poll the steps' rollouts until each is done or failed, or `timeout` seconds pass;
    `check` is called before each poll (harmony.stopping)."""
    deadline = time.monotonic() + timeout
    failures, waiting = _look(cluster, steps)
    while waiting and time.monotonic() < deadline:
        check("waiting for the workloads' rollouts")
        time.sleep(POLL_SECONDS)
        more, waiting = _look(cluster, [step for step, _, _ in waiting])
        failures += more
    return failures + [Failure(s.workload, s.label, _explained(cluster, f"not rolled out within {timeout:g} s: {why}", live))
                       for s, why, live in waiting]


def now(cluster, steps) -> list[Failure]:
    """The steps' rollouts that are not complete now, and why."""
    failures, waiting = _look(cluster, steps)
    return failures + [Failure(s.workload, s.label, _explained(cluster, f"not rolled out: {why}", live))
                       for s, why, live in waiting]


def _look(cluster, steps):
    """(failed, [(step, why, the object that says so)] still rolling out) of the steps whose
    kind rolls out."""
    failures, waiting = [], []
    for step in steps:
        if step.kind not in KINDS or step.action == "prune":
            continue
        verdict, why, live = _verdict(cluster, step)
        if verdict == "failed":
            failures.append(Failure(step.workload, step.label, _explained(cluster, why, live)))
        elif verdict == "waiting":
            waiting.append((step, why, live))
    return failures, waiting


def _verdict(cluster, step) -> tuple[str, str, dict | None]:
    """(verdict, why, the object whose pods explain it) of a step: a HelmChart's is its
    install Job's, then its release's workloads' in turn; any other's its own."""
    if step.kind != "HelmChart":
        live = cluster.get(step.resource, step.name, step.namespace)
        return (*state(live), live) if live else ("waiting", "not found", None)
    job = cluster.install_job(step)
    verdict, why = _install_state(step, job)
    if verdict != "done":
        return verdict, why, job
    for workload in _release_workloads(cluster, step.name, _target_namespace(step)):
        verdict, why = state(workload)
        if verdict != "done":
            metadata = workload["metadata"]
            label = f"{workload['kind']}/{metadata['name']} in {metadata['namespace']}"
            return verdict, f"release {step.name}: {label}: {why}", workload
    return "done", why, job


def _install_state(step, job: dict | None) -> tuple[str, str]:
    """A HelmChart is installed once helm-controller's Job for this apply of it has completed:
    not the Job it replaces (which still shows the previous install's outcome)."""
    if job is None:
        return "waiting", "helm-controller has not made its install Job yet"
    if step.replaces and job["metadata"].get("uid") == step.replaces:
        return "waiting", "helm-controller has not replaced its install Job for the change yet"
    verdict, why = state(job)
    return verdict, f"Job {job['metadata']['name']}: {why}"


def _target_namespace(step) -> str:
    """Where helm-controller installs the chart: its spec.targetNamespace, else the HelmChart's
    own namespace (k3s-io/helm-controller pkg/controllers/chart/chart.go, `job`)."""
    return ((step.body or {}).get("spec") or {}).get("targetNamespace") or step.namespace


def _release_workloads(cluster, release: str, namespace: str) -> list[dict]:
    """The Deployments, StatefulSets and DaemonSets of a Helm release, as Helm marks what it
    installs. helm-controller names the release after the HelmChart (its install Job's NAME is
    the chart's name: k3s-io/helm-controller pkg/controllers/chart/chart.go, `job`)."""
    found = []
    for kind in RELEASE_KINDS:
        resource = cluster.client.resources.get(api_version="apps/v1", kind=kind)
        for item in resource.get(namespace=namespace, label_selector=MANAGED_BY_HELM).items:
            obj = {**item.to_dict(), "kind": kind}  # a list's items need not say their kind
            annotations = obj["metadata"].get("annotations") or {}
            if annotations.get(RELEASE_NAME) == release and annotations.get(RELEASE_NAMESPACE) == namespace:
                found.append(obj)
    return found


def _explained(cluster, why: str, live: dict | None) -> str:
    found = explain(cluster, live) if live else None
    return f"{why}; {found}" if found else why


def explain(cluster, live: dict) -> str | None:
    """What the first of the object's pods that does not run says of itself, or None."""
    metadata = live["metadata"]
    if live["kind"] == "Job":
        selector = f"job-name={metadata['name']}"
    else:
        labels = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        if not selector:
            return None
    for pod in cluster.pods(metadata.get("namespace"), selector):
        name, status = pod["metadata"]["name"], pod.get("status") or {}
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return f"pod {name}: {condition.get('reason', 'not scheduled')}: {condition.get('message', '')}".rstrip(": ")
        for container in status.get("containerStatuses") or []:
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
            if waiting.get("reason") and waiting["reason"] != "ContainerCreating":
                said = f"pod {name}: {waiting['reason']}" + (f": {waiting['message']}" if waiting.get("message") else "")
                if waiting["reason"] == "CrashLoopBackOff":
                    said += _log_tail(cluster, pod, container["name"], previous=True)
                return said
            if terminated.get("exitCode"):
                return (f"pod {name}: container {container['name']} exited with {terminated['exitCode']}"
                        + _log_tail(cluster, pod, container["name"], previous=False))
    return None


def _log_tail(cluster, pod: dict, container: str, previous: bool) -> str:
    metadata = pod["metadata"]
    lines = cluster.log(metadata["namespace"], metadata["name"], container, LOG_LINES, previous).splitlines()
    return f"; its log ends: {' | '.join(lines)}" if lines else ""
