"""STAND-IN for the deployment controller's progress deadline, inside the stand-in k3s's object
API (tests/standin/objects.py, whose `rollout_status` gives a Deployment this condition), for
harmony's tests only. Never shipped, never called by harmony.

What it models, from k8s.io/kubernetes pkg/controller/deployment/progress.go
(`syncRolloutStatus`): a Deployment's `Progressing` condition is True with reason
NewReplicaSetAvailable once its rollout is complete; until then True with ReplicaSetUpdated;
and False with reason ProgressDeadlineExceeded (deploymentutil's TimedOutReason) once it has
made no progress for `spec.progressDeadlineSeconds` (the API's default 600: pkg/apis/apps/v1
defaults.go, `SetDefaults_Deployment`). The stand-in's pods make no progress after their spec
changed but to run or not (`objects.kubelet`), so the deadline counts from that change. The
stand-in serves no ReplicaSets, so the messages name the Deployment, as the controller's do
when it has no new ReplicaSet. Not modelled: a deadline in a paused rollout, and
ReplicaFailure conditions.
"""

from __future__ import annotations

import time

DEFAULT_DEADLINE_SECONDS = 600


def progressing(deployment: dict, since: float, complete: bool) -> dict:
    """The Deployment's Progressing condition, `since` its spec changed, its rollout `complete` or not."""
    name = deployment["metadata"]["name"]
    deadline = float((deployment.get("spec") or {}).get("progressDeadlineSeconds", DEFAULT_DEADLINE_SECONDS))
    if complete:
        status, reason, said = "True", "NewReplicaSetAvailable", "has successfully progressed"
    elif time.time() - since > deadline:
        status, reason, said = "False", "ProgressDeadlineExceeded", "has timed out progressing"
    else:
        status, reason, said = "True", "ReplicaSetUpdated", "is progressing"
    return {"type": "Progressing", "status": status, "reason": reason, "message": f'Deployment "{name}" {said}.'}
