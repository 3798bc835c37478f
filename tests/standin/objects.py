"""STAND-IN for the part of the Kubernetes API that workloads touch, inside the stand-in k3s's
server (tests/standin/k3s.py), for harmony's tests only. Never shipped, never called by harmony.

What it models, from the Kubernetes API's documented contract (kubernetes.io/docs/reference/
using-api/api-concepts/ and server-side-apply/):
- the REST paths of a fixed set of resources (RESOURCES), core and grouped, namespaced and
  cluster-scoped, with discovery (/api/v1, /apis, /apis/GROUP/VERSION) as kubectl reads it;
- GET of an object and of a list (in a namespace or across all), with equality-based label
  selectors (`a=b`, `a!=b`, `a`, `!a`, comma-separated); POST (create), PUT (replace), DELETE;
- server-side apply (PATCH with application/apply-patch+yaml): a `fieldManager` is required;
  each manager owns the fields it set (metadata.managedFields, FieldsV1 as the API writes it);
  applying a field another manager owns with a different value is a 409 Conflict unless
  `force=true`, which takes it over; a field the manager applied before and leaves out now is
  removed, unless another manager owns it too; `dryRun=All` answers without storing;
- merge patches (application/merge-patch+json; a strategic-merge patch is taken as one): an
  Update by their manager (`fieldManager`, else from the User-Agent, as `kubectl-patch`), which
  then owns the fields it changed, taking them from the others: how a hand edit shows;
- optimistic concurrency: a replace (PUT) naming a resourceVersion other than the live one, and
  a DELETE whose preconditions do, is a 409 Conflict (how a Lease is taken over safely);
- uid, resourceVersion, creationTimestamp; `metadata.generation`, raised by a change outside
  metadata and status; `status` in a write to the object itself is ignored, as the status
  subresource's;
- namespaces: an object in a namespace that does not exist is refused (404), as it is by the
  API; default, kube-system, kube-public and kube-node-lease exist from the start;
- Services: a NodePort or LoadBalancer Service's ports get node ports where they name none, and
  a LoadBalancer Service's status is the node's address, as k3s's ServiceLB gives it;
- k3s's helm-controller (K3S-CONTRACT, and k3s-io/helm-controller#22, #334): a HelmChart
  (helm.cattle.io/v1) gets an install Job `helm-install-NAME` beside it, replaced (a new uid)
  when the chart's spec changes and kept when it does not, with backoffLimit 1000, so a failing
  install retries rather than failing; it fails here when the chart's valuesContent holds
  `standin-install: fail`, with helm's "Error: INSTALLATION FAILED" in its log; deleting the
  HelmChart removes its Job;
- controllers and a kubelet, simulated: a Deployment's, StatefulSet's or DaemonSet's status
  (observedGeneration, replicas, updated, ready and available replicas, conditions: the progress
  deadline's as tests/standin/progress.py sets it) and a Job's
  (succeeded, or failed) follow their spec after a delay (HARMONY_STANDIN_POD_SECONDS, default
  3: real pods take seconds to pull and start); a container image with `unpullable` in it never
  pulls and one with `crashing` in it never stays up, so their rollouts never complete, and a
  Job whose container's command includes `exit 1` fails; a pod whose nodeSelector no node's
  labels match is Unschedulable, with the scheduler's message;
- k3s's manifests directory (`deploy_manifests`): a file is applied when it appears and when
  its mtime changes, never when only its content does, and removing it deletes nothing; its
  writes are Updates by the manager `k3s`; the directory is looked at every 2 s (k3s watches it);
- a workload's Pods (GET of a namespace's pods, by label, of one, and of its log, `tailLines`
  too): named and labelled as their controllers name them, with the kubelet's container
  states (ContainerCreating, ImagePullBackOff and the image, CrashLoopBackOff, a Job's
  container terminated with exit code 1) and a log of what a crashing or failing one printed.

What it does not model: watches, other resources and API versions (no conversion), defaulting
(a Deployment gets no default strategy), OpenAPI schemas and field validation, lists as maps
by key (every list is owned whole, where the API merges `containers` by name), finalizers and
cascading deletion (a Namespace's objects go with it at once), Pods as objects (a workload's
pods are made from it when asked for, read-only, absent from the cluster-wide /api/v1/pods that
the drain tests plant pods in), subresources (scale, status), immutable
fields other than a Job's template (which, as in a real cluster, cannot be changed: a 422
"field is immutable", dry runs too), admission, RBAC (any
client certificate the server's CA signed is admin), rendering a
chart (tests/standin/helmrelease.py installs simple ones once their Job succeeds), and
more than one server: each stand-in server keeps objects of its own (there is no etcd between
them), so clients use one server's API.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass

import yaml

import helmrelease  # beside this file too; it imports this module back, and uses it only when called
import progress  # beside this file in the stand-in's zipapp (tests/standin/mirror.py builds it)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    name: str  # plural, as in the path
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def discovery(self) -> dict:
        return {"name": self.name, "singularName": self.kind.lower(), "namespaced": self.namespaced,
                "kind": self.kind, "shortNames": list(self.short_names),
                "verbs": ["create", "delete", "get", "list", "patch", "update"]}


RESOURCES = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",)),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "services", "Service", True, ("svc",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",)),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",)),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",)),
    Resource("batch", "v1", "jobs", "Job", True),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",)),
    Resource("helm.cattle.io", "v1", "helmcharts", "HelmChart", True),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True),
)
JOBS = RESOURCES[8]
HELM_JOB_IMAGE = "rancher/klipper-helm:v0.9.3-build20241008"
FAIL_MARKER = "standin-install: fail"  # in a HelmChart's valuesContent: its install fails
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
IDENTITY = (("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"))
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str, causes: list | None = None) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": reason,
            "message": message, "code": code, **({"details": {"causes": causes}} if causes else {})}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, causes: list | None = None):
        super().__init__(message)
        self.body = status(code, reason, message, causes)


# ---------------------------------------------------------------- field ownership


def leaves(value, prefix=()) -> dict:
    """{path: value} of every leaf: a scalar, a list (owned whole here) or an empty mapping."""
    if isinstance(value, dict) and value:
        found = {}
        for key, item in value.items():
            found.update(leaves(item, (*prefix, key)))
        return found
    return {prefix: value}


def owned(value: dict) -> dict:
    """The leaves a write of `value` owns: all but the object's identity, status and the
    server's own metadata."""
    return {path: item for path, item in leaves(value).items()
            if path not in IDENTITY and path[0] != "status"
            and not (path[0] == "metadata" and len(path) > 1 and path[1] in SERVER_FIELDS)}


