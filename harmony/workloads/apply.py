"""Workloads on the cluster: each one an ApplySet (KEP-3659) that harmony applies by server-side
apply, and prunes.

Why this design: server-side apply with harmony's own field manager, forced, makes harmony the
owner of every field its manifests set. A field edited by hand in the cluster is put back, a
field dropped from a manifest is removed, and fields other controllers own are left alone (no
last-applied annotation to drift from the cluster). An ApplySet says which objects a workload
made: each object carries the label `applyset.kubernetes.io/part-of: ID`, and a parent
ConfigMap in kube-system (`harmony.WORKLOAD`) records the kinds and namespaces to look in.
An object the workload no longer lists, or every object of a workload no longer in
harmony.yaml, is found by that label and deleted. k3s's manifests directory does neither: it
never deletes, and re-applies only on a file's mtime.

What `up` would do is worked out first (`plan`): an object the cluster lacks is created; one it
has is applied as a dry run, and changed where the result differs from what runs. A Job whose
change the API refuses (its pod template is immutable: a changed Job is a new run) is replaced,
deleted and created again, as `kubectl replace --force` does; any other change the API refuses
fails the command before any workload is written, with the API's reason. `plan` and `check` show
that list; `up` carries it out (`carry_out`).
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from harmony import localstate
from harmony.errors import BadInput, RunFailed
from harmony.workloads.spec import Workload

FIELD_MANAGER = "harmony"
PART_OF = "applyset.kubernetes.io/part-of"
APPLYSET_ID = "applyset.kubernetes.io/id"
TOOLING = "applyset.kubernetes.io/tooling"
GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES = "applyset.kubernetes.io/additional-namespaces"
MANAGED_BY = "app.kubernetes.io/managed-by"
PARENT_NAMESPACE = "kube-system"
PARENT_PREFIX = "harmony."
SERVER_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")
CREATE, CHANGE, REPLACE, UNCHANGED, PRUNE = "create", "change", "replace", "unchanged", "prune"
REPLACEABLE = {"Job"}  # kinds whose refused change is made by replacing the object
# How long a replaced object may take to go: within the workloads' Lease's renewal margin
# (harmony.workloads.lease), since the replace, one step, does not stop to renew it.
GONE_SECONDS = 15


@dataclass
class Step:
    """One object's part in a run: what happens to it, and the body applied (for create, change)."""

    workload: str
    action: str
    kind: str
    name: str
    namespace: str | None
    body: dict | None = None
    resource: object = field(default=None, repr=False)
    replaces: str | None = None  # a HelmChart's: the uid of the install Job its apply replaces

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" + (f" in {self.namespace}" if self.namespace else "")

    def as_dict(self) -> dict:
        return {"workload": self.workload, "action": self.action, "kind": self.kind, "name": self.name,
                "namespace": self.namespace}


def applyset_id(workload: str) -> str:
    """The KEP's ID of a parent ConfigMap: base64url(sha256(name.namespace.kind.group)), v1."""
    digest = hashlib.sha256(f"{PARENT_PREFIX}{workload}.{PARENT_NAMESPACE}.ConfigMap.".encode()).digest()
    return "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"


def group_kind(resource) -> str:
    return f"{resource.kind}.{resource.group}" if resource.group else resource.kind


