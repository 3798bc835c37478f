"""Waiting for a cluster from the controller, through the Kubernetes API (its nodes read with
`harmony.kubeapi`; the official client for what writes).

Bounded: it polls until every expected node is Ready or the deadline passes, and then says which
nodes were missing or not Ready.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harmony.errors import RunFailed


@dataclass(frozen=True)
class ListedNode:
    name: str
    ready: bool
    roles: tuple[str, ...]
    version: str
    address: str = ""  # its InternalIP, where its host may be reached


def core_api(kubeconfig: dict):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config_dict(kubeconfig))


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
            address=next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
                         ""),
        ))
    return nodes


def wait_ready(kubeconfig: dict, expected: set[str], count: int, timeout: float,
               version: str | None = None, check=lambda doing: None) -> list[ListedNode]:
    """Wait until the named nodes (on `version`, if given) and at least `count` nodes in all are
    Ready; `check` is called before each poll (harmony.stopping)."""
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
            missing = sorted(expected - ready)
            if not missing and len(ready) >= count:
                return nodes
            not_ready = sorted({n.name for n in nodes} - ready)
            problem = "; ".join(filter(None, [
                f"not Ready{f' on {version}' if version else ''}: {', '.join(not_ready)}" if not_ready else "",
                f"missing: {', '.join(missing)}" if missing else "",
                f"{len(ready)} of {count} nodes Ready",
            ]))
        if time.monotonic() >= deadline:
            raise RunFailed(f"cluster not ready after {timeout:.0f}s: {problem}")
        time.sleep(1)
