"""What each harmony command does, between parsing its options (cli.py) and pyinfra (runner.py).

Every command checks its input on the controller first (the target, every host's data, the
release), so that bad input exits 2 before any host is touched; then runs one pyinfra deploy;
then, for `up` and `kubeconfig`, waits for the cluster through the Kubernetes API and merges its
kubeconfig.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Callable

import click

from harmony import inventory, kubeconfig, localstate, readiness, releases, runner
from harmony.errors import BadInput, RunFailed
from harmony.k3s import cluster
from harmony.targets import Target

DEPLOY_UP = "harmony.k3s.deploy.up"
DEPLOY_DOWN = "harmony.k3s.deploy.down"
DEPLOY_KUBECONFIG = "harmony.k3s.deploy.kubeconfig"
STATUS_FACT = "harmony.facts.K3sStatus"


@dataclass
class Request:
    """A command's target and options, as parsed by the CLI."""

    target: Target
    options: runner.RunOptions
    name: str = "harmony"
    kubeconfig_server: str | None = None
    switch_context: bool = False
    wait_timeout: float = 180.0
    release: dict = field(default_factory=dict)  # k3s_* data keys given as options


def _pin_version(hosts: list[inventory.Host]) -> str:
    """Resolve the one k3s version of this run, on the controller, and check it is published."""
    wanted = {
        h.settings.version or releases.resolve_channel(h.settings.channel_url, h.settings.channel)
        for h in hosts
    }
    if len(wanted) > 1:
        raise BadInput(
            f"the hosts ask for different k3s versions ({', '.join(sorted(wanted))}); "
            "a cluster runs one version: set k3s_version or k3s_channel alike for all hosts"
        )
    version = wanted.pop()
    for url in sorted({h.settings.release_url for h in hosts}):
        releases.checksums(url, version, releases.ASSETS["x86_64"].checksum_file)
    return version


def _load(request: Request, data: dict) -> list[inventory.Host]:
    return inventory.load(request.target, {**request.target.data, **data})


def _shape(hosts: list[inventory.Host]) -> cluster.Cluster:
    return cluster.plan([(h.name, h.settings) for h in hosts])


def _prepare(request: Request) -> tuple[list[inventory.Host], runner.RunOptions]:
    """Check the inventory and the cluster it makes with the request's overrides, and pin the
    run's k3s version."""
    data = {**request.options.data, **request.release}
    hosts = _load(request, data)
    _shape(hosts)
    data["k3s_version"] = _pin_version(hosts)
    return hosts, replace(request.options, data=data)


def _api_url(request: Request, shape: cluster.Cluster) -> str:
    return request.kubeconfig_server or shape.registration_url


def _report(result: runner.RunResult, hosts: list[inventory.Host], verb: str) -> set[str]:
    """Print a line per host; return the names of the hosts that succeeded."""
    ok = set()
    for host in hosts:
        outcome = result.hosts.get(host.name, runner.HostResult(host.name))
        if not outcome.ok:
            click.echo(f"{host.name}: failed: {outcome.reason}")
            continue
        ok.add(host.name)
        if outcome.changed:
            click.echo(f"{host.name}: {verb} ({len(outcome.changed)} changed: {', '.join(outcome.changed)})")
        else:
            click.echo(f"{host.name}: unchanged")
    return ok


def _failed(hosts: list[inventory.Host], ok: set[str]) -> RunFailed:
    failed = [h.name for h in hosts if h.name not in ok]
    return RunFailed(f"{len(failed)} of {len(hosts)} host(s) failed: {', '.join(failed)}")


def _merge_kubeconfig(request: Request, hosts: list[inventory.Host], ok: set[str]) -> list[readiness.Node]:
    """Wait for the cluster through the first healthy server's kubeconfig, then merge it.

    The merged kubeconfig reaches the API at the registration address (or --kubeconfig-server),
    never at the 127.0.0.1 that k3s writes.
    """
    shape = _shape(hosts)
    server = next((name for name in shape.servers if name in ok), None)
    if server is None:
        raise _failed(hosts, ok)
    fetched = kubeconfig.load(localstate.fetched_kubeconfig(server))
    config = kubeconfig.for_cluster(fetched, request.name, _api_url(request, shape))
    expected = {h.settings.node_name for h in hosts if h.name in ok and h.settings.node_name}
    nodes = readiness.wait_ready(config, expected, len(ok), request.wait_timeout)
    path = kubeconfig.default_path()
    kubeconfig.write(path, kubeconfig.merged(kubeconfig.load(path), config, request.name,
                                             request.switch_context))
    return nodes


def _show_plan(result: runner.RunResult) -> None:
    for name, host in sorted(result.hosts.items()):
        click.echo(f"{name}: would change: {', '.join(host.changed)}" if host.changed
                   else f"{name}: nothing to change")
    if result.exit_code != 0:
        raise RunFailed("planning failed; see above")


