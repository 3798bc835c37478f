"""How to reach what the workloads run, said at the end of an `up` that got them running: each
NodePort and LoadBalancer Service's addresses and each Ingress's URLs. On k3d, whose nodes are
containers, an address is the host's port that one of k3d's port mappings publishes for it."""

from __future__ import annotations

import re

from harmony.workloads import apply

MAPPING = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}:)?(?:(?P<host>\d{1,5}):)?(?P<port>\d{1,5})(?:/(?:tcp|udp))?(?:@.*)?$")


def published(k3d_ports: tuple[str, ...]) -> dict[int, int]:
    """{cluster port: host port} of k3d's port mappings (`8080:80@loadbalancer`, also with the
    address it binds: `127.0.0.1:8080:80@loadbalancer`)."""
    found = {}
    for mapping in k3d_ports:
        match = MAPPING.fullmatch(mapping)
        if match:
            found[int(match["port"])] = int(match["host"] or match["port"])
    return found


def lines(cluster, steps: list[apply.Step], address: str, k3d_ports: tuple[str, ...] | None = None) -> list[str]:
    """A line per Service or Ingress that can be reached from outside the cluster. `address`
    is the cluster's, as the controller reaches it; `k3d_ports` are k3d's mappings (None: k3s)."""
    ports = published(k3d_ports) if k3d_ports is not None else None
    found = []
    for step in steps:
        if step.action == apply.PRUNE or step.kind not in ("Service", "Ingress"):
            continue
        live = cluster.get(step.resource, step.name, step.namespace) or {}
        where = _ingress(live, address, ports) if step.kind == "Ingress" else _service(live, address, ports)
        if where:
            found.append(f"reach {step.workload}: {step.label}: {where}")
    return found


def _service(live: dict, address: str, ports: dict[int, int] | None) -> str | None:
    spec, status = live.get("spec") or {}, live.get("status") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in ("NodePort", "LoadBalancer"):
        return None
    entries = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    if ports is not None:  # k3d: only what a port mapping publishes on the host
        wanted = [p.get("port") if kind == "LoadBalancer" else p.get("nodePort") for p in entries]
        reachable = [f"{address}:{ports[p]}" for p in wanted if p in ports]
        return ", ".join(reachable) or (f"not published on the host: add a k3d port mapping, like "
                                        f"'{wanted[0]}:{wanted[0]}@loadbalancer'" if wanted else None)
    if kind == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        hosts = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        return ", ".join(f"{h}:{p['port']}" for h in hosts for p in entries) or "no load balancer address yet"
    return ", ".join(f"{address}:{p['nodePort']}" for p in entries if p.get("nodePort")) or None


def _ingress(live: dict, address: str, ports: dict[int, int] | None) -> str | None:
    """k3s serves Ingresses through Traefik on port 80 of its nodes (on k3d, that port's
    mapping). A host under `.localhost` is this machine to a browser (RFC 6761): its URL works
    where the cluster is reached on loopback, and is said with how to reach it otherwise."""
    port = "" if ports is None else f":{ports[80]}" if 80 in ports else None
    if port is None:
        return "not published on the host: add a k3d port mapping, like '8080:80@loadbalancer'"
    urls = []
    for rule in (live.get("spec") or {}).get("rules") or []:
        host = rule.get("host")
        for path in ((rule.get("http") or {}).get("paths") or [{"path": "/"}]):
            url = f"http://{host or address}{port}{path.get('path') or '/'}"
            if host and _loopback_name(host) and not _loopback_name(address):
                url = f"curl -H 'Host: {host}' http://{address}{port}{path.get('path') or '/'}"
            urls.append(url)
    return ", ".join(dict.fromkeys(urls)) or f"http://{address}{port}/"


def _loopback_name(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")
