"""The k3d lifecycle, in the order it runs, on the one host whose Docker holds the cluster:

    preflight   the host's state (under its run lock), Docker (installed if asked), the spec
    binary      the k3d release, checksum verified, put in place atomically
    cluster     the rendered k3d config; the cluster created, scaled, started or re-created
    kubeconfig  the cluster's kubeconfig written on the host and fetched to the controller

(then, on the controller: the nodes Ready in the API, the kubeconfig merged: harmony.verbs.up.)
A phase with nothing to do declares no operation (`harmony.phase`). Adding a phase is a module
in `phases/` and a line below.
"""

from __future__ import annotations

from harmony.k3d.hostrun import K3dHostRun
from harmony.k3d.phases import p1_preflight, p2_binary, p3_cluster, p4_kubeconfig

PHASES = (p1_preflight.PHASE, p2_binary.PHASE, p3_cluster.PHASE, p4_kubeconfig.PHASE)


def up(node: K3dHostRun) -> None:
    """Add the host's operations for `harmony up`, in lifecycle order."""
    for phase in PHASES:
        if not node.refused:
            phase.declare(node)
