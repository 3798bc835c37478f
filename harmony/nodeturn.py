"""One node's turn in a rolling restart, seen from the controller through the Kubernetes API.

A restart (an upgrade, a changed setting) takes one node at a time. Around it, harmony asks the
cluster's API: before, with `k3s_drain`, it cordons the node and evicts its pods (as `kubectl
drain --ignore-daemonsets` does); after, it waits until the node is Ready again on the version
just installed, and uncordons it if it cordoned it. Only then does the next node's turn start.

These run on the controller inside the pyinfra run (`harmony.k3s.operations.restart` calls them), with
the first server's admin kubeconfig, which that operation reads over SSH into memory only.
"""

from __future__ import annotations

import time

from harmony import readiness
from harmony.errors import RunFailed

# Annotation the kubelet puts on static pods' mirrors: they cannot be evicted.
MIRROR_POD = "kubernetes.io/config.mirror"


def cordon_and_drain(config: dict, node: str, timeout: float) -> bool:
    """Cordon `node` and evict its pods but DaemonSets' and static ones, waiting (bounded) until
    they are gone. Returns whether harmony cordoned it (False: it already was, and stays so)."""
    api = readiness.core_api(config)
    already = bool(api.read_node(node, _request_timeout=10).spec.unschedulable)
    if not already:
        api.patch_node(node, {"spec": {"unschedulable": True}}, _request_timeout=10)
    deadline = time.monotonic() + timeout
    while True:
        pods = [p for p in api.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node}", _request_timeout=10).items if _evictable(p)]
        if not pods:
            return not already
        if time.monotonic() >= deadline:
            names = ", ".join(f"{p.metadata.namespace}/{p.metadata.name}" for p in pods)
            raise RunFailed(f"node {node} not drained after {timeout:.0f}s (it stays cordoned): "
                            f"still running {names}")
        for pod in pods:
            _evict(api, pod)
        time.sleep(1)


def _evictable(pod) -> bool:
    owners = pod.metadata.owner_references or []
    return not any(o.kind == "DaemonSet" for o in owners) and \
        MIRROR_POD not in (pod.metadata.annotations or {}) and \
        (pod.status.phase if pod.status else None) not in ("Succeeded", "Failed")


def _evict(api, pod) -> None:
    """Ask for the pod's eviction; a disruption budget that refuses it (429) is asked again on
    the next round, as `kubectl drain` does."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod.metadata.name,
                                                          namespace=pod.metadata.namespace))
    try:
        api.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body,
                                           _request_timeout=10)
    except ApiException as error:
        if error.status not in (404, 429):
            raise


def back_and_ready(config: dict, node: str, version: str, timeout: float, uncordon: bool,
                   etcd: bool = False) -> None:
    """Wait until `node` is Ready on `version` (with `etcd`, and its etcd member a healthy voter
    again, before the next server's restart may take another); then uncordon it if harmony
    cordoned it."""
    readiness.wait_ready(config, {node}, 1, timeout, version=version, etcd=etcd)
    if uncordon:
        readiness.core_api(config).patch_node(node, {"spec": {"unschedulable": False}},
                                              _request_timeout=10)
