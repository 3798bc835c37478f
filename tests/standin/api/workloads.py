"""The controllers and the kubelet, simulated: what the status of a Deployment, StatefulSet,
DaemonSet or Job shows, and the Pods their controllers make, from the workload's spec and the
time since it changed (the package's docstring says what is modelled)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time

from . import deployments
from .clock import now

HELM_JOB_IMAGE = "rancher/klipper-helm:v0.9.3-build20241008"
FAIL_MARKER = "standin-install: fail"  # in a HelmChart's valuesContent: its install fails


def template_of(obj: dict) -> dict:
    return ((obj.get("spec") or {}).get("template") or {})


def kubelet(obj: dict, since: float, nodes: list[dict]) -> str:
    """What the scheduler and kubelet make of a workload's pods, `since` its spec changed, on
    `nodes` (what the scheduler sees of each: its `labels`, the `images` it has, and whether it
    reaches `no_registry`): "starting"; "unschedulable" (a nodeSelector no node's labels
    match); "unpullable" (a container's image that a node the pods may land on lacks where its
    pull policy says Never, or must pull and cannot: see pull_problem); "crashing" (an image so
    marked);
    for a Job, "failed" (a command with `exit 1`) or "succeeded"; else "running"."""
    spec = template_of(obj).get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    placed = [n for n in nodes if all(n["labels"].get(k) == v for k, v in selector.items())]
    if not placed:
        return "unschedulable"
    if time.time() - since < float(os.environ.get("HARMONY_STANDIN_POD_SECONDS", "3")):
        return "starting"
    images = " ".join(str(c.get("image", "")) for c in spec.get("containers") or [])
    if any(pull_problem(c, placed) for c in spec.get("containers") or []):
        return "unpullable"
    if "crashing" in images:
        return "crashing"
    if obj["kind"] == "Job":
        commands = json.dumps([c.get("command", []) + c.get("args", []) for c in spec.get("containers") or []])
        return "failed" if "exit 1" in commands else "succeeded"
    return "running"


def normalized(image: str) -> str:
    """An image's name as containerd's CRI normalizes it: docker.io/library/NAME:latest."""
    name, at, digest = image.partition("@")
    first, slash, _ = name.partition("/")
    if not (slash and ("." in first or ":" in first or first == "localhost")):
        name = "docker.io/" + (name if "/" in name else "library/" + name)
    if not at and ":" not in name.rsplit("/", 1)[1]:
        name += ":latest"
    return name + at + digest


def pullable(image: str, node: dict) -> bool:
    """Whether a node has the image, or can pull it (it reaches a registry)."""
    return not node.get("no_registry") or normalized(image) in node.get("images", ())


def pull_policy(container: dict) -> str:
    """A container's imagePullPolicy, defaulted as the API server does (SetDefaults_Container):
    Always for an image tagged `latest` or not tagged (nor by digest), else IfNotPresent."""
    policy = container.get("imagePullPolicy")
    if policy:
        return policy
    name, at, _ = str(container.get("image", "")).partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ("" if at else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


def pull_problem(container: dict, nodes: list[dict]) -> tuple[str, str] | None:
    """What the kubelet's image manager (pkg/kubelet/images/image_manager.go, shouldPullImage)
    makes of a container's image on the first of `nodes` where it fails, as (waiting reason,
    message), or None: with Never, an image the node lacks is ErrImageNeverPull; with
    IfNotPresent, one it has is used as it is; else (Always, or absent) it is pulled, which
    fails (ImagePullBackOff) on a node that reaches no registry, or for an image marked
    `unpullable` (no registry has it)."""
    image = str(container.get("image", ""))
    policy = pull_policy(container)
    for node in nodes:
        present = normalized(image) in node.get("images", ())
        if policy == "Never":
            if not present:
                return "ErrImageNeverPull", f'Container image "{image}" is not present with pull policy of Never'
            continue
        if policy == "IfNotPresent" and present:
            continue
        if node.get("no_registry") or "unpullable" in image:
            return "ImagePullBackOff", f'Back-off pulling image "{image}"'
    return None


def replicas_of(obj: dict, nodes: list[dict]) -> int:
    return max(len(nodes), 1) if obj["kind"] == "DaemonSet" else 1 if obj["kind"] == "Job" \
        else int((obj.get("spec") or {}).get("replicas", 1))


def template_hash(obj: dict) -> str:
    """Names a workload's pods and its ReplicaSet by, from its pod template."""
    return hashlib.sha256(json.dumps(template_of(obj), sort_keys=True).encode()).hexdigest()


