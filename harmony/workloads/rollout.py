"""Waiting until the workloads run: every Deployment, StatefulSet and DaemonSet rolled out,
every Job complete, within the run's wait timeout, as `kubectl rollout status` judges them.
A Job that failed ends the wait at once; anything else not there by the deadline is reported
with what the cluster says of it, down to its first pod in trouble (`explain`): a container's
waiting reason and message (ImagePullBackOff and the image), the last lines of the log of one
that crashes or failed, or the scheduler's message for a pod it cannot place."""

from __future__ import annotations

import time
from dataclasses import dataclass

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "HelmChart")
POLL_SECONDS = 1.0
LOG_LINES = 3


@dataclass(frozen=True)
class Failure:
    workload: str
    object: str  # Kind/name in namespace
    reason: str

    @property
    def line(self) -> str:
        return f"workload {self.workload}: {self.object}: {self.reason}"


def state(obj: dict) -> tuple[str, str]:
    """("done" | "waiting" | "failed", why) of one object, from its status."""
    kind, spec, status = obj["kind"], obj.get("spec") or {}, obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation", 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if kind == "Job":
        if conditions.get("Complete", {}).get("status") == "True":
            return "done", "complete"
        failed = conditions.get("Failed", {})
        if failed.get("status") == "True":
            return "failed", f"{failed.get('reason', 'Failed')}: {failed.get('message', 'the Job failed')}"
        retried = f", {status['failed']} failed attempt(s)" if status.get("failed") else ""
        return "waiting", f"{status.get('active', 0)} pod(s) active{retried}, not complete"
    if status.get("observedGeneration", 0) < generation:
        return "waiting", "its controller has not seen the latest spec yet"
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        have = min(status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0))
    else:
        want = int(spec.get("replicas", 1))
        have = min(status.get("updatedReplicas", 0),
                   status.get("availableReplicas" if kind == "Deployment" else "readyReplicas", 0))
    if have >= want:
        return "done", f"{want} of {want} ready"
    available = conditions.get("Available", {})
    detail = f" ({available['reason']}{': ' + available['message'] if available.get('message') else ''})" \
        if available.get("status") == "False" and available.get("reason") else ""
    return "waiting", f"{have} of {want} ready{detail}"


def wait(cluster, steps, timeout: float, check=lambda doing: None) -> list[Failure]:
    """Poll the steps' rollouts until each is done or failed, or `timeout` seconds pass;
    `check` is called before each poll (harmony.stopping)."""
    deadline = time.monotonic() + timeout
    failures, waiting = _look(cluster, steps)
    while waiting and time.monotonic() < deadline:
        check("waiting for the workloads' rollouts")
        time.sleep(POLL_SECONDS)
        more, waiting = _look(cluster, [step for step, _ in waiting])
        failures += more
    return failures + [Failure(s.workload, s.label, _with_pods(cluster, s, f"not rolled out within {timeout:g} s: {why}"))
                       for s, why in waiting]


def now(cluster, steps) -> list[Failure]:
    """The steps' rollouts that are not complete now, and why."""
    failures, waiting = _look(cluster, steps)
    return failures + [Failure(s.workload, s.label, _with_pods(cluster, s, f"not rolled out: {why}"))
                       for s, why in waiting]


def _look(cluster, steps):
    """(failed, [(step, why)] still rolling out) of the steps whose kind rolls out."""
    failures, waiting = [], []
    for step in steps:
        if step.kind not in KINDS or step.action == "prune":
            continue
        live = _judged(cluster, step)
        verdict, why = _install_state(step, live) if step.kind == "HelmChart" else \
            state(live) if live else ("waiting", "not found")
        if verdict == "failed":
            failures.append(Failure(step.workload, step.label, _with_pods(cluster, step, why, live)))
        elif verdict == "waiting":
            waiting.append((step, why))
    return failures, waiting


def _judged(cluster, step) -> dict | None:
    """The object whose status says whether `step` runs: a HelmChart's install Job, else its own."""
    return cluster.install_job(step) if step.kind == "HelmChart" else cluster.get(step.resource, step.name, step.namespace)


def _install_state(step, job: dict | None) -> tuple[str, str]:
    """A HelmChart is installed once helm-controller's Job for this apply of it has completed:
    not the Job it replaces (which still shows the previous install's outcome)."""
    if job is None:
        return "waiting", "helm-controller has not made its install Job yet"
    if step.replaces and job["metadata"].get("uid") == step.replaces:
        return "waiting", "helm-controller has not replaced its install Job for the change yet"
    verdict, why = state(job)
    return verdict, f"Job {job['metadata']['name']}: {why}"


def _with_pods(cluster, step, why: str, live: dict | None = None) -> str:
    live = live or _judged(cluster, step)
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