def to_fields(paths) -> dict:
    """Paths as FieldsV1: {"f:spec": {"f:replicas": {}}}."""
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def from_fields(tree: dict, prefix=()) -> set:
    paths = set()
    for key, child in tree.items():
        path = (*prefix, key[2:])
        paths |= from_fields(child, path) if child else {path}
    return paths


def get_path(obj, path):
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def set_path(obj: dict, path, value) -> None:
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[path[-1]] = copy.deepcopy(value)


def remove_path(obj: dict, path) -> None:
    """Remove a leaf, and the mappings it leaves empty."""
    parents = []
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            return
        parents.append((obj, part))
        obj = obj[part]
    obj.pop(path[-1], None)
    for parent, part in reversed(parents):
        if parent[part]:
            break
        del parent[part]


def managers(obj: dict) -> dict[tuple[str, str], set]:
    """{(manager, operation): owned paths} from the object's managedFields."""
    return {(entry["manager"], entry["operation"]): from_fields(entry.get("fieldsV1") or {})
            for entry in obj.get("metadata", {}).get("managedFields") or []}


def set_managers(obj: dict, owners: dict, api_version: str) -> None:
    """Write `owners` as managedFields; an entry whose fields did not change keeps its time, so
    a write that changes nothing leaves the object as it was."""
    times = {(e["manager"], e["operation"]): (e.get("fieldsV1"), e.get("time"))
             for e in obj["metadata"].get("managedFields") or []}
    entries = []
    for (manager, operation), paths in owners.items():
        if paths:
            fields = to_fields(paths)
            old_fields, old_time = times.get((manager, operation), (None, None))
            entries.append({"manager": manager, "operation": operation, "apiVersion": api_version,
                            "time": old_time if old_fields == fields else now(),
                            "fieldsType": "FieldsV1", "fieldsV1": fields})
    obj["metadata"]["managedFields"] = entries


