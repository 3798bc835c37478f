"""Which state a k3d cluster is in after a sleep, a reboot or an engine restart, for `status`,
and the k3d command that brings it back, for `up` (`harmony.k3d.phases.p3_cluster`).

What real k3d v5.7.4 leaves to chance there (pkg/client/cluster.go, pkg/runtimes/docker):
- every container it creates (servers, agents, the load balancer, a registry it creates) has
  Docker's restart policy `unless-stopped`: when the engine comes back, Docker starts again
  those that ran, on their own and in no order, and leaves stopped those that were stopped;
- what k3d does after it starts a node is not done then. Docker writes a container's
  /etc/hosts anew at every start, and k3s its CoreDNS manifest, so host.k3d.internal, which
  `k3d cluster start` puts in both, is gone (k3d-io/k3d#1221, #1057, #401). `k3d cluster start`
  puts it back only into the nodes it starts itself, and into CoreDNS only where it starts a
  server: on a cluster that runs, it does nothing. So `up` stops and starts the cluster, which
  is k3d's own way back (the one #1221 gives);
- a stopped container's published ports (the API's, the cluster's port mappings, a registry's)
  are Docker's to publish again when it starts; `k3d cluster start` starts every stopped
  container of the cluster, the load balancer and its registry with the nodes.
"""

from __future__ import annotations

from harmony.k3d.facts import K3dCluster
from harmony.runtime import docker_fix

RUNNING = "running"
STOPPED = "stopped"
PARTLY = "partly running"
NO_ENGINE = "engine not answering"
ABSENT = "absent"
UNFINISHED = "unfinished"  # harmony's create of it was stopped midway (`harmony.k3d.unfinished`)
UNFINISHED_WHY = "its create was stopped before it ended"


def state(docker: str, cluster: K3dCluster | None) -> str:
    """The cluster's state in a word or three: running (each of its containers; something may be
    lost: `lost`), stopped (no server or agent runs), partly running, the engine not answering
    (installed, not answering: k3d then lists no cluster), absent, unfinished (whatever runs of
    it: its create never ended, so what it lacks it never had)."""
    if docker == "stopped":
        return NO_ENGINE
    if cluster is None:
        return ABSENT
    if cluster.unfinished:
        return UNFINISHED
    if not cluster.down:
        return RUNNING
    return STOPPED if cluster.running == 0 else PARTLY


def lost(cluster: K3dCluster | None) -> list[str]:
    """What the cluster lost that `up` gives back, in words (an unfinished one had nothing to lose)."""
    if cluster is None or cluster.unfinished:
        return []
    return [f"host.k3d.internal in {where}" for where in cluster.lost_alias] + \
        [f"port {port}" for port in cluster.unpublished]


def recovery(k3d: str, name: str, cluster: K3dCluster) -> tuple[str | None, str]:
    """The k3d command (quoted arguments given) that brings a cluster of the right spec back,
    and what it does in words; None where it runs whole."""
    if cluster.lost_alias:
        return f"{k3d} cluster stop {name} && {k3d} cluster start {name}", "Restart (host.k3d.internal lost)"
    if cluster.down:
        return f"{k3d} cluster start {name}", "Start"
    return None, ""


def status(fact: dict | None, cluster: dict | None, ready: int) -> dict:
    """What `status` says of the host's cluster (its `K3dStatus` fact, the cluster's entry in it,
    its nodes Ready): its `state`, the containers `down`, what is `lost`, whether it is
    `healthy`. A host whose engine does not answer is as unreachable as one that does not: the
    cluster is out of reach, and the row says why (`harmony.engine`'s words where it has them:
    the engine's own start, or the one that answers instead)."""
    if fact is None:
        return {"healthy": False}
    found = K3dCluster(**cluster) if cluster else None
    row = {"state": state(fact.get("docker", ""), found), "down": list(found.down) if found else [],
           "lost": lost(found)}
    if row["state"] == NO_ENGINE:
        row.update(reachable=False,
                   reason=fact.get("engine_problem") or docker_fix(fact.get("system", ""), "stopped"))
    whole = found is not None and found.servers + found.agents == ready
    return {**row, "healthy": row["state"] == RUNNING and not row["lost"] and whole}


def note(row: dict) -> str:
    """What a cluster's status line adds where it is not whole: its state, the containers down,
    what is lost, and what `up` does: it brings the cluster back, or creates an unfinished one again."""
    if row["state"] == UNFINISHED:
        return f"; {UNFINISHED} ({UNFINISHED_WHY}): harmony up creates it again"
    said = [row["state"] + (f" ({', '.join(row['down'])} down)" if row["down"] else "")] \
        if row["state"] != RUNNING else []
    said += [f"lost: {'; '.join(row['lost'])}"] if row["lost"] else []
    return f"; {'; '.join(said)}: harmony up brings it back" if said else ""
