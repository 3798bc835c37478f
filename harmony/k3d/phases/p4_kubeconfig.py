"""Kubeconfig: the cluster's kubeconfig written on the host (where the cluster changed, or there
is none) and fetched to the controller. Passed where neither is needed: the cluster is as it was
and the controller's copy is the host's file."""

from __future__ import annotations

import shlex

from harmony import operations
from harmony.facts import FileState
from harmony.k3d.hostrun import USER, K3dHostRun, as_user
from harmony.phase import Phase


def should_run(node: K3dHostRun) -> bool:
    return not operations.fetched(operations.kubeconfig_copy(), written(node))


def run(node: K3dHostRun) -> None:
    paths = node.paths
    current = written(node)
    if current is None:
        write_kubeconfig(paths.k3d, node.settings.cluster, paths.kubeconfig, as_user(node.state))
    fetch_kubeconfig(paths.kubeconfig, current)


def written(node: K3dHostRun) -> FileState | None:
    """The kubeconfig on the host, where it is still the cluster's (None: it is to be written)."""
    return None if node.changed else node.state.files.get(node.paths.kubeconfig)


def write_kubeconfig(k3d: str, cluster_name: str, path: str, user: dict) -> None:
    quoted = shlex.quote(path)
    operations.run(
        name="Write the cluster's kubeconfig",
        command=f"umask 077 && {shlex.quote(k3d)} kubeconfig get {shlex.quote(cluster_name)} > {quoted}.new"
                f" && mv -f {quoted}.new {quoted}",
        **user,
    )


def fetch_kubeconfig(path: str, current: FileState | None) -> None:
    operations.fetch_kubeconfig(path, current, as_root=False, **USER)


PHASE = Phase("kubeconfig", run, should_run)