def apply(live: dict | None, config: dict, manager: str, force: bool) -> dict:
    """Server-side apply of `config` by `manager` over `live` (None: create)."""
    result = copy.deepcopy(live) if live else {"apiVersion": config["apiVersion"], "kind": config["kind"],
                                                 "metadata": copy.deepcopy(config["metadata"])}
    owners = managers(result)
    wanted = owned(config)
    conflicts = [(other, path) for (other, operation), paths in owners.items() if other != manager
                 for path in paths & set(wanted) if get_path(result, path) != wanted[path]]
    if conflicts and not force:
        causes = [{"type": "FieldManagerConflict", "field": "." + ".".join(path),
                   "message": f'conflict with "{other}": .{".".join(path)}'} for other, path in conflicts]
        raise ApiError(409, "Conflict", f"Apply failed with {len(conflicts)} conflict(s): "
                       + "; ".join(c["message"] for c in causes), causes)
    before = owners.get((manager, "Apply"), set())
    others = set().union(*(paths for key, paths in owners.items() if key != (manager, "Apply")))
    for path in before - set(wanted) - others:
        remove_path(result, path)
    for path, value in wanted.items():
        set_path(result, path, value)
    for key in owners:  # a field set to the value it had is shared; one forced to another is taken
        if key[0] != manager:
            owners[key] = {p for p in owners[key] if p not in wanted or get_path(live or {}, p) == wanted[p]}
    owners[(manager, "Apply")] = set(wanted)
    set_managers(result, owners, config["apiVersion"])
    return result


def update(live: dict, new: dict, manager: str) -> dict:
    """A write that is not an apply (a merge patch, a replace): `manager` owns what it changed."""
    result = copy.deepcopy(new)
    owners = managers(live)
    before, after = owned(live), owned(result)
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    for key in owners:
        owners[key] = {p for p in owners[key] if p not in changed and p in after}
    owners[(manager, "Update")] = owners.get((manager, "Update"), set()) | (changed & set(after))
    result.setdefault("metadata", {})["managedFields"] = live["metadata"].get("managedFields") or []
    set_managers(result, owners, live["apiVersion"])
    return result


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------- simulated controllers


def template_of(obj: dict) -> dict:
    return ((obj.get("spec") or {}).get("template") or {})


def kubelet(obj: dict, since: float, nodes: list[dict]) -> str:
    """What the scheduler and kubelet make of a workload's pods, `since` its spec changed, on
    `nodes` (what the scheduler sees of each: its `labels`, the `images` it has, and whether it
    reaches `no_registry`): "starting"; "unschedulable" (a nodeSelector no node's labels
    match); "unpullable" (an image so marked, or one that a node the pods may land on cannot
    pull: it reaches no registry, and has not imported it); "crashing" (an image so marked);
    for a Job, "failed" (a command with `exit 1`) or "succeeded"; else "running"."""
    spec = template_of(obj).get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    placed = [n for n in nodes if all(n["labels"].get(k) == v for k, v in selector.items())]
    if not placed:
        return "unschedulable"
    if time.time() - since < float(os.environ.get("HARMONY_STANDIN_POD_SECONDS", "3")):
        return "starting"
    images = " ".join(str(c.get("image", "")) for c in spec.get("containers") or [])
    if "unpullable" in images or any(not pullable(c.get("image", ""), n) for n in placed
                                     for c in spec.get("containers") or []):
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