def comparable(obj: dict | None) -> dict | None:
    """An object as its spec says it, without what the server keeps of its own."""
    if obj is None:
        return None
    shown = {k: v for k, v in obj.items() if k != "status"}
    shown["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_METADATA}
    return shown


class Cluster:
    """The cluster's API, through the official client's dynamic client."""

    def __init__(self, kubeconfig: dict, cache: Path):
        from kubernetes import config, dynamic

        cache.parent.mkdir(parents=True, exist_ok=True)
        self.client = dynamic.DynamicClient(config.new_client_from_config_dict(kubeconfig), cache_file=str(cache))
        self.parents = self.client.resources.get(api_version="v1", kind="ConfigMap")

    def resource(self, workload: str, obj: dict):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError:
            raise BadInput(f"workload '{workload}': the cluster serves no {obj['kind']} in {obj['apiVersion']} "
                           f"({obj['metadata']['name']}): check the manifest's apiVersion and kind") from None

    def get(self, resource, name: str, namespace: str | None) -> dict | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            return resource.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def install_job(self, step: Step) -> dict | None:
        """A HelmChart's install Job, as k3s's helm-controller names it, or None."""
        jobs = self.client.resources.get(api_version="batch/v1", kind="Job")
        return self.get(jobs, f"helm-install-{step.name}", step.namespace)

    def pods(self, namespace: str, selector: str) -> list[dict]:
        pods = self.client.resources.get(api_version="v1", kind="Pod")
        return [item.to_dict() for item in pods.get(namespace=namespace, label_selector=selector).items]

    def log(self, namespace: str, pod: str, container: str, lines: int, previous: bool) -> str:
        """The last `lines` of a container's log; with `previous`, of its run before the last
        restart (a crashing container's own is empty while it waits to start again)."""
        api = self.client.client
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        query = [("container", container), ("tailLines", lines), *([("previous", "true")] if previous else [])]
        request = api.param_serialize("GET", path, query_params=query,
                                      header_params={"Accept": "text/plain"}, auth_settings=["BearerToken"])
        response = api.call_api(*request, _request_timeout=10)
        response.read()
        return response.data.decode(errors="replace") if 200 <= response.status < 300 else ""

    def apply(self, step: Step, dry: bool = False) -> dict:
        return step.resource.server_side_apply(
            body=step.body, name=step.name, namespace=step.namespace, field_manager=FIELD_MANAGER,
            force_conflicts=True, **({"dry_run": "All"} if dry else {})).to_dict()

    def members(self, workload: str, group_kinds: set[str]) -> list[tuple[object, dict]]:
        """Every object labelled part of the workload's ApplySet, of the kinds its parent lists."""
        found = []
        for resource in self.client.resources.search():
            if group_kind(resource) in group_kinds and "list" in (resource.verbs or []) and "/" not in resource.name:
                for item in resource.get(label_selector=f"{PART_OF}={applyset_id(workload)}").items:
                    found.append((resource, item.to_dict()))
        return found

    def parents_of(self) -> dict[str, dict]:
        """{workload: its parent ConfigMap} of every workload harmony applied to this cluster."""
        listed = self.parents.get(namespace=PARENT_NAMESPACE, label_selector=f"{MANAGED_BY}=harmony").items
        return {item.metadata.name[len(PARENT_PREFIX):]: item.to_dict() for item in listed
                if item.metadata.name.startswith(PARENT_PREFIX)}

    def write_parent(self, workload: str, group_kinds: set[str], namespaces: set[str]) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": PARENT_PREFIX + workload, "namespace": PARENT_NAMESPACE,
                             "labels": {APPLYSET_ID: applyset_id(workload), MANAGED_BY: "harmony"},
                             "annotations": {TOOLING: "harmony/v1", GROUP_KINDS: ",".join(sorted(group_kinds)),
                                             NAMESPACES: ",".join(sorted(namespaces))}}}
        self.parents.server_side_apply(body=body, name=body["metadata"]["name"], namespace=PARENT_NAMESPACE,
                                       field_manager=FIELD_MANAGER, force_conflicts=True)

    def delete(self, step: Step) -> None:
        """Delete the object, and (in the background) what it owns: a Job's pods, say."""
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            step.resource.delete(name=step.name, namespace=step.namespace, propagation_policy="Background")
        except NotFoundError:
            pass  # gone already (its namespace was pruned first, say)


def plan(cluster: Cluster, workloads: list[Workload], check=lambda doing: None) -> list[Step]:
    """What `up` does to the workloads: each object created, changed or unchanged, in the order
    applied (namespaces first); then what is pruned. `check` is called between workloads
    (harmony.stopping)."""
    steps, parents = [], cluster.parents_of()
    for workload in workloads:
        check(f"comparing workload {workload.name} with the cluster")
        wanted = [_step(cluster, workload, obj) for obj in workload.objects]
        wanted.sort(key=lambda s: s.kind != "Namespace")
        for step in wanted:
            live = cluster.get(step.resource, step.name, step.namespace)
            if live is not None:
                step.action = _compared(cluster, step, live)
        keep = {(group_kind(s.resource), s.namespace, s.name) for s in wanted}
        steps += wanted + _prunes(cluster, workload.name, parents.get(workload.name), keep, wanted)
    names = {w.name for w in workloads}
    for name, parent in parents.items():
        if name not in names:  # a workload no longer in harmony.yaml: all of it goes
            steps += _prunes(cluster, name, parent, set(), [])
    return steps


