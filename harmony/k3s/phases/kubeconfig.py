"""Kubeconfig: a server's kubeconfig fetched to the controller (private, 0600), where the
controller then waits for the cluster's nodes and merges it into the user's."""

from __future__ import annotations

from pyinfra.api import deploy

from harmony import operations
from harmony.k3s.facts import HostState
from harmony.k3s import paths
from harmony.k3s.hostrun import K3sHostRun


@deploy("kubeconfig")
def run(node: K3sHostRun) -> None:
    if node.settings.role == "server":
        fetch(node.state)


def fetch(state: HostState) -> None:
    operations.fetch_kubeconfig(paths.KUBECONFIG, state.files.get(paths.KUBECONFIG))