def replicas_of(obj: dict, nodes: list[dict]) -> int:
    return max(len(nodes), 1) if obj["kind"] == "DaemonSet" else 1 if obj["kind"] == "Job" \
        else int((obj.get("spec") or {}).get("replicas", 1))


def rollout_status(obj: dict, since: float, nodes: list[dict]) -> dict | None:
    """The status the controllers give `obj`, from what the kubelet makes of its pods."""
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
    result = {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
              "readyReplicas": ready, "availableReplicas": ready}
    if kind == "StatefulSet":
        result["currentReplicas"] = replicas
    else:
        result["conditions"] = [
            {"type": "Available", "status": "True" if ready == replicas else "False",
             "reason": "MinimumReplicasAvailable" if ready == replicas else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if ready == replicas else
             "Deployment does not have minimum availability."},
            progress.progressing(obj, since, ready == replicas)]
    return result


def pods_of(obj: dict, since: float, nodes: list[dict]) -> list[dict]:
    """The Pods a workload's controller makes, with the status the kubelet gives them: named
    and labelled as the controllers name them (a Job's pods carry `job-name`)."""
    if obj["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return []
    state, template, metadata = kubelet(obj, since, nodes), template_of(obj), obj["metadata"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    if obj["kind"] == "Job":
        labels.update({"job-name": metadata["name"], "batch.kubernetes.io/job-name": metadata["name"]})
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    pods = []
    for index in range(replicas_of(obj, nodes)):
        name = (f"{metadata['name']}-{index}" if obj["kind"] == "StatefulSet"
                else f"{metadata['name']}-{digest[:10]}-{digest[10 + index:15 + index]}")
        spec = copy.deepcopy(template.get("spec") or {})
        statuses = [container_status(c, state, name) for c in spec.get("containers") or []]
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


def container_status(container: dict, state: str, pod: str) -> dict:
    """A container's status in a pod, as the kubelet reports it."""
    name, image = container.get("name", ""), container.get("image", "")
    waiting = {"starting": ("ContainerCreating", None),
               "unpullable": ("ImagePullBackOff", f'Back-off pulling image "{image}"'),
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


def with_status(obj: dict, since: float, address: str, nodes: list[dict]) -> dict:
    """A copy of a stored object with the status the cluster would show for it: a
    LoadBalancer Service's is the node's address, as k3s's ServiceLB gives it."""
    shown = copy.deepcopy(obj)
    computed = rollout_status(shown, since, nodes)
    if computed is not None:
        shown["status"] = computed
    elif shown["kind"] == "Namespace":
        shown["status"] = {"phase": "Active"}
    elif shown["kind"] == "Service" and (shown.get("spec") or {}).get("type") == "LoadBalancer":
        shown["status"] = {"loadBalancer": {"ingress": [{"ip": address, "ipMode": "VIP"}]}}
    return shown


def allocate_node_ports(obj: dict) -> None:
    """A NodePort or LoadBalancer Service's ports get a node port (30000-32767) where they name
    none, as the API allocates one; here the same one each time, from the port's name."""
    spec = obj.get("spec") or {}
    if obj["kind"] != "Service" or spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and "nodePort" not in port:
            seed = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}/{port.get('port')}"
            port["nodePort"] = 30000 + int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 2768


# ---------------------------------------------------------------- the store and its REST paths


class Store:
    """The objects, kept in a JSON file under the server's data dir."""

    def __init__(self, path: str, address: str = "127.0.0.1", nodes=lambda: [{"labels": {}}]) -> None:
        """`nodes()`: what the scheduler and kubelet see of each node (`kubelet`)."""
        self.path, self.lock, self.address, self.nodes = path, threading.Lock(), address, nodes

    def _load(self) -> dict:
        if os.path.exists(self.path):
            with open(self.path) as f:
                return json.load(f)
        state = {"version": 1, "objects": {}, "changed": {}}
        for name in INITIAL_NAMESPACES:
            key = self.key(RESOURCES[0], None, name)
            state["objects"][key] = self._new({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                                              state)
        return state

    def _save(self, state: dict) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, self.path)

    @staticmethod
    def key(resource: Resource, namespace: str | None, name: str) -> str:
        return f"{resource.group_version}/{resource.name}/{namespace or ''}/{name}"

    @staticmethod
    def _new(obj: dict, state: dict) -> dict:
        state["version"] += 1
        obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now(), resourceVersion=str(state["version"]))
        if obj["kind"] != "Namespace" and "spec" in obj:
            obj["metadata"]["generation"] = 1
        return obj

    def _shown(self, key: str, state: dict) -> dict:
        return with_status(state["objects"][key], state["changed"].get(key, 0), self.address, self.nodes())

    def _existing(self, state: dict, resource, namespace, name) -> str:
        """The stored object's key; a 404 where there is none."""
        key = self.key(resource, namespace, name)
        if key not in state["objects"]:
            raise ApiError(404, "NotFound", f'{resource.name} "{name}" not found')
        return key

    def get(self, resource, namespace, name) -> dict:
        with self.lock:
            state = self._load()
            return self._shown(self._existing(state, resource, namespace, name), state)

    def list(self, resource, namespace, selector: str) -> dict:
        with self.lock:
            state = self._load()
            prefix = f"{resource.group_version}/{resource.name}/"
            items = [self._shown(key, state) for key in sorted(state["objects"])
                     if key.startswith(prefix) and (namespace is None or key.split("/")[-2] == namespace)]
            items = [item for item in items if matches(selector, item["metadata"].get("labels") or {})]
            return {"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                    "metadata": {"resourceVersion": str(state["version"])}, "items": items}

    def write(self, resource, namespace, name, change, dry: bool = False, create_only: bool = False) -> tuple[int, dict]:
        """`change(live or None)` -> the new object; stored unless `dry`; (201 created or 200, object)."""
        with self.lock:
            state = self._load()
            key = self.key(resource, namespace, name)
            if namespace and self.key(RESOURCES[0], None, namespace) not in state["objects"]:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
            live = state["objects"].get(key)
            if live and create_only:
                raise ApiError(409, "AlreadyExists", f'{resource.name} "{name}" already exists')
            new = change(copy.deepcopy(live) if live else None)
            new.pop("status", None)
            if live and resource.kind == "Job" and (new.get("spec") or {}).get("template") != \
                    (live.get("spec") or {}).get("template"):
                raise ApiError(422, "Invalid", f'Job.batch "{name}" is invalid: spec.template: Invalid value: '
                                               'core.PodTemplateSpec{...}: field is immutable',
                               [{"reason": "FieldValueInvalid", "field": "spec.template",
                                 "message": "Invalid value: core.PodTemplateSpec{...}: field is immutable"}])
            allocate_node_ports(new)
            new["metadata"]["name"] = name
            if namespace:
                new["metadata"]["namespace"] = namespace
            if live:
                for field in ("uid", "creationTimestamp", "resourceVersion", "generation"):
                    if field in live["metadata"]:
                        new["metadata"][field] = live["metadata"][field]
                if new != live:
                    state["version"] += 1
                    new["metadata"]["resourceVersion"] = str(state["version"])
                    if {k: v for k, v in new.items() if k != "metadata"} != {k: v for k, v in live.items() if k != "metadata"}:
                        new["metadata"]["generation"] = live["metadata"].get("generation", 1) + 1
                        state["changed"][key] = time.time()
            else:
                self._new(new, state)
                state["changed"][key] = time.time()
            if not dry:
                state["objects"][key] = new
                if resource.kind == "HelmChart":
                    self._install_job(state, new)
                self._save(state)
            return (200 if live else 201), with_status(new, state["changed"].get(key, time.time()), self.address,
                                                       self.nodes())

    def _install_job(self, state: dict, chart: dict) -> None:
        """helm-controller's part: the Job `helm-install-NAME` beside the HelmChart that runs
        `helm upgrade --install`, replaced (a new uid) when the chart's spec changes, left alone
        when it does not. As helm-controller's, it retries a failed install (backoffLimit 1000)."""
        metadata = chart["metadata"]
        digest = "SHA256=" + hashlib.sha256(json.dumps(chart.get("spec"), sort_keys=True).encode()).hexdigest().upper()
        key = self.key(JOBS, metadata["namespace"], f"helm-install-{metadata['name']}")
        old = state["objects"].get(key)
        if old and old["metadata"].get("annotations", {}).get("helmcharts.helm.cattle.io/configHash") == digest:
            return
        spec = chart.get("spec") or {}
        script = f"helm_v3 upgrade --install {metadata['name']} --namespace {spec.get('targetNamespace', 'default')}"
        if FAIL_MARKER in str(spec.get("valuesContent", "")):
            script += "; exit 1"
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": f"helm-install-{metadata['name']}", "namespace": metadata["namespace"],
                            "labels": {"helmcharts.helm.cattle.io/chart": metadata["name"]},
                            "annotations": {"helmcharts.helm.cattle.io/configHash": digest}},
               "spec": {"backoffLimit": 1000, "template": {
                   "metadata": {"labels": {"helmcharts.helm.cattle.io/chart": metadata["name"]}},
                   "spec": {"restartPolicy": "OnFailure", "serviceAccountName": f"helm-{metadata['name']}",
                            "containers": [{"name": "helm", "image": HELM_JOB_IMAGE, "args": ["install"],
                                            "command": ["sh", "-c", script]}]}}}}
        state["objects"][key] = self._new(job, state)
        state["changed"][key] = time.time()

    def pods(self, namespace: str, selector: str) -> list[dict]:
        """The pods of the workloads in `namespace`, with labels matching `selector`."""
        with self.lock:
            state = self._load()
            nodes = self.nodes()
            found = []
            for key in sorted(state["objects"]):
                if key.split("/")[-2] == namespace:
                    found += pods_of(state["objects"][key], state["changed"].get(key, 0), nodes)
            return [p for p in found if matches(selector, p["metadata"]["labels"])]

    def pod(self, namespace: str, name: str) -> dict:
        for pod in self.pods(namespace, ""):
            if pod["metadata"]["name"] == name:
                return pod
        raise ApiError(404, "NotFound", f'pods "{name}" not found')

    def delete(self, resource, namespace, name, version: str | None = None) -> dict:
        """Delete an object; with `version` (DeleteOptions' preconditions), only that version of it."""
        with self.lock:
            state = self._load()
            key = self._existing(state, resource, namespace, name)
            _precondition(state["objects"][key], version, resource)
            gone = state["objects"].pop(key)
            if resource.kind == "HelmChart":  # helm-controller uninstalls, then its Job goes
                state["objects"].pop(self.key(JOBS, namespace, f"helm-install-{name}"), None)
                for other in helmrelease.released(state["objects"], gone):
                    del state["objects"][other]
            if resource.kind == "Namespace":
                for other in [k for k in state["objects"] if k.split("/")[-2] == name]:
                    del state["objects"][other]
            self._save(state)
            return gone