def _compared(cluster: Cluster, step: Step, live: dict) -> str:
    """What applying `step` does to the object the cluster has: by a dry run of it."""
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError

    try:
        dry = cluster.apply(step, dry=True)
    except UnprocessibleEntityError as error:
        if step.kind in REPLACEABLE:
            return REPLACE
        raise RunFailed(f"workload '{step.workload}': {step.label}: the cluster refuses the change ({error.summary()}): "
                        "undo it, or delete the object first") from None
    return UNCHANGED if comparable(dry) == comparable(live) else CHANGE


def _step(cluster: Cluster, workload: Workload, obj: dict) -> Step:
    resource = cluster.resource(workload.name, obj)
    metadata = dict(obj["metadata"])
    namespace = (metadata.get("namespace") or workload.namespace) if resource.namespaced else None
    if namespace:
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    metadata["labels"] = {**(metadata.get("labels") or {}), PART_OF: applyset_id(workload.name)}
    body = {**obj, "metadata": metadata}
    return Step(workload.name, CREATE, obj["kind"], metadata["name"], namespace, body, resource)


def _prunes(cluster: Cluster, workload: str, parent: dict | None, keep: set, wanted: list[Step]) -> list[Step]:
    kinds = set(filter(None, ((parent or {}).get("metadata", {}).get("annotations") or {}).get(GROUP_KINDS, "").split(",")))
    kinds |= {group_kind(s.resource) for s in wanted}
    steps = []
    for resource, item in cluster.members(workload, kinds):
        metadata = item["metadata"]
        if (group_kind(resource), metadata.get("namespace"), metadata["name"]) not in keep:
            steps.append(Step(workload, PRUNE, resource.kind, metadata["name"], metadata.get("namespace"),
                              resource=resource))
    steps.sort(key=lambda s: s.kind == "Namespace")  # a namespace's objects before it
    return steps


def carry_out(cluster: Cluster, steps: list[Step], workloads: list[Workload], check=lambda doing: None) -> None:
    """Apply and prune as planned, `check` called before each write (harmony.stopping). Each
    workload's parent first lists every kind and namespace it holds before and after the run,
    so a run stopped halfway still finds what to prune; then, once pruned, only what it holds
    now."""
    present = {w.name for w in workloads}
    for name in dict.fromkeys(s.workload for s in steps):
        mine = [s for s in steps if s.workload == name]
        kinds = {group_kind(s.resource) for s in mine}
        spaces = {s.namespace for s in mine if s.namespace}
        if name in present:
            cluster.write_parent(name, kinds, spaces)
        for step in mine:
            if step.action in (CREATE, CHANGE, REPLACE):
                check(f"applying workload {name}")
                if step.kind == "HelmChart":
                    step.replaces = ((cluster.install_job(step) or {}).get("metadata") or {}).get("uid")
                if step.action == REPLACE:  # one step: a stop waits until it is created again
                    cluster.delete(step)
                    _gone(cluster, step)
                cluster.apply(step)
        for step in mine:
            if step.action == PRUNE:
                check(f"pruning workload {name}")
                cluster.delete(step)
        kept = [s for s in mine if s.action != PRUNE]
        if name in present:
            cluster.write_parent(name, {group_kind(s.resource) for s in kept}, {s.namespace for s in kept if s.namespace})
    for name in set(cluster.parents_of()) - present:  # a removed workload's, its objects pruned
        cluster.parents.delete(name=PARENT_PREFIX + name, namespace=PARENT_NAMESPACE)


def _gone(cluster: Cluster, step: Step) -> None:
    """Wait until a deleted object is gone (its finalizers done), at most GONE_SECONDS."""
    deadline = time.monotonic() + GONE_SECONDS
    while cluster.get(step.resource, step.name, step.namespace) is not None:
        if time.monotonic() > deadline:
            raise RunFailed(f"workload '{step.workload}': {step.label} was deleted to be replaced, and is still there "
                            f"after {GONE_SECONDS} s: see what holds it (kubectl describe)")
        time.sleep(1)


def discovery_cache(cluster_name: str) -> Path:
    """Where the client keeps the cluster's discovery between runs."""
    return localstate.cache_dir() / f"discovery-{cluster_name}.json"