def up(request: Request, confirm: Callable[[], None] | None = None) -> int:
    """Converge every host; with `confirm`, show the plan and ask before applying."""
    hosts, options = _prepare(request)
    if confirm:
        _show_plan(runner.run(request.target, DEPLOY_UP, options, dry=True))
        confirm()
    result = runner.run(request.target, DEPLOY_UP, options)
    ok = _report(result, hosts, "changed")
    nodes = _merge_kubeconfig(request, hosts, ok)
    click.echo(
        f"cluster '{request.name}': {len(nodes)} node(s) Ready "
        f"({', '.join(n.name for n in nodes)}); use it with: kubectl --context {request.name} get nodes"
    )
    if len(ok) < len(hosts):
        raise _failed(hosts, ok)
    return 0


def plan(request: Request) -> int:
    _, options = _prepare(request)
    _show_plan(runner.run(request.target, DEPLOY_UP, options, dry=True))
    return 0


def kubeconfig_command(request: Request) -> int:
    hosts = _load(request, request.options.data)
    result = runner.run(request.target, DEPLOY_KUBECONFIG, request.options)
    ok = _report(result, hosts, "fetched")
    _merge_kubeconfig(request, hosts, ok)
    click.echo(f"merged context '{request.name}' into {kubeconfig.default_path()}")
    return 0


def down(request: Request) -> int:
    hosts = _load(request, request.options.data)
    result = runner.run(request.target, DEPLOY_DOWN, request.options)
    ok = _report(result, hosts, "removed")
    if len(ok) < len(hosts):
        raise _failed(hosts, ok)
    for host in hosts:
        localstate.fetched_kubeconfig(host.name).unlink(missing_ok=True)
    path = kubeconfig.default_path()
    if path.exists():
        kubeconfig.write(path, kubeconfig.without(kubeconfig.load(path), request.name))
    return 0


def status(request: Request, as_json: bool) -> int:
    """Each host's k3s (role, version, service) and its node in the API; and the nodes the API
    lists that no host of the inventory is (removed from the inventory, not from the cluster)."""
    hosts = _load(request, request.options.data)
    shape = _shape(hosts)
    facts = runner.facts(request.target, STATUS_FACT, request.options)
    nodes, api = _api_nodes(request, shape, facts)
    report = []
    for host in hosts:
        fact = facts.get(host.name)
        node_name = host.settings.node_name or (fact or {}).get("hostname", "").lower()
        node = nodes.pop(node_name, None)
        report.append({
            "host": host.name,
            "reachable": fact is not None,
            **(fact or {}),
            "node": node_name,
            "node_ready": bool(node and node.ready),
        })
    unlisted = [{"node": n.name, "roles": list(n.roles), "version": n.version, "ready": n.ready}
                for n in nodes.values()]
    if as_json:
        click.echo(json.dumps({"cluster": request.name, "api": api, "hosts": report,
                               "nodes_not_in_inventory": unlisted}, indent=2))
    else:
        _show_status(request.name, api, report, unlisted)
    return 0 if all(r["reachable"] for r in report) else 1


def _api_nodes(request: Request, shape: cluster.Cluster, facts: dict) -> tuple[dict, str]:
    """The cluster's nodes by name, through the first running server's kubeconfig, and the API's
    state in words."""
    server = next((name for name in shape.servers if facts.get(name, {}).get("active")), None)
    path = localstate.fetched_kubeconfig(server) if server else None
    if path is None or not path.exists():
        return {}, "unknown (no running server with a fetched kubeconfig: run harmony kubeconfig)"
    try:
        config = kubeconfig.for_cluster(kubeconfig.load(path), request.name, _api_url(request, shape))
        return {n.name: n for n in readiness.list_nodes(config)}, "ready"
    except Exception as error:  # the API's state is what we report, whatever it is
        return {}, f"not ready ({type(error).__name__})"


def _show_status(name: str, api: str, report: list[dict], unlisted: list[dict]) -> None:
    click.echo(f"cluster '{name}': API {api}")
    for row in report:
        if not row["reachable"]:
            click.echo(f"{row['host']}: unreachable")
            continue
        click.echo(
            f"{row['host']}: {row['role'] or 'no role'}, k3s {row['version'] or 'not installed'}, "
            f"{row['unit'] or 'k3s'} {row['service']}, "
            f"node {row['node']} {'Ready' if row['node_ready'] else 'not Ready'}"
        )
    for node in unlisted:
        click.echo(
            f"node {node['node']} ({','.join(node['roles']) or 'agent'}, {node['version']}, "
            f"{'Ready' if node['ready'] else 'not Ready'}) is in the cluster but not in the "
            "inventory: add its host back, or remove it with kubectl delete node"
        )