def matches(selector: str, labels: dict) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


POD = {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
       "verbs": ["get", "list"]}


def pod_request(store: Store, path: str, query: dict) -> tuple[int, dict | str] | None:
    """GET of a namespace's pods, a pod, or its log (text); None for any other path."""
    parts = path.strip("/").split("/")
    if parts[:3] != ["api", "v1", "namespaces"] or len(parts) < 5 or parts[4] != "pods" or len(parts) > 7:
        return None
    namespace = parts[3]
    try:
        if len(parts) == 5:
            items = store.pods(namespace, (query.get("labelSelector") or [""])[0])
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
        pod = store.pod(namespace, parts[5])
        if len(parts) == 6:
            return 200, pod
        if parts[6] == "log":
            lines = log_of(pod).splitlines()
            tail = int((query.get("tailLines") or [len(lines)])[0])
            return 200, "".join(line + "\n" for line in lines[-tail:] if tail)
    except ApiError as error:
        return error.body["code"], error.body
    return None


def discovery(path: str, core: tuple[dict, ...] = ()) -> dict | None:
    """The discovery documents kubectl and the clients read, or None where `path` is not one;
    `core` are the server's other resources in v1."""
    if path == "/apis":
        groups = {}
        for r in RESOURCES:
            if r.group:
                groups.setdefault(r.group, r.group_version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": group, "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
             "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}} for group, gv in groups.items()]}
    for gv in {r.group_version for r in RESOURCES}:
        if path == ("/api/" if "/" not in gv else "/apis/") + gv:
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                    "resources": [*(core if gv == "v1" else ()),
                                  *(r.discovery() for r in RESOURCES if r.group_version == gv)]}
    return None


