"""A Deployment's status as the deployment controller reports it (pkg/controller/deployment:
rolling.go, progress.go, sync.go), from what the kubelet makes of its new pods:

- during a RollingUpdate from pods that were running, the old ReplicaSet keeps
  replicas - maxUnavailable of them and the new one has the rest of replicas + maxSurge
  (25% each by default, surge rounded up, unavailable down, not both 0), so `replicas` is more
  than `updatedReplicas` until the new pods are available and the old ones gone; with
  Recreate, the old ones go first;
- the condition Progressing turns False with reason ProgressDeadlineExceeded once the new pods
  have not become available for spec.progressDeadlineSeconds (default 600), which `kubectl
  rollout status` reports as a failed rollout."""

from __future__ import annotations

import math
import time


def _percent(value, replicas: int, round_up: bool) -> int:
    """An IntOrString of the strategy (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = replicas * int(value[:-1]) / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def status(obj: dict, running: bool, rolling: bool, since: float, replicas: int, replicaset: str) -> dict:
    """`running`: the new pods are available; `rolling`: older pods were running when the
    template changed; `since`: when it changed; `replicaset`: the new ReplicaSet's name."""
    spec = obj.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if running:
        old, new, ready = 0, replicas, replicas
    elif rolling and strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling_update = strategy.get("rollingUpdate") or {}
        surge = _percent(rolling_update.get("maxSurge", "25%"), replicas, True)
        unavailable = _percent(rolling_update.get("maxUnavailable", "25%"), replicas, False)
        unavailable = 1 if surge == 0 and unavailable == 0 else unavailable
        old = max(replicas - unavailable, 0)
        new, ready = max(replicas + surge - old, 0), old
    else:
        old, new, ready = 0, replicas, 0
    complete = ready == replicas and old == 0
    deadline = int(spec.get("progressDeadlineSeconds", 600))
    if complete:
        progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{replicaset}" has successfully progressed.')
    elif time.time() - since > deadline:
        progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{replicaset}" has timed out progressing.')
    else:
        progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{replicaset}" is progressing.')
    available = ready >= replicas - (0 if complete else _percent(
        (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%"), replicas, False))
    return {"observedGeneration": obj["metadata"].get("generation", 1), "replicas": old + new,
            "updatedReplicas": new, "readyReplicas": ready, "availableReplicas": ready,
            **({"unavailableReplicas": old + new - ready} if old + new > ready else {}),
            "conditions": [
                {"type": "Available", "status": "True" if available else "False",
                 "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                 "message": "Deployment has minimum availability." if available else
                 "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": progressing[0], "reason": progressing[1],
                 "message": progressing[2]}]}
