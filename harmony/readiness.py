"""Waiting for a cluster from the controller, through the Kubernetes API (the official client).

Bounded: it polls until every expected node is Ready or the deadline passes, and then says which
nodes were missing or not Ready.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harmony.errors import RunFailed


@dataclass(frozen=True)
class Node:
    name: str
    ready: bool
    roles: tuple[str, ...]
    version: str


def core_api(kubeconfig: dict):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config_dict(kubeconfig))


def list_nodes(kubeconfig: dict, timeout: float = 5.0) -> list[Node]:
    """The cluster's nodes; raises the client's errors when the API cannot be reached."""
    nodes = []
    for item in core_api(kubeconfig).list_node(_request_timeout=timeout).items:
        conditions = item.status.conditions or []
        labels = item.metadata.labels or {}
        nodes.append(Node(
            name=item.metadata.name,
            ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
            roles=tuple(sorted(
                key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")
            )),
            version=item.status.node_info.kubelet_version if item.status.node_info else "",
        ))
    return nodes


def wait_ready(kubeconfig: dict, expected: set[str], count: int, timeout: float,
               version: str | None = None) -> list[Node]:
    """Wait until the named nodes (on `version`, if given) and at least `count` nodes in all are
    Ready."""
    deadline = time.monotonic() + timeout
    problem = "the API did not answer"
    while True:
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