def openapi(path: str, core: tuple[dict, ...] = ()) -> dict | None:
    """OpenAPI v3 as kubectl reads it to validate what it sends: the index of group versions,
    and per group version each kind's schema (any fields: this stand-in validates none) and its
    object paths, whose PATCH takes `fieldValidation` (so kubectl leaves the check to the
    server, which here does none)."""
    versions = {r.group_version for r in RESOURCES}
    prefix = lambda gv: ("api/" if "/" not in gv else "apis/") + gv  # noqa: E731
    if path == "/openapi/v3":
        return {"paths": {prefix(gv): {"serverRelativeURL": f"/openapi/v3/{prefix(gv)}"} for gv in versions}}
    for gv in versions:
        if path != f"/openapi/v3/{prefix(gv)}":
            continue
        schemas, paths = {}, {}
        kinds = [(r.kind, r.name, r.namespaced) for r in RESOURCES if r.group_version == gv]
        kinds += [(c["kind"], c["name"], c["namespaced"]) for c in core if gv == "v1"]
        group, _, version = gv.rpartition("/")
        for kind, plural, namespaced in kinds:
            gvk = {"group": group, "version": version, "kind": kind}
            schemas[f"standin.{gv}.{kind}"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                              "x-kubernetes-group-version-kind": [gvk]}
            scope = "namespaces/{namespace}/" if namespaced else ""
            paths[f"/{prefix(gv)}/{scope}{plural}/{{name}}"] = {"patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes (stand-in)", "version": "unversioned"},
                "paths": paths, "components": {"schemas": schemas}}
    return None



