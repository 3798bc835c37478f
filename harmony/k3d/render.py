"""The k3d cluster config (k3d.io/v1alpha5, kind Simple) harmony creates a cluster from.

harmony keeps the file it created the cluster from on the host: the next run renders the spec
again and compares, so that a changed spec is noticed without asking k3d for every setting.
"""

from __future__ import annotations

from typing import Any

import yaml

from harmony.k3d.settings import K3dSettings

ROOTLESS_KUBELET = "--kubelet-arg=feature-gates=KubeletInUserNamespace=true"
HEADER = "# Managed by harmony: the spec the k3d cluster was created from.\n"


def image(k3s_version: str) -> str:
    """k3s's image for a release: the tag is the version with '+' as '-' (Docker tags have no '+')."""
    return f"rancher/k3s:{k3s_version.replace('+', '-')}"


def k3s_args(settings: K3dSettings) -> list[dict[str, Any]]:
    """k3s_config and the node labels and taints as k3s arguments on every server (and, on a
    rootless engine, the kubelet's user-namespace gate on every node)."""
    args = []
    for key, value in sorted(settings.k3s.extra_config.items()):
        values = value if isinstance(value, list) else [value]
        for item in values:
            text = str(item).lower() if isinstance(item, bool) else str(item)
            args.append(f"--{key.rstrip('+')}={text}")
    args += [f"--node-label={k}={v}" for k, v in sorted(settings.k3s.node_labels.items())]
    args += [f"--node-taint={t}" for t in settings.k3s.node_taints]
    found = [{"arg": arg, "nodeFilters": ["server:*"]} for arg in args]
    if settings.rootless and not any(arg.startswith("--kubelet-arg=feature-gates=") for arg in args):
        # A rootless engine's nodes run the kubelet in a user namespace, which it must be told
        # (k3d's rootless guide); on every node. A k3s_config that sets the kubelet's feature
        # gates itself is left to say so (k3s keeps one value of a kubelet flag).
        found.append({"arg": ROOTLESS_KUBELET, "nodeFilters": ["server:*", "agent:*"]})
    return found


def config_data(settings: K3dSettings, k3s_version: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "apiVersion": "k3d.io/v1alpha5",
        "kind": "Simple",
        "metadata": {"name": settings.cluster},
        "servers": settings.servers,
        "agents": settings.agents,
        "image": image(k3s_version),
        "kubeAPI": {"hostIP": settings.api_host_ip, "hostPort": str(settings.api_port)},
        "options": {
            "k3d": {"wait": True, "timeout": "300s"},
            "k3s": {"extraArgs": k3s_args(settings)},
            # harmony merges the kubeconfig itself, under the cluster's own name.
            "kubeconfig": {"updateDefaultKubeconfig": False, "switchCurrentContext": False},
        },
    }
    if settings.ports:
        data["ports"] = [
            {"port": spec.split("@", 1)[0], "nodeFilters": [spec.split("@", 1)[1]] if "@" in spec else ["loadbalancer"]}
            for spec in settings.ports
        ]
    if settings.registries:
        data["registries"] = settings.registries
    if settings.k3s.token:
        data["token"] = settings.k3s.token
    return data


def config_yaml(settings: K3dSettings, k3s_version: str) -> str:
    return HEADER + yaml.safe_dump(config_data(settings, k3s_version), default_flow_style=False, sort_keys=True)
