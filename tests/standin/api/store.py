"""The objects, kept in a JSON file under the server's data dir, and what the API server does
when it stores one: identity and versions (uid, resourceVersion, generation), namespaces that
must exist and be Active, optimistic concurrency, immutable fields, the size etcd takes, and
the controllers that act on a write or a delete (CRDs, namespaces, garbage collection,
helm-controller)."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import uuid

from . import autoscaler, crds, helm, immutable, names, schema, services, validation
from .catalog import BUILTINS, Resource, by_kind, find
from .clock import now
from .errors import ApiError, invalid, not_found
from .workloads import kubelet, pods_of, with_status

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE = ("default", "kube-system", "kube-public")  # NamespaceLifecycle's immortal namespaces
NAMESPACES = find(BUILTINS, "", "v1", "namespaces")
CRDS = find(BUILTINS, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
JOBS = find(BUILTINS, "batch", "v1", "jobs")
SERVICES = find(BUILTINS, "", "v1", "services")
# etcd's --max-request-bytes default (1.5 MiB): a larger object is refused, as
# "etcdserver: request is too large" (K3S-CONTRACT: the Kubernetes API as projects meet it).
MAX_OBJECT_BYTES = 1536 * 1024
NAMESPACE_SECONDS = 2.0  # how long the namespace controller takes to empty a Terminating namespace


def matches(selector: str, labels: dict) -> bool:
    """Equality-based label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated."""
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


def precondition(live: dict, version: str | None, resource: Resource) -> None:
    """Optimistic concurrency: a write that names a resourceVersion other than the live one is
    a 409 Conflict, as the API answers it."""
    if version and version != live["metadata"].get("resourceVersion"):
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.qualified} '
                                        f'"{live["metadata"]["name"]}": the object has been modified; please apply '
                                        "your changes to the latest version and try again")


def _spec(obj: dict, *leaving_out: str) -> dict:
    """All but metadata and status, and but `leaving_out` of the spec."""
    rest = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    if isinstance(rest.get("spec"), dict):
        rest["spec"] = {k: v for k, v in rest["spec"].items() if k not in leaving_out}
    return rest


class Store:
    def __init__(self, path: str, address: str = "127.0.0.1", nodes=lambda: [{"labels": {}}]) -> None:
        """`nodes()`: what the scheduler and kubelet see of each node (workloads.kubelet)."""
        self.path, self.lock, self.address, self.nodes = path, threading.RLock(), address, nodes

    # ------------------------------------------------------------ state

    def _load(self) -> dict:
        if os.path.exists(self.path):
            with open(self.path) as f:
                state = json.load(f)
        else:
            state = {"version": 1, "objects": {}, "changed": {}, "established": {}, "terminating": {}, "hpa": {},
                     "rolling": {}}
            for name in INITIAL_NAMESPACES:
                self._create(state, NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            for crd in crds.K3S_CRDS:
                self._create(state, CRDS, copy.deepcopy(crd))
                state["established"][crd["metadata"]["name"]] = 0  # k3s is ready once they are
            self._create(state, SERVICES, copy.deepcopy(services.KUBERNETES))
            self._save(state)
        if self._finish_namespaces(state) | self._autoscale(state):
            self._save(state)
        return state

    def _save(self, state: dict) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, self.path)

    @staticmethod
    def key(resource: Resource, namespace: str | None, name: str) -> str:
        """Objects are kept once per group and resource, whatever version wrote them."""
        return f"{resource.group}/{resource.name}/{namespace or ''}/{name}"

    def resources(self) -> list[Resource]:
        """What the server serves now: the built-ins, and the custom resources of Established CRDs."""
        with self.lock:
            return self._served(self._load())

    @staticmethod
    def _served(state: dict) -> list[Resource]:
        found = list(BUILTINS)
        for key, crd in sorted(state["objects"].items()):
            name = crd["metadata"]["name"]
            if key.startswith("apiextensions.k8s.io/customresourcedefinitions/") and \
                    time.time() >= state["established"].get(name, float("inf")):
                found += crds.resources(crd)
        return found

    def _create(self, state: dict, resource: Resource, obj: dict) -> str:
        state["version"] += 1
        obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now(), resourceVersion=str(state["version"]))
        if resource.kind != "Namespace" and "spec" in obj:
            obj["metadata"]["generation"] = 1
        if resource.kind == "Namespace":
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        if resource.kind == "CustomResourceDefinition":
            state["established"][obj["metadata"]["name"]] = time.time() + crds.ESTABLISH_SECONDS
        key = self.key(resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        state["objects"][key] = obj
        state["changed"][key] = time.time()
        return key

    # ------------------------------------------------------------ reads

    def _shown(self, key: str, state: dict, resource: Resource) -> dict:
        """The stored object as the cluster shows it at `resource`'s version: with the status
        its controllers give it."""
        obj = state["objects"][key]
        shown = with_status(obj, state["changed"].get(key, 0), self.address, self.nodes(),
                            state["rolling"].get(key, False))
        shown["apiVersion"] = resource.group_version
        if resource.kind == "CustomResourceDefinition":
            shown["status"] = crds.status(obj, state["established"].get(obj["metadata"]["name"], 0))
        return shown

    def _existing(self, state: dict, resource: Resource, namespace, name) -> str:
        key = self.key(resource, namespace, name)
        if key not in state["objects"]:
            raise not_found(resource.qualified, name)
        return key

    def get(self, resource: Resource, namespace, name) -> dict:
        with self.lock:
            state = self._load()
            return self._shown(self._existing(state, resource, namespace, name), state, resource)

    def list(self, resource: Resource, namespace, selector: str) -> dict:
        with self.lock:
            state = self._load()
            prefix = f"{resource.group}/{resource.name}/"
            items = [self._shown(key, state, resource) for key in sorted(state["objects"])
                     if key.startswith(prefix) and (namespace is None or key.split("/")[-2] == namespace)]
            items = [item for item in items if matches(selector, item["metadata"].get("labels") or {})]
            return {"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                    "metadata": {"resourceVersion": str(state["version"])}, "items": items}

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
        raise not_found("pods", name)

    # ------------------------------------------------------------ writes

    def _check_namespace(self, state: dict, resource: Resource, namespace: str | None, name: str, creating: bool) -> None:
        """The NamespaceLifecycle admission plugin: the namespace must exist, and a Terminating
        one takes no new objects (plugin/pkg/admission/namespace/lifecycle/admission.go)."""
        if not resource.namespaced:
            return
        ns = state["objects"].get(self.key(NAMESPACES, None, namespace))
        if ns is None:
            raise not_found("namespaces", namespace)
        if creating and "deletionTimestamp" in ns["metadata"]:
            raise ApiError(403, "Forbidden", f'{resource.qualified} "{name}" is forbidden: unable to create new '
                                             f"content in namespace {namespace} because it is being terminated",
                           details={"name": name, "group": resource.group, "kind": resource.name})

    def write(self, resource: Resource, namespace, name, change, dry: bool = False,
              create_only: bool = False, subresource: str | None = None) -> tuple[int, dict]:
        """`change(live or None)` -> the new object; stored unless `dry` (a dry run is refused
        exactly where the write would be); (201 created or 200, the object as shown). Only a
        write to the `status` subresource changes a status, where the resource has one."""
        with self.lock:
            state = self._load()
            key = self.key(resource, namespace, name)
            live = state["objects"].get(key)
            self._check_namespace(state, resource, namespace, name, live is None)
            if live and create_only:
                raise ApiError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists',
                               details={"name": name, "group": resource.group, "kind": resource.name})
            new = change(copy.deepcopy(live) if live else None)
            if resource.subresource("status") and subresource != "status":
                new.pop("status", None)
                if live and "status" in live:
                    new["status"] = live["status"]
            new["apiVersion"] = resource.group_version
            new["metadata"]["name"] = name
            if namespace:
                new["metadata"]["namespace"] = namespace
            services.allocate(new, live)
            if live:
                immutable.check(resource, live, new)
            elif names.problems(resource.kind, name):
                raise invalid(resource.kind, resource.group, name, names.problems(resource.kind, name))
            if resource.kind == "CustomResourceDefinition":
                crds.validate(new)
            if validation.problems(resource.kind, new):
                raise invalid(resource.kind, resource.group, name, validation.problems(resource.kind, new))
            if len(json.dumps(new)) > MAX_OBJECT_BYTES:
                raise ApiError(500, "", "etcdserver: request is too large")
            if live:
                self._replace(state, key, new)
            else:
                self._create(state, resource, new)
            if not dry:
                if resource.kind == "HelmChart":
                    self._install_job(state, new)
                self._save(state)
            return (200 if live else 201), self._shown(key, state, resource)

    def _replace(self, state: dict, key: str, new: dict) -> None:
        """Store `new` over the live object: its identity kept, a new resourceVersion where it
        changed, a new generation where more than metadata and status did; the time its pods
        last changed (workloads.kubelet) moves unless only the replica count did, as scaling
        leaves the running pods be; a Deployment notes whether its pods were running then
        (its old ReplicaSet's pods stay while the new ones start)."""
        live = state["objects"][key]
        for field in ("uid", "creationTimestamp", "resourceVersion", "generation", "deletionTimestamp"):
            if field in live["metadata"]:
                new["metadata"][field] = live["metadata"][field]
        if new != live:
            state["version"] += 1
            new["metadata"]["resourceVersion"] = str(state["version"])
            if _spec(new) != _spec(live):
                new["metadata"]["generation"] = live["metadata"].get("generation", 1) + 1
            if _spec(new, "replicas") != _spec(live, "replicas"):
                was = kubelet(live, state["changed"].get(key, 0), self.nodes())
                state["rolling"][key] = was == "running" or state["rolling"].get(key, False)
                state["changed"][key] = time.time()
        state["objects"][key] = new

    def _install_job(self, state: dict, chart: dict) -> None:
        key = self.key(JOBS, chart["metadata"]["namespace"], f"helm-install-{chart['metadata']['name']}")
        job = helm.install_job(chart, state["objects"].get(key))
        if job:
            state["objects"].pop(key, None)
            self._create(state, JOBS, job)

    # ------------------------------------------------------------ deletes

    def delete(self, resource: Resource, namespace, name, version: str | None = None,
               orphan: bool = False, dry: bool = False) -> dict:
        """Delete an object; with `version` (DeleteOptions' preconditions), only that version of it.
        A Namespace is not gone at once: it turns Terminating (namespace controller)."""
        with self.lock:
            state = self._load()
            key = self._existing(state, resource, namespace, name)
            obj = state["objects"][key]
            precondition(obj, version, resource)
            if dry:
                return self._shown(key, state, resource)
            if resource.kind == "Namespace":
                if name in UNDELETABLE:
                    raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be '
                                                     "deleted", details={"name": name, "kind": "namespaces"})
                if "deletionTimestamp" not in obj["metadata"]:
                    obj["metadata"]["deletionTimestamp"] = now()
                    obj["status"] = {"phase": "Terminating"}
                    state["version"] += 1
                    obj["metadata"]["resourceVersion"] = str(state["version"])
                    state["terminating"][name] = time.time() + NAMESPACE_SECONDS
                    self._save(state)
                return self._shown(key, state, resource)
            shown = self._shown(key, state, resource)
            self._remove(state, key, orphan)
            self._save(state)
            return shown

    def _remove(self, state: dict, key: str, orphan: bool = False) -> None:
        """Remove an object, and what goes with it: a CRD's custom resources; with background
        propagation (the default), its dependents, by ownerReferences, as the garbage
        collector does (kubernetes.io/docs/concepts/architecture/garbage-collection/)."""
        gone = state["objects"].pop(key)
        for record in ("changed", "rolling", "hpa"):
            state[record].pop(key, None)
        if gone["kind"] == "HelmChart":  # helm-controller uninstalls its release
            for other in helm.released(state["objects"], gone):
                self._remove(state, other)
        if gone["kind"] == "CustomResourceDefinition":
            spec = gone["spec"]
            state["established"].pop(gone["metadata"]["name"], None)
            for other in [k for k in state["objects"] if k.startswith(f"{spec['group']}/{spec['names']['plural']}/")]:
                self._remove(state, other)
        if orphan:
            return
        uid = gone["metadata"]["uid"]
        for other, obj in list(state["objects"].items()):
            if other in state["objects"] and any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                self._remove(state, other)

    def _finish_namespaces(self, state: dict) -> bool:
        """The namespace controller: a Terminating namespace's objects are deleted, then the
        namespace (its finalizer `kubernetes` removed) goes; True where one went."""
        done = [name for name, at in state["terminating"].items() if time.time() >= at]
        for name in done:
            for key in [k for k in state["objects"] if k.split("/")[-2] == name]:
                if key in state["objects"]:
                    self._remove(state, key)
            state["objects"].pop(self.key(NAMESPACES, None, name), None)
            del state["terminating"][name]
        return bool(done)

    def _autoscale(self, state: dict) -> bool:
        """The HorizontalPodAutoscaler controller's passes that are due (autoscaler.py); True
        where one ran."""
        ran = False
        for key in [k for k in state["objects"] if k.startswith("autoscaling/horizontalpodautoscalers/")]:
            record = state["hpa"].setdefault(key, {"synced": 0, "history": []})
            if time.time() - record["synced"] < autoscaler.sync_seconds():
                continue
            hpa = state["objects"][key]
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            resource = by_kind(self._served(state), ref.get("apiVersion", ""), ref.get("kind", ""))
            target_key = resource and self.key(resource, hpa["metadata"]["namespace"], ref.get("name", ""))
            if not resource or not resource.subresource("scale") or target_key not in state["objects"]:
                continue
            hpas = find(BUILTINS, "autoscaling", "v2", "horizontalpodautoscalers")
            scaled, synced = autoscaler.sync(hpa, state["objects"][target_key], record["history"],
                                             (schema.of(hpas), schema.of(resource)))
            if scaled:
                self._replace(state, target_key, scaled)
            self._replace(state, key, synced)
            record["synced"], ran = time.time(), True
        return ran

    def kind(self, api_version: str, kind: str) -> Resource | None:
        """The served resource of a kind, for the manifests directory."""
        return by_kind(self.resources(), api_version, kind)