def route(path: str) -> tuple[Resource, str | None, str | None] | None:
    """(resource, namespace, name) of an object or collection path, or None."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if len(rest) not in (1, 2):
        return None
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.name) == (group, version, rest[0]):
            if namespace and not resource.namespaced:
                return None
            return resource, namespace, rest[1] if len(rest) == 2 else None
    return None


def handle(store: Store, method: str, path: str, query: dict, headers, body: bytes,
           core: tuple[dict, ...] = ()) -> tuple[int, dict] | None:
    """Answer a request for an object, a collection, a workload's pods or discovery: (code,
    JSON body, or text for a log), or None where the path is none of those (the caller answers it)."""
    found = (discovery(path, (*core, POD)) or openapi(path, core)) if method == "GET" else None
    if found:
        return 200, found
    pods = pod_request(store, path, query) if method == "GET" else None
    if pods:
        return pods
    target = route(path)
    if target is None:
        return None
    resource, namespace, name = target
    if resource.namespaced and name and not namespace:
        return None
    first = {key: values[0] for key, values in query.items()}
    try:
        if method == "GET" and name:
            return 200, store.get(resource, namespace, name)
        if method == "GET":
            return 200, store.list(resource, namespace, first.get("labelSelector", ""))
        if method == "DELETE" and name:
            options = json.loads(body) if body else {}
            store.delete(resource, namespace, name, (options.get("preconditions") or {}).get("resourceVersion"))
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}
        document = yaml.safe_load(body or b"{}") or {}
        if not isinstance(document, dict):
            raise ApiError(400, "BadRequest", "the request body is not an object")
        dry = first.get("dryRun") == "All"
        agent = str(headers.get("User-Agent", "unknown")).split("/")[0]
        if method == "POST" and not name:
            name = (document.get("metadata") or {}).get("name")
            _check_kind(resource, document, name)
            return store.write(resource, namespace, name, lambda live: document, dry, create_only=True)
        if method == "PUT" and name:
            _check_kind(resource, document, name)
            manager = first.get("fieldManager") or agent
            return store.write(resource, namespace, name, lambda live: _replace(live, document, manager, resource), dry)
        if method == "PATCH" and name:
            kind = str(headers.get("Content-Type", "")).split(";")[0]
            if kind == "application/apply-patch+yaml":
                manager = first.get("fieldManager")
                if not manager:
                    raise ApiError(400, "BadRequest", "PATCH requests with apply content type must have fieldManager")
                _check_kind(resource, document, name)
                force = first.get("force") in ("1", "t", "T", "true", "TRUE", "True")  # Go's ParseBool
                return store.write(resource, namespace, name, lambda live: apply(live, document, manager, force), dry)
            if kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                manager = first.get("fieldManager") or agent
                return store.write(resource, namespace, name, lambda live: _patch(live, document, manager, resource), dry)
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}")
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")
    except ApiError as error:
        return error.body["code"], error.body


def _check_kind(resource: Resource, document: dict, name: str | None) -> None:
    if document.get("kind") != resource.kind or document.get("apiVersion") != resource.group_version:
        raise ApiError(400, "BadRequest", f"the object's kind and apiVersion must be {resource.kind} "
                                          f"{resource.group_version}")
    if not name or (document.get("metadata") or {}).get("name") not in (None, name):
        raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")


def _patch(live, patch, manager, resource):
    if live is None:
        raise ApiError(404, "NotFound", f"{resource.name} not found")
    return update(live, merge_patch(live, patch), manager)


def _replace(live, document, manager, resource):
    if live is None:
        raise ApiError(404, "NotFound", f"{resource.name} not found")
    _precondition(live, (document.get("metadata") or {}).get("resourceVersion"), resource)
    return update(live, document, manager)


def _precondition(live: dict, version: str | None, resource: Resource) -> None:
    """Optimistic concurrency: a write that names a resourceVersion other than the live one is
    a 409 Conflict, as the API answers it."""
    if version and version != live["metadata"].get("resourceVersion"):
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.name} "{live["metadata"]["name"]}": '
                                        "the object has been modified; please apply your changes to the latest "
                                        "version and try again")


# ---------------------------------------------------------------- k3s's manifests directory

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def deploy_manifests(store: Store, directory: str, seen: dict[str, float]) -> None:
    """k3s's deploy controller, one pass: each manifest file in `directory` is applied when it
    first appears and again whenever its mtime changes (its content alone is not looked at:
    k3s-io/k3s#3711); a file removed leaves its objects where they are ("Deleting files out of
    this directory will not delete the corresponding resources": docs.k3s.io, packaged
    components). `seen` keeps each file's mtime between passes."""
    if not os.path.isdir(directory):
        return
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not name.endswith(MANIFEST_SUFFIXES) or not os.path.isfile(path) or seen.get(path) == os.stat(path).st_mtime:
            continue
        seen[path] = os.stat(path).st_mtime
        try:
            with open(path) as f:
                documents = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue  # k3s logs the error and tries again at the next change
        for document in documents:
            resource = next((r for r in RESOURCES if (r.group_version, r.kind) ==
                             (document.get("apiVersion"), document.get("kind"))), None)
            name_ = (document.get("metadata") or {}).get("name")
            if resource is None or not name_:
                continue
            namespace = (document["metadata"].get("namespace") or "default") if resource.namespaced else None
            try:
                store.write(resource, namespace, name_, lambda live, d=document: update(live, merge_patch(live, d), "k3s")
                            if live else copy.deepcopy(d))
            except ApiError:
                continue  # a missing namespace, say: as k3s, tried again at the file's next change
