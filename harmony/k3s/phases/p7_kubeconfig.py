"""Kubeconfig: a server's kubeconfig fetched to the controller (private, 0600), where the
controller then waits for the cluster's nodes and merges it into the user's. Passed where the
controller's copy is the server's file as it is."""

from __future__ import annotations

from harmony import operations
from harmony.k3s.facts import HostState
from harmony.k3s import paths
from harmony.k3s.hostrun import K3sHostRun
from harmony.phase import Phase


def should_run(node: K3sHostRun) -> bool:
    """An agent has no kubeconfig: its run adds nothing, and the phase is not one of its own to
    be passed (its report has no kubeconfig phase, as before)."""
    return node.settings.role != "server" or not operations.fetched(operations.kubeconfig_copy(),
                                                                    node.file(paths.KUBECONFIG))


def run(node: K3sHostRun) -> None:
    if node.settings.role == "server":
        fetch(node.state)


def fetch(state: HostState) -> None:
    operations.fetch_kubeconfig(paths.KUBECONFIG, state.files.get(paths.KUBECONFIG))


PHASE = Phase("kubeconfig", run, should_run)
