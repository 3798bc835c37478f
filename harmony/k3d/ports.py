"""The port mappings a k3d cluster publishes on its Docker host: the data's (`k3d_ports`), and the
ones harmony adds when it creates a cluster, for the cluster's ports 80 and 443, so that its
Ingresses are reached from a browser on that host.

k3s serves Ingresses through Traefik on ports 80 and 443 of every node; k3d's load balancer (the
`k3d-NAME-serverlb` container) forwards a mapping `HOST:80@loadbalancer` to every node. Where the
data maps neither port, and `k3d_ingress_ports` is not false, harmony adds `HOST:80` and
`HOST:443` `@loadbalancer`, HOST being the first pair of `pairs()` that is free on the Docker host:
80 and 443, else 8080 and 8443, 8081 and 8444, ... (a hundred pairs in all). A port is free where
nothing listens on it, at any address (the host fact's listeners, `K3dHostState.listening`, read
only when the cluster is about to be created), Docker publishes nothing on it, and the data's own
mappings and API port do not take it. The mappings are bound to the API's address
(`k3d_api_host_ip`): 127.0.0.1 on this machine, so that nothing is exposed to the network (a
browser here takes `*.localhost` to loopback, RFC 6761), and every address on a remote host
(whose browser is elsewhere).

Once created, a cluster keeps its ports: k3d cannot change them in place, so the next run reads
them back from the config kept beside the cluster (`K3dHostState.kept_ports`) and renders the
same spec. The run records the mappings in effect (`record`), where the controller's report
reads them (`recorded`) for the workloads' URLs (`harmony.workloads.access`): the deploy runs in
harmony's own process (`harmony.runner`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from harmony.k3d.facts import K3dHostState
from harmony.k3d.settings import K3dSettings

INGRESS = (80, 443)  # Traefik's ports on every node: http and https
PAIRS = 100  # how many pairs harmony tries: 80 and 443, then 8080 and 8443 to 8178 and 8541
# A k3d port mapping: [IP:][HOSTPORT:]PORT[/PROTOCOL][@NODEFILTER], as k3d (Docker's) parses it.
MAPPING = re.compile(r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d{1,5}):)?(?P<port>\d{1,5})"
                     r"(?:/(?:tcp|udp))?(?:@(?P<filter>.*))?$")


@dataclass(frozen=True)
class Published:
    """The cluster's port mappings, and what the run says of those harmony chose for a new
    cluster ("" if it chose none): always where Ingresses are served, so that a run without
    workloads prints the mapping too, and why where it is not 80 and 443."""

    mappings: tuple[str, ...]
    note: str = ""


def cluster_port(mapping: str) -> int | None:
    """The cluster's (container) port a mapping publishes."""
    match = MAPPING.fullmatch(mapping)
    return int(match["port"]) if match else None


def host_port(mapping: str) -> int | None:
    """The host port a mapping takes (the cluster's port where it names none)."""
    match = MAPPING.fullmatch(mapping)
    return int(match["host"] or match["port"]) if match else None


def unmapped(settings: K3dSettings) -> tuple[int, ...]:
    """Those of the cluster's ports 80 and 443 that harmony is to publish: the ones the data maps
    none of (whatever its node filter), unless `k3d_ingress_ports` is false."""
    if not settings.ingress_ports:
        return ()
    mapped = {cluster_port(m) for m in settings.ports}
    return tuple(p for p in INGRESS if p not in mapped)


def pairs() -> Iterator[dict[int, int]]:
    """{cluster port: host port} for 80 and 443, in the order harmony tries them."""
    yield {80: 80, 443: 443}
    for offset in range(PAIRS - 1):
        yield {80: 8080 + offset, 443: 8443 + offset}


def choose(wanted: tuple[int, ...], taken: set[int]) -> dict[int, int] | None:
    """The first pair whose host ports for the `wanted` cluster ports are all free (None: none is)."""
    for pair in pairs():
        if not any(pair[p] in taken for p in wanted):
            return {p: pair[p] for p in wanted}
    return None


def in_effect(settings: K3dSettings, state: K3dHostState) -> Published:
    """The mappings the cluster publishes, or is to be created with: the data's, then for each
    port of `unmapped`, the cluster's own where it exists (as the kept config says), else the
    first free pair's."""
    wanted = unmapped(settings)
    if not wanted:
        return Published(settings.ports)
    if settings.cluster in state.clusters:
        return Published(settings.ports + tuple(m for m in state.kept_ports if cluster_port(m) in wanted))
    taken = state.listening | {host_port(m) for m in settings.ports} | {settings.api_port}
    chosen = choose(wanted, taken)
    busy = [p for p in wanted if p in taken]
    if chosen is None:
        last = list(pairs())[-1]
        return Published(settings.ports, f"{_and(list(wanted))}, and each pair up to {_and(list(last.values()))}, "
                                         "were taken here; Ingresses are not published: give k3d_ports")
    address = "" if settings.api_host_ip == "0.0.0.0" else f"{settings.api_host_ip}:"
    mappings = tuple(f"{address}{chosen[p]}:{p}@loadbalancer" for p in wanted)
    served = f"Ingresses are served on {_and([chosen[p] for p in wanted])}"
    note = served if not busy else f"{_and(busy)} {'were' if len(busy) > 1 else 'was'} taken here; {served}"
    return Published(settings.ports + mappings, note)


def _and(ports: list[int]) -> str:
    return " and ".join(str(p) for p in ports)
