"""The shape of a k3s cluster, from its hosts' settings in inventory order.

Both the controller (before the run, to check the inventory and to find the API afterwards) and
the deploy (on every host, to decide what that host's config says) derive the same answer from
the same inventory: which server starts the cluster, which hosts join it, and where they join.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from harmony.errors import BadInput
from harmony.k3s.settings import Settings

FIRST_SERVER, SERVER, AGENT = "first server", "server", "agent"
API_PORT = 6443


@dataclass(frozen=True)
class Cluster:
    servers: tuple[str, ...]  # host names, in inventory order; the first one starts the cluster
    agents: tuple[str, ...]
    registration_address: str  # host or host:port where nodes join, and the API is reached
    token: str | None = field(default=None, repr=False)  # the servers' token, if given

    @property
    def first_server(self) -> str:
        return self.servers[0]

    @property
    def ha(self) -> bool:
        """Several servers: embedded etcd, started by the first server with cluster-init."""
        return len(self.servers) > 1

    def stage(self, name: str) -> str:
        if name == self.first_server:
            return FIRST_SERVER
        return SERVER if name in self.servers else AGENT

    @property
    def registration_url(self) -> str:
        host, port = split_address(self.registration_address)
        return f"https://{f'[{host}]' if ':' in host else host}:{port or API_PORT}"

    @property
    def registration_host(self) -> str:
        """The registration address without its port: what the servers' certificates must name."""
        return split_address(self.registration_address)[0]


def split_address(address: str) -> tuple[str, str | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (host, port or None)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest[1:] or None
    host, _, port = address.partition(":")
    return host, port or None


def plan(hosts: Sequence[tuple[str, Settings]]) -> Cluster:
    """The cluster the hosts make; BadInput when they cannot make one."""
    servers = tuple(name for name, s in hosts if s.role == "server")
    agents = tuple(name for name, s in hosts if s.role == "agent")
    if not servers:
        raise BadInput(
            "the inventory has agents but no server: put at least one host in group k3s_servers"
        )
    _check_same(hosts, "k3s_registration_address", lambda s: s.registration_address)
    # An agent may present a token of its own (k3s checks it); the servers share one.
    _check_same([h for h in hosts if h[0] in servers],
                "the servers' token (k3s_token, k3s_token_file or k3s_token_env)", lambda s: s.token)
    names = [s.node_name for _, s in hosts if s.node_name]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadInput(f"node name(s) given to more than one host: {', '.join(duplicates)}; "
                       "make each k3s_node_name unique")
    settings = dict(hosts)
    if len(servers) == 1 and settings[servers[0]].etcd_snapshots:
        raise BadInput("k3s_etcd_snapshots (cluster.k3s.etcd_snapshots) is for embedded etcd, and a cluster of one "
                       "server keeps its data in SQLite, which k3s does not snapshot: add servers, or drop it")
    first = settings[servers[0]]
    return Cluster(servers, agents, first.registration_address or first.server_address, first.token)


def _check_same(hosts: Sequence[tuple[str, Settings]], what: str, value) -> None:
    values = {value(s) for _, s in hosts}
    if len(values) > 1:
        raise BadInput(f"the hosts disagree on {what}: a cluster has one; set it in the data of "
                       "all hosts (group data), not per host")
