"""Waiting until the workloads run: every Deployment, StatefulSet and DaemonSet rolled out,
every Job complete, within the run's wait timeout, as `kubectl rollout status` judges them.
A Job that failed ends the wait at once; anything else not there by the deadline is reported
with what the cluster says of it."""

from __future__ import annotations

import time
from dataclasses import dataclass

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Failure:
    workload: str
    object: str  # Kind/name in namespace
    reason: str


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
        return "waiting", f"{status.get('active', 0)} pod(s) active, not complete"
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


def wait(cluster, steps, timeout: float) -> list[Failure]:
    """Poll the steps' rollouts until each is done or failed, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    failures, waiting = _look(cluster, steps)
    while waiting and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        more, waiting = _look(cluster, [step for step, _ in waiting])
        failures += more
    return failures + [Failure(s.workload, s.label, f"not rolled out within {timeout:g} s: {why}") for s, why in waiting]


def now(cluster, steps) -> list[Failure]:
    """The steps' rollouts that are not complete now, and why."""
    failures, waiting = _look(cluster, steps)
    return failures + [Failure(s.workload, s.label, f"not rolled out: {why}") for s, why in waiting]


def _look(cluster, steps):
    """(failed, [(step, why)] still rolling out) of the steps whose kind rolls out."""
    failures, waiting = [], []
    for step in steps:
        if step.kind not in KINDS or step.action == "prune":
            continue
        live = cluster.get(step.resource, step.name, step.namespace)
        verdict, why = state(live) if live else ("waiting", "not found")
        if verdict == "failed":
            failures.append(Failure(step.workload, step.label, why))
        elif verdict == "waiting":
            waiting.append((step, why))
    return failures, waiting
