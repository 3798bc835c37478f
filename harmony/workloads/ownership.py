"""Whose an object on the cluster is: harmony takes and prunes only what the project applied.

A cluster is shared: one k3s per laptop runs every project cloned on it. Each workload of a
project is an ApplySet (KEP-3659): a parent ConfigMap `harmony.PROJECT.WORKLOAD` in kube-system,
labelled with the project and the workload, whose ID every member carries in the label
`applyset.kubernetes.io/part-of`. A project sees only its own parents, so its prune never
reaches another project's objects.

An object the cluster has already is this project's only when it carries the ID of one of the
project's workloads (moving between two of them is allowed). Anything else has an owner:
another project's workload, a workload of a harmony from before projects had names, another
ApplySet, a Helm release, or the field managers that wrote it; `owner` names it, and `up`
refuses to take it unless told to (`--adopt`). The cluster's own namespaces are never taken.

A Namespace is pruned only when nothing in it belongs to anyone else (`strangers`): objects
another workload or project applied, Helm releases, anything made by hand. What the API makes
in every namespace (its `default` ServiceAccount, `kube-root-ca.crt`), Events and Endpoints
(the controllers' mirrors of Services), and objects another object owns (pods, ReplicaSets)
do not count: they go with their owner.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

PART_OF = "applyset.kubernetes.io/part-of"
APPLYSET_ID = "applyset.kubernetes.io/id"
TOOLING = "applyset.kubernetes.io/tooling"
GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES = "applyset.kubernetes.io/additional-namespaces"
MANAGED_BY = "app.kubernetes.io/managed-by"
PROJECT = "harmony/project"
WORKLOAD = "harmony/workload"
PARENT_NAMESPACE = "kube-system"
PARENT_PREFIX = "harmony."
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
AUTOMATIC = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}
MIRRORS = {"Event", "Endpoints"}
HELM_RELEASE = "meta.helm.sh/release-name"
THE_CLUSTER = "the cluster itself"


def parent_name(project: str, workload: str) -> str:
    return f"{PARENT_PREFIX}{project}.{workload}"


def applyset_id(parent: str) -> str:
    """The KEP's ID of a parent ConfigMap: base64url(sha256(name.namespace.kind.group)), v1."""
    digest = hashlib.sha256(f"{parent}.{PARENT_NAMESPACE}.ConfigMap.".encode()).digest()
    return "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"


def workload_id(project: str, workload: str) -> str:
    """The ApplySet ID that a project's workload labels its objects with."""
    return applyset_id(parent_name(project, workload))


@dataclass(frozen=True)
class Parent:
    """A workload's ApplySet parent: whose it is, and where its members are."""

    name: str
    project: str | None  # None: made by a harmony from before projects had names
    workload: str
    group_kinds: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return applyset_id(self.name)

    @property
    def described(self) -> str:
        if self.project is None:
            return f"workload {self.workload} of an earlier harmony (ApplySet parent {PARENT_NAMESPACE}/{self.name})"
        return f"project {self.project}'s workload {self.workload}"

    def body(self) -> dict:
        """The ConfigMap, as applied."""
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": self.name, "namespace": PARENT_NAMESPACE,
                             "labels": {APPLYSET_ID: self.id, MANAGED_BY: "harmony", PROJECT: self.project,
                                        WORKLOAD: self.workload},
                             "annotations": {TOOLING: "harmony/v1", GROUP_KINDS: ",".join(sorted(self.group_kinds)),
                                             NAMESPACES: ",".join(sorted(self.namespaces))}}}


def parent_of(config_map: dict) -> Parent | None:
    """The Parent a ConfigMap in kube-system is, or None where harmony did not make it."""
    metadata = config_map["metadata"]
    labels, notes = metadata.get("labels") or {}, metadata.get("annotations") or {}
    if labels.get(MANAGED_BY) != "harmony" or not metadata["name"].startswith(PARENT_PREFIX):
        return None
    project = labels.get(PROJECT)
    workload = labels.get(WORKLOAD) or metadata["name"][len(PARENT_PREFIX):]
    return Parent(metadata["name"], project, workload, _listed(notes.get(GROUP_KINDS)), _listed(notes.get(NAMESPACES)))


def _listed(value: str | None) -> frozenset[str]:
    return frozenset(filter(None, (value or "").split(",")))


def owner(live: dict, parents: dict[str, Parent], project: str) -> str | None:
    """Who owns `live`, said for a message; None where it is the project's own (`parents`:
    every harmony parent on the cluster, by ID)."""
    metadata = live.get("metadata") or {}
    labels = metadata.get("labels") or {}
    part_of = labels.get(PART_OF)
    if part_of:
        parent = parents.get(part_of)
        if parent is None:
            return f"another ApplySet ({part_of})"
        return None if parent.project == project else parent.described
    if live.get("kind") == "Namespace" and metadata.get("name") in SYSTEM_NAMESPACES:
        return THE_CLUSTER
    release = release_of(live)
    if release or labels.get(MANAGED_BY) == "Helm":
        return f"the Helm release {release or labels.get('app.kubernetes.io/instance', '?')}"
    managers = sorted({entry.get("manager", "?") for entry in metadata.get("managedFields") or []})
    return f"whoever made it ({', '.join(managers)})" if managers else "whoever made it (outside harmony)"


def release_of(item: dict) -> str | None:
    """The Helm release an object belongs to: what the release made (annotated by Helm), or
    where Helm keeps the release (a Secret labelled owner=helm)."""
    metadata = item.get("metadata") or {}
    labels = metadata.get("labels") or {}
    if labels.get("owner") == "helm" and item.get("kind") == "Secret":
        return labels.get("name")
    return (metadata.get("annotations") or {}).get(HELM_RELEASE)


def strangers(items: list[dict], applyset: str, parents: dict[str, Parent], project: str,
              releases: frozenset[str] = frozenset()) -> list[str]:
    """The objects of a namespace that keep it from being pruned with `applyset`'s workload,
    each said as Kind/name (its owner); what the Helm `releases` uninstalled with it made does
    not count."""
    found = []
    for item in items:
        metadata = item.get("metadata") or {}
        kind, name = item.get("kind", "?"), metadata.get("name", "?")
        if (kind, name) in AUTOMATIC or kind in MIRRORS or metadata.get("ownerReferences"):
            continue
        if item.get("type") == "kubernetes.io/service-account-token":
            continue  # made by the API for a ServiceAccount (before Kubernetes 1.24)
        if (metadata.get("labels") or {}).get(PART_OF) == applyset or release_of(item) in releases:
            continue
        said = owner(item, parents, project) or "another workload of this project"
        found.append(f"{kind}/{name} ({said})")
    return found
