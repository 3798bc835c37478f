"""Which nodes leave a k3s cluster, in what order, in what steps, and whether etcd keeps its
quorum while they do: pure decisions, made before anything changes.

A node leaves in four steps: it is cordoned and drained (as before a restart,
`harmony.nodeturn`), its Node object is deleted through the API, its etcd member goes with it
when it was a server (k3s's etcd member controller holds the Node's deletion, by a finalizer,
until it has removed the member: the deletion has settled once the Node is gone), and k3s is
uninstalled from its host, where that host can be reached. Agents leave first (nothing depends
on them), then the servers, one at a time, each only once the one before has settled.

etcd needs a majority of its members up to change its membership and to keep serving. So a
server may leave only where, before, the members up are a quorum of all members, and after,
the members left up are a quorum of the members left. A server that leaves is counted as lost
whether it is up or not: its member goes either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from harmony.k3s.quorum import quorum


@dataclass(frozen=True)
class Leaving:
    """A node that is to leave the cluster, and where its host is reached to uninstall k3s."""

    node: str  # its name in the API
    server: bool  # an etcd member: a server of an HA cluster
    host: str = ""  # the inventory host it is (harmony remove), else "" (pruned: gone from the inventory)
    address: str = ""  # its node's InternalIP: where a pruned node's host is tried
    listed: bool = True  # the API lists it (a named host's node may have left already)


def ordered(leaving: list[Leaving]) -> list[Leaving]:
    """Agents first, then servers, each kind in the order given."""
    return [n for n in leaving if not n.server] + [n for n in leaving if n.server]


def where(node: Leaving) -> str:
    """How harmony reaches the node's host: its inventory host, else its node's address."""
    if node.host:
        return node.host if node.host == node.node else f"host {node.host}"
    return f"{node.address}, its node's address" if node.address else "no known address"


def steps(node: Leaving) -> list[str]:
    """What its leaving does, in order, a line each (what `plan` lists)."""
    said = [f"drain node {node.node}", f"delete node {node.node} from the API"] if node.listed else []
    if node.server and node.listed:
        said.append(f"remove {node.node}'s etcd member")
    return said + [f"uninstall k3s from {node.node} (at {where(node)})"]


def node_of(row: dict, address: str, nodes: list) -> str:
    """The node an inventory host is (its status row, `harmony.steps.cluster.survey`): the one
    its fact names (k3s_node_name, else its host name); for a host that did not answer, the
    node named as the host, or at its SSH `address`; "" where none is."""
    if row.get("node"):
        return row["node"]
    return next((n.name for n in nodes if n.name == row["host"].lower() or (address and n.address == address)), "")


def chosen(rows: list[dict], nodes: list, named: tuple[str, ...] = ()) -> list[Leaving]:
    """The nodes that leave, in order: the `named` hosts' (harmony remove), else the nodes no
    host of the inventory is and that harmony installed (pruning: `strangers` are left). `rows`:
    each host's status row, its node resolved (`node_of`); `nodes`: the API's."""
    by_name = {n.name: n for n in nodes}
    if named:
        node = {row["host"]: row.get("node") or "" for row in rows}
        return ordered([Leaving(node[h] or h, "etcd" in getattr(by_name.get(node[h]), "roles", ()), host=h,
                                listed=node[h] in by_name) for h in named])
    return ordered([Leaving(n.name, "etcd" in n.roles, address=n.address) for n in _unlisted(rows, nodes)
                    if n.managed])


def strangers(rows: list[dict], nodes: list) -> list[str]:
    """The nodes no host of the inventory is that harmony did not install (no label of its own:
    another tool, or a person, joined them): pruning never takes them."""
    return [n.name for n in _unlisted(rows, nodes) if not n.managed]


def _unlisted(rows: list[dict], nodes: list) -> list:
    """The nodes no host of the inventory is."""
    kept = {row.get("node") for row in rows}
    return [n for n in nodes if n.name not in kept]


def pruning_refusal(rows: list[dict]) -> str | None:
    """Why no node may be pruned: a host of the inventory whose node is unknown (it did not
    answer, and no node has its name or address) might be any node the API lists."""
    unknown = [row["host"] for row in rows if not row.get("node")]
    if not unknown:
        return None
    return (f"cannot tell which nodes no host is: {', '.join(unknown)} did not answer, and no node has its name "
            "or address (set its k3s_node_name, or bring it back)")


def members_up(rows: list[dict], nodes: list) -> tuple[set[str], dict[str, str]]:
    """Which nodes are up, and how each other one is down: an inventory host's node by its
    status row (`harmony.steps.cluster.survey`: unreachable, k3s stopped) and its Ready
    condition; another's by its Ready condition alone. `nodes`: the API's
    (`harmony.readiness.ListedNode`)."""
    row_of = {row.get("node"): row for row in rows}
    up, why = set(), {}
    for node in nodes:
        row = row_of.get(node.name)
        if row is not None and not row["reachable"]:
            why[node.name] = "unreachable"
        elif row is not None and not row.get("active"):
            why[node.name] = "stopped"
        elif not node.ready:
            why[node.name] = "not Ready"
        else:
            up.add(node.name)
    return up, why


def quorum_refusal(members: list[str], up: set[str], down_why: dict[str, str], leaving: list[str]) -> str | None:
    """Why the servers `leaving` (in order) must not leave, in one line with the arithmetic, or
    None where each keeps etcd's quorum. `members`: the etcd members (node names); `up`: those
    up; `down_why`: how each other one is down ("unreachable", "stopped")."""
    if not leaving:
        return None  # agents leave whatever etcd's state
    remaining = list(members)
    alive = {m for m in members if m in up}
    if remaining and len(alive) < quorum(len(remaining)):
        return (f"no server can leave: only {len(alive)} of {len(remaining)} etcd members are up "
                f"({_down(remaining, alive, down_why)}), under the quorum of {quorum(len(remaining))}; "
                "start them, then run again")
    for server in leaving:
        if server in remaining:
            remaining.remove(server)
        alive.discard(server)
        if not remaining:
            return (f"removing {server} would leave no etcd member: that is the whole cluster "
                    "(harmony down removes it)")
        left = len(alive)
        if left < quorum(len(remaining)):
            return (f"removing {server} would leave {left} of {len(remaining)} etcd members up "
                    f"({_down(remaining, alive, down_why)}), under the quorum of {quorum(len(remaining))}")
    return None


def _down(members: list[str], alive: set[str], down_why: dict[str, str]) -> str:
    return ", ".join(f"{m} {down_why.get(m, 'down')}" for m in members if m not in alive)
