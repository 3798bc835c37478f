"""The HorizontalPodAutoscaler controller of kube-controller-manager
(pkg/controller/podautoscaler/horizontal.go, replica_calculator.go; kubernetes.io/docs/tasks/
run-application/horizontal-pod-autoscale/), for autoscaling/v2 and v1 objects alike. Every
HPA_SECONDS (--horizontal-pod-autoscaler-sync-period, 15 s) it reads its target's replicas
through the scale subresource and writes the ones it wants there, as the manager
`kube-controller-manager` (an Update of the subresource `scale`):

- a target at 0 replicas is left alone (scaling disabled) while minReplicas is not 0;
- above maxReplicas or below minReplicas (default 1), it is brought within them;
- else the replicas follow the ratio of the pods' CPU utilization to the target utilization
  (spec.metrics' cpu averageUtilization in v2, targetCPUUtilizationPercentage in v1, default
  80): ceil(ratio * replicas), unchanged within the 10% tolerance; a scale-down takes the
  highest recommendation of the stabilization window (spec.behavior.scaleDown, default 300 s).

DEPARTURE: there is no metrics server. The pods' average CPU utilization, in percent of their
request, is what the HPA's annotation LOAD_ANNOTATION says (say "160"); without it the
metrics are unavailable, as on a cluster without metrics-server: only min and max apply, and
the condition ScalingActive is False (FailedGetResourceMetric). Scale-up rate limits
(behavior.scaleUp policies) are not applied."""

from __future__ import annotations

import math
import os
import time

from .clock import now
from .fields import update

LOAD_ANNOTATION = "standin.harmony.dev/cpu-utilization"
MANAGER = "kube-controller-manager"
TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance


def sync_seconds() -> float:
    return float(os.environ.get("HARMONY_STANDIN_HPA_SECONDS", "15"))


def target_utilization(spec: dict) -> int:
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            return int((resource.get("target") or {}).get("averageUtilization", 80))
    return int(spec.get("targetCPUUtilizationPercentage", 80))


def recommend(hpa: dict, current: int) -> tuple[int | None, str]:
    """The replicas the metrics ask for (None: no metrics), and why."""
    load = (hpa["metadata"].get("annotations") or {}).get(LOAD_ANNOTATION)
    if load is None:
        return None, "FailedGetResourceMetric"
    ratio = float(load) / target_utilization(hpa.get("spec") or {})
    return (current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * current)), "ValidMetricFound"


def desired(hpa: dict, current: int, history: list, at: float) -> tuple[int, dict]:
    """The replicas to scale to, and the conditions that say why; `history` keeps
    [time, recommendation] pairs for the stabilization window."""
    spec = hpa.get("spec") or {}
    low, high = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
    if current == 0 and low != 0:
        return 0, {"ScalingActive": ("False", "ScalingDisabled")}
    wanted, reason = recommend(hpa, current)
    conditions = {"ScalingActive": ("True" if wanted is not None else "False", reason)}
    if wanted is not None:
        window = int(((spec.get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds", 300))
        history[:] = [h for h in history if at - h[0] < window] + [[at, wanted]]
        if wanted < current:
            wanted = min(current, max(h[1] for h in history))
    target = current if wanted is None else wanted
    limited = "TooFewReplicas" if target < low else "TooManyReplicas" if target > high else "DesiredWithinRange"
    conditions["ScalingLimited"] = ("False" if limited == "DesiredWithinRange" else "True", limited)
    return min(max(target, low), high), conditions


def sync(hpa: dict, target: dict, history: list, schemas: tuple[dict, dict]) -> tuple[dict | None, dict]:
    """One pass over an HPA: its target with the replicas it wants (None: unchanged), and the
    HPA with its new status (written by the controller through the status subresource);
    `schemas`: the HPA's and the target's."""
    current = int((target.get("spec") or {}).get("replicas", 1))
    at = time.time()
    replicas, conditions = desired(hpa, current, history, at)
    scaled = None
    if replicas != current:
        changed = {**target, "spec": {**target["spec"], "replicas": replicas}}
        scaled = update(target, changed, MANAGER, schemas[1], subresource="scale")
    old = hpa.get("status") or {}
    status = {"currentReplicas": current, "desiredReplicas": replicas,
              **({"lastScaleTime": now()} if scaled else {"lastScaleTime": old["lastScaleTime"]}
                 if "lastScaleTime" in old else {}),
              "conditions": [{"type": "AbleToScale", "status": "True",
                              "reason": "SucceededRescale" if scaled else "ReadyForNewScale"},
                             *({"type": kind, "status": value, "reason": reason}
                               for kind, (value, reason) in conditions.items())]}
    return scaled, update(hpa, {**hpa, "status": status}, MANAGER, schemas[0], subresource="status")
