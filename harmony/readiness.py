"""Waiting for a cluster from the controller, through the Kubernetes API (its nodes read with
`harmony.kubeapi`; the official client for what writes).

Bounded: it polls until every expected node is Ready or the deadline passes, and then says which
nodes were missing or not Ready.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harmony.errors import RunFailed


# The node condition k3s's etcd controller keeps on each server of embedded etcd (k3s pkg/etcd,
# manageLearners: the etcd leader checks every member's health every 15 s): True while it is a
# healthy voting member; False with the reason (Unhealthy, MemberIsLearner, NotAMember) else.
ETCD_VOTER = "EtcdIsVoter"

# The label harmony gives each node whose k3s it installed (`harmony.steps.cluster.claim_nodes`):
# pruning takes out only nodes that carry it, never one another tool joined.
MANAGED_BY = "app.kubernetes.io/managed-by"
HARMONY = "harmony"


@dataclass(frozen=True)
class ListedNode:
    name: str
    ready: bool
    roles: tuple[str, ...]
    version: str
    etcd_voter: dict | None = None  # its EtcdIsVoter condition, where k3s set one
    address: str = ""  # its InternalIP, where its host may be reached
    managed: bool = False  # labelled as harmony's (MANAGED_BY): harmony installed its k3s


def etcd_problem(node: ListedNode) -> str:
    """Why `node`'s etcd member is not a healthy voter ("" where it is, or k3s says nothing)."""
    condition = node.etcd_voter
    if not condition or condition.get("status") == "True":
        return ""
    return f"{condition.get('reason') or 'not a voter'}: {condition.get('message') or ''}".rstrip(": ")


def core_api(kubeconfig: dict):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config_dict(kubeconfig))


def wait_deleted(api, name: str, timeout: float) -> bool:
    """Wait until the API no longer has the deleted node `name`: a server's Node stays, with a
    deletionTimestamp, until k3s's etcd member controller has removed its member (its
    finalizer). False at the deadline; the API's other errors (ApiException) are raised."""
    from kubernetes.client.rest import ApiException

    deadline = time.monotonic() + timeout
    while True:
        try:
            api.read_node(name, _request_timeout=10)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)


def list_nodes(kubeconfig: dict, timeout: float = 5.0) -> list[ListedNode]:
    """The cluster's nodes; raises what the connection raises when the API cannot be reached."""
    from harmony import kubeapi

    listed = kubeapi.get(kubeconfig, "/api/v1/nodes", timeout)
    nodes = []
    for item in listed.get("items") or []:
        status, labels = item.get("status") or {}, item["metadata"].get("labels") or {}
        nodes.append(ListedNode(
            name=item["metadata"]["name"],
            ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []),
            roles=tuple(sorted(
                key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")
            )),
            version=(status.get("nodeInfo") or {}).get("kubeletVersion", ""),
            etcd_voter=next((c for c in status.get("conditions") or [] if c.get("type") == ETCD_VOTER), None),
            address=next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
                         ""),
            managed=labels.get(MANAGED_BY) == HARMONY,
        ))
    return nodes


def wait_ready(kubeconfig: dict, expected: set[str], count: int, timeout: float,
               version: str | None = None, check=lambda doing: None, etcd: bool = False) -> list[ListedNode]:
    """Wait until the named nodes (on `version`, if given) and at least `count` nodes in all are
    Ready; with `etcd`, also until each named node's etcd member is a healthy voter, as k3s last
    found it (`etcd_problem`). `check` is called before each poll (harmony.stopping)."""
    deadline = time.monotonic() + timeout
    problem = "the API did not answer"
    while True:
        check("waiting for the nodes to be Ready")
        try:
            nodes = list_nodes(kubeconfig)
        except Exception as error:  # any transport or API error: keep polling until the deadline
            problem = f"the API did not answer ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        else:
            ready = {n.name for n in nodes if n.ready and (not version or n.name not in expected
                                                           or n.version == version)}
            unhealthy = {n.name: etcd_problem(n) for n in nodes if etcd and n.name in expected and etcd_problem(n)}
            missing = sorted(expected - ready)
            if not missing and not unhealthy and len(ready) >= count:
                return nodes
            not_ready = sorted({n.name for n in nodes} - ready)
            problem = "; ".join(filter(None, [
                f"not Ready{f' on {version}' if version else ''}: {', '.join(not_ready)}" if not_ready else "",
                f"missing: {', '.join(missing)}" if missing else "",
                *(f"{name}'s etcd member is not a healthy voter ({why})" for name, why in sorted(unhealthy.items())),
                f"{len(ready)} of {count} nodes Ready",
            ]))
        if time.monotonic() >= deadline:
            raise RunFailed(f"cluster not ready after {timeout:.0f}s: {problem}")
        time.sleep(1)
