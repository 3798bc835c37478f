"""A k3d cluster whose create harmony began and never saw end: what a Ctrl-C, a killed run or a
lost connection leaves halfway through `k3d cluster create`.

k3d v5.7.4 handles no signal: killed, it stops where it is and rolls nothing back
(cmd/cluster/clusterCreate.go rolls back only an error `ClusterRun` returns). What it made so far
stays: the network, each node's container (ClusterCreate creates them all before ClusterStart
starts any), the servers it started, a load balancer never started. `k3d cluster list` lists
that as any cluster. `k3d cluster start` cannot finish it: what the create does before a node's
first start (the load balancer's config, registries.yaml, a node's own hooks) is held in the
create's memory alone, and a node it never created is not there to start. So `up` deletes such a
cluster and creates it again, which only harmony's own create can call for: harmony marks the
create begun (`NAME.creating`, beside the kept spec) and unmarks it once k3d says it is done; a
cluster without the mark, another tool's among them, is never deleted for it.
"""

from __future__ import annotations

import shlex


def marker(state_dir: str, cluster: str) -> str:
    """The file that says harmony's create of `cluster` began and has not ended."""
    return f"{state_dir}/{cluster}.creating"


def marked(mark: str, *commands: str) -> str:
    """`commands` (k3d's, quoted) run under the mark: set before the first, removed after the
    last succeeds, so a run stopped or failed in between leaves it."""
    quoted = shlex.quote(mark)
    return " && ".join((f"touch {quoted}", *commands, f"rm -f {quoted}"))