def rollout_status(obj: dict, since: float, nodes: list[dict], rolling: bool = False) -> dict | None:
    """The status the controllers give `obj`, from what the kubelet makes of its pods;
    `rolling`: a Deployment's older pods were running when its template changed."""
    kind = obj["kind"]
    if kind not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return None
    state, generation = kubelet(obj, since, nodes), obj["metadata"].get("generation", 1)
    if kind == "Job":
        if state == "failed" and int((obj.get("spec") or {}).get("backoffLimit", 6)) > 6:
            return {"active": 1, "failed": 3, "startTime": now()}  # retrying, far from its limit
        if state == "failed":
            return {"failed": 2, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                                 "message": "Job has reached the specified backoff limit"}]}
        if state == "succeeded":
            return {"succeeded": 1, "completionTime": now(),
                    "conditions": [{"type": "Complete", "status": "True"}]}
        return {"active": 1, "startTime": now()}
    replicas = replicas_of(obj, nodes)
    ready = replicas if state == "running" else 0
    if kind == "DaemonSet":
        return {"observedGeneration": generation, "desiredNumberScheduled": replicas,
                "currentNumberScheduled": replicas, "updatedNumberScheduled": replicas,
                "numberReady": ready, "numberAvailable": ready}
    if kind == "Deployment":
        replicaset = f"{obj['metadata']['name']}-{template_hash(obj)[:10]}"
        return deployments.status(obj, state == "running", rolling, since, replicas, replicaset)
    return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": replicas}


def pods_of(obj: dict, since: float, nodes: list[dict]) -> list[dict]:
    """The Pods a workload's controller makes, with the status the kubelet gives them: named
    and labelled as the controllers name them (a Job's pods carry `job-name`)."""
    if obj["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return []
    state, template, metadata = kubelet(obj, since, nodes), template_of(obj), obj["metadata"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    if obj["kind"] == "Job":
        labels.update({"job-name": metadata["name"], "batch.kubernetes.io/job-name": metadata["name"]})
    digest = template_hash(obj)
    pods = []
    for index in range(replicas_of(obj, nodes)):
        name = (f"{metadata['name']}-{index}" if obj["kind"] == "StatefulSet"
                else f"{metadata['name']}-{digest[:10]}-{digest[10 + index:15 + index]}")
        spec = copy.deepcopy(template.get("spec") or {})
        placed = [n for n in nodes if all(n["labels"].get(k) == v for k, v in (spec.get("nodeSelector") or {}).items())]
        statuses = [container_status(c, state, name, pull_problem(c, placed) if state == "unpullable" else None)
                    for c in spec.get("containers") or []]
        phase = {"running": "Running", "succeeded": "Succeeded", "failed": "Failed"}.get(state, "Pending")
        conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                       "message": f"0/{len(nodes)} nodes are available: {len(nodes)} node(s) didn't match Pod's "
                                  "node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is "
                                  "not helpful for scheduling."}] if state == "unschedulable" else \
            [{"type": "Ready", "status": "True" if state == "running" else "False"}]
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": metadata.get("namespace"), "labels": labels,
                                  "ownerReferences": [{"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                                                       "name": metadata["name"], "controller": True}]},
                     "spec": spec, "status": {"phase": phase, "conditions": conditions,
                                              **({"containerStatuses": statuses} if state != "unschedulable" else {})}})
    return pods


def container_status(container: dict, state: str, pod: str, problem: tuple[str, str] | None = None) -> dict:
    """A container's status in a pod, as the kubelet reports it; in an "unpullable" pod, a
    container whose image is fine waits as ContainerCreating (the stand-in keeps a pod's
    containers in step)."""
    name, image = container.get("name", ""), container.get("image", "")
    waiting = {"starting": ("ContainerCreating", None),
               "unpullable": problem or ("ContainerCreating", None),
               "crashing": ("CrashLoopBackOff", f"back-off 40s restarting failed container={name} pod={pod}")}
    status = {"name": name, "image": image, "ready": state == "running",
              "restartCount": 3 if state == "crashing" else 0}
    if state in waiting:
        reason, message = waiting[state]
        status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    elif state in ("failed", "succeeded"):
        status["state"] = {"terminated": {"exitCode": 1 if state == "failed" else 0,
                                          "reason": "Error" if state == "failed" else "Completed"}}
    else:
        status["state"] = {"running": {"startedAt": now()}}
    if state == "crashing":
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    return status


def log_of(pod: dict) -> str:
    """A container's log, as `kubectl logs` shows it: what a crashing or failing one printed."""
    lines = []
    for status in pod["status"].get("containerStatuses") or []:
        if status["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff":
            lines += [f"starting {status['image']}", "error: cannot start: the image is marked crashing", "exiting"]
        elif status["state"].get("terminated", {}).get("exitCode") == 1 and status["image"] == HELM_JOB_IMAGE:
            lines += ["helm_v3 upgrade --install", f"Error: INSTALLATION FAILED: the stand-in was told to fail ({FAIL_MARKER})"]
        elif status["state"].get("terminated", {}).get("exitCode") == 1:
            lines += ["running the job's command", "error: the command exited with status 1"]
        else:
            lines.append(f"{status['name']} is running")
    return "\n".join(lines) + "\n"


def with_status(obj: dict, since: float, address: str, nodes: list[dict], rolling: bool = False) -> dict:
    """A copy of a stored object with the status the cluster would show for it: a
    LoadBalancer Service's is the node's address, as k3s's ServiceLB gives it."""
    shown = copy.deepcopy(obj)
    computed = rollout_status(shown, since, nodes, rolling)
    if computed is not None:
        shown["status"] = computed
    elif shown["kind"] == "Service" and (shown.get("spec") or {}).get("type") == "LoadBalancer":
        shown["status"] = {"loadBalancer": {"ingress": [{"ip": address, "ipMode": "VIP"}]}}
    return shown
