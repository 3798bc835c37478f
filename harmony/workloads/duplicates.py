"""The same object twice in a project, in one workload or in two, is bad input (exit 2) naming
both places: each copy would be applied over the other on every run (the last one winning, and
`check` never clean), and two workloads' ApplySets would each prune it as the other's.

An object is its API group, kind, namespace and name, as the API server keys it (the version does
not count: apps/v1 and apps/v1beta2 Deployments are one object). An object that names no namespace
is in its workload's. A cluster-scoped object has none, whatever its manifest says (kubectl drops
it too: cli-runtime's resource.FilterNamespace); which kinds are cluster-scoped is the cluster's
to say, and it cannot be asked before anything runs, so it is read from CLUSTER_SCOPED, the
built-in kinds (`kubectl api-resources --namespaced=false` of Kubernetes 1.32, its beta and alpha
APIs included), and from the project's own CustomResourceDefinitions with `spec.scope: Cluster`. A
custom resource of a CRD installed otherwise is taken as namespaced: two copies of it under
different namespaces then go unnoticed here, and the API server keeps the last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harmony.errors import BadInput

if TYPE_CHECKING:
    from harmony.workloads.spec import Workload

CLUSTER_SCOPED = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"), ("apiregistration.k8s.io", "APIService"),
    ("scheduling.k8s.io", "PriorityClass"), ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"), ("networking.k8s.io", "ServiceCIDR"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"), ("storage.k8s.io", "VolumeAttributesClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("certificates.k8s.io", "CertificateSigningRequest"), ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"), ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "ResourceSlice"),
})


def refuse(workloads: list[Workload]) -> None:
    """BadInput for the first object the project's workloads give twice."""
    cluster_scoped = CLUSTER_SCOPED | _cluster_scoped_crds(workloads)
    seen: dict[tuple[str, str, str, str], str] = {}
    for workload in workloads:
        for index, item in enumerate(workload.objects):
            group, kind, name = _group(item), item["kind"], item["metadata"]["name"]
            namespace = "" if (group, kind) in cluster_scoped else \
                item["metadata"].get("namespace") or workload.namespace
            key, where = (group, kind, namespace, name), workload.source(index)
            if key in seen:
                what = f"{kind}/{name}" + (f" in {namespace}" if namespace else "")
                raise BadInput(f"{what} is given twice, in {seen[key]} and in {where}: keep one")
            seen[key] = where


def _group(item: dict) -> str:
    """An object's API group: apiVersion without its version ("" for the core group's v1)."""
    return item["apiVersion"].rpartition("/")[0]


def _cluster_scoped_crds(workloads: list[Workload]) -> set[tuple[str, str]]:
    """(group, kind) of each custom resource the project's own CRDs make cluster-scoped."""
    found = set()
    for workload in workloads:
        for item in workload.objects:
            spec = item.get("spec")
            if item["kind"] == "CustomResourceDefinition" and isinstance(spec, dict) and spec.get("scope") == "Cluster":
                found.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
    return found
