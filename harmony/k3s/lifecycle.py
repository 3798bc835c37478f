"""The k3s lifecycle, in the order it runs: the one place that orders a cluster's operations.

    preflight   every host at once: can it run k3s? (its state read under its run lock)
    then, stage by stage -- the first server; each joining server, one at a time; the agents:
      prepare     kernel modules and settings, SELinux policy, firewall ports, no old role
      binary      the k3s release, checksum verified, put in place atomically
      configure   token, config.yaml, registries.yaml, the service's environment
      service     the unit or init script, k3s's scripts, kubectl/crictl/ctr links
      start       start, or restart for a change: the rolling turn, Ready before the next
      kubeconfig  a server's kubeconfig fetched to the controller

(then, on the controller: the nodes Ready in the API, the kubeconfig merged: harmony.verbs.up.)
A phase with nothing to do on a host declares no operation there (`harmony.phase`).

A stage's hosts join the cluster the stages before made: a joining server starts only once the
first server is Ready, an agent once every server is. pyinfra orders operations across hosts by
the call stack's lines; `host.loop` adds the stage's and the phase's index, so the same phase's
operations in two stages are two operations, and a wait between stages (one operation on every
host) makes them run in stage order. Adding a phase is a module in `phases/` and a line below.
"""

from __future__ import annotations

from pyinfra import host

from harmony import operations
from harmony.k3s import cluster
from harmony.k3s.hostrun import K3sHostRun
from harmony.k3s.phases import (p1_preflight, p2_prepare, p3_binary, p4_configure, p5_service, p6_start,
                                p7_kubeconfig)

PHASES = (p1_preflight.PHASE, p2_prepare.PHASE, p3_binary.PHASE, p4_configure.PHASE, p5_service.PHASE,
          p6_start.PHASE, p7_kubeconfig.PHASE)
STAGES = (cluster.FIRST_SERVER, cluster.SERVER, cluster.AGENT)
WAITS = {cluster.FIRST_SERVER: ("Wait for the first server", "the first server is done"),
         cluster.SERVER: ("Wait for the servers", "the servers are done")}


def up(node: K3sHostRun) -> None:
    """Add this host's operations for `harmony up`, in lifecycle order: the preflight, then the
    other phases in the host's stage."""
    preflight, *staged = PHASES
    preflight.declare(node)
    joins = len(node.shape.servers) + len(node.shape.agents) > 1
    for stage in host.loop(STAGES):
        if stage == node.stage and not node.refused:
            for phase in host.loop(staged):
                phase.declare(node)
        if joins and stage in WAITS:
            name, reason = WAITS[stage]
            operations.nothing(name=name, reason=reason)
