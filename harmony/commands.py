"""What each harmony command does, between parsing its options (cli.py) and pyinfra (runner.py).

Every command checks its input on the controller first (the target, every host's data, the
release), so that bad input exits 2 before any host is touched; then picks the runtime (k3s, or
k3s in Docker through k3d: `harmony.runtime`); then runs one pyinfra deploy; then, for `up` and
`kubeconfig`, waits for the cluster through the Kubernetes API and merges its kubeconfig.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import click

from harmony import airgap, inventory, kubeconfig, localstate, readiness, releases, runner, runtime
from harmony.errors import BadInput, RunFailed
from harmony.k3d import settings as k3d_settings
from harmony.k3s import cluster
from harmony.k3s.settings import DOWNLOAD_URLS, check_https
from harmony.targets import Target

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
DEPLOYS = {"k3s": "harmony.k3s.deploy", "k3d": "harmony.k3d.deploy"}
STATUS_FACTS = {"k3s": "harmony.facts.K3sStatus", "k3d": "harmony.facts.K3dStatus"}
PLATFORM_FACT = "harmony.facts.Platform"


@dataclass
class Request:
    """A command's target and options, as parsed by the CLI."""

    target: Target
    options: runner.RunOptions
    name: str | None = None  # None: the data's harmony_cluster, else "harmony"
    kubeconfig_server: str | None = None
    switch_context: bool = False
    wait_timeout: float = 180.0
    release: dict = field(default_factory=dict)  # data keys given as options
    runtime: str | None = None
    recreate: bool = False
    purge: bool = False
    install_docker: bool = False


@dataclass
class Run:
    """What a command runs: the target's hosts, their runtime, and pyinfra's options."""

    hosts: list[inventory.Host]
    runtime: str
    options: runner.RunOptions
    request: Request  # the command's, with what the inventory data gives filled in

    def deploy(self, verb: str) -> str:
        return f"{DEPLOYS[self.runtime]}.{verb}"


def _pin_version(hosts: list[inventory.Host]) -> str:
    """Resolve the one k3s version of this run, on the controller: an airgap bundle's, or the
    one asked for, with channels resolved."""
    bundles = {h.settings.airgap_dir for h in hosts}
    if bundles != {None}:
        if len(bundles) > 1:
            raise BadInput("give all hosts the same airgap bundle (k3s_airgap_dir, --airgap), or none")
        bundled = airgap.version(bundles.pop())
        asked = sorted({h.settings.version for h in hosts if h.settings.version} - {bundled})
        if asked:
            raise BadInput(f"the airgap bundle holds k3s {bundled}, not {', '.join(asked)}")
        return bundled
    wanted = {
        h.settings.version or releases.resolve_channel(h.settings.channel_url, h.settings.channel)
        for h in hosts
    }
    if len(wanted) > 1:
        raise BadInput(
            f"the hosts ask for different k3s versions ({', '.join(sorted(wanted))}); "
            "a cluster runs one version: set k3s_version or k3s_channel alike for all hosts"
        )
    return wanted.pop()


def _check_published(run: Run, version: str) -> None:
    """Check the release this run downloads exists: k3s's binaries, or k3d's (k3s comes as an
    image then)."""
    if run.runtime == "k3s":
        if run.hosts[0].settings.airgap_dir:
            return  # nothing is downloaded: the bundle was checked when the version was pinned
        for url, allow_http in sorted({(h.settings.release_url, h.settings.allow_http) for h in run.hosts}):
            releases.checksums(url, version, releases.ASSETS["x86_64"].checksum_file, allow_http=allow_http)
        return
    k3d = k3d_settings.from_data(run.hosts[0].data, run.hosts[0].name)
    releases.checksums(k3d.release_url, k3d.version, "checksums.txt", "k3d", k3d.k3s.allow_http)


def _load(request: Request, data: dict) -> list[inventory.Host]:
    port = {"ssh_port": request.target.ssh_port} if request.target.ssh_port else {}
    return inventory.load(request.target, {**request.target.data, **port, **data})


def _shape(hosts: list[inventory.Host]) -> cluster.Cluster:
    return cluster.plan([(h.name, h.settings) for h in hosts])


def _choose_runtime(request: Request, hosts: list[inventory.Host]) -> runtime.Choice:
    """k3s or k3d: asked for (--runtime, or harmony_runtime in the data), or decided from the
    one host's facts (read without sudo: Docker must answer the login user). An inventory of
    several hosts is one k3s cluster."""
    requested = request.runtime or hosts[0].data.get("harmony_runtime")
    if requested and requested not in runtime.RUNTIMES:
        raise BadInput(f"unknown runtime '{requested}': use k3s or k3d")
    if len(hosts) > 1:
        if requested == "k3d":
            raise BadInput("k3d runs a cluster in one host's Docker: give one host, or use k3s "
                           "for an inventory of several")
        return runtime.Choice("k3s", f"an inventory of {len(hosts)} hosts is one k3s cluster")
    if requested:
        return runtime.Choice(requested, "asked for")
    (host,) = hosts
    options = replace(request.options, data={**request.options.data, "_sudo": False})
    answered, reasons = runner.facts(request.target, PLATFORM_FACT, options)
    platform = answered.get(host.name)
    if not platform:
        raise RunFailed(f"{host.name}: cannot read its facts to choose a runtime: "
                        f"{reasons.get(host.name, 'no answer')}")
    install_docker = k3d_settings.from_data(host.data, host.name).install_docker
    return runtime.choose(host.name, runtime.Platform(**platform), None, install_docker)


def _prepare(request: Request, pin: bool = True, whole: bool = True) -> Run:
    """Check the inventory with the request's overrides and pin the run's k3s version, choose
    the runtime, check the cluster the hosts make (unless the command works host by host: not
    `whole`) and that the release to download exists. Only then say which runtime, and why."""
    data = {**request.options.data, **request.release}
    if request.name:
        data["harmony_cluster"] = request.name
    if request.kubeconfig_server:
        data["harmony_kubeconfig_server"] = request.kubeconfig_server
    flags = {"k3d_recreate": request.recreate, "k3d_purge": request.purge,
             "k3d_install_docker": request.install_docker}
    data.update({key: True for key, given in flags.items() if given})
    hosts = _load(request, data)
    request = _with_data(request, hosts[0].data)
    data["harmony_cluster"] = request.name
    if pin:
        for host in hosts:
            check_https(host.data, host.name, DOWNLOAD_URLS)
    version = _pin_version(hosts) if pin else None
    choice = _choose_runtime(request, hosts)
    run = Run(hosts, choice.runtime, replace(request.options, data=data), request)
    if run.runtime == "k3s" and whole:
        _shape(hosts)
    elif run.runtime == "k3d":
        k3d_settings.from_data(hosts[0].data, hosts[0].name)
    if version:
        _check_published(run, version)
        data["k3s_version"] = version
    click.echo(f"runtime: {choice.runtime} ({choice.reason})", err=True)
    return run


def _with_data(request: Request, data: dict) -> Request:
    """The request with the options it leaves out taken from the inventory data (the option
    wins): the cluster's name and the API address the controller uses."""
    name = request.name or data.get("harmony_cluster") or "harmony"
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadInput(f"invalid cluster name {name!r} (--name, harmony_cluster): use letters, digits, "
                       "'-', '_' and '.'")
    server = request.kubeconfig_server or data.get("harmony_kubeconfig_server")
    if server is not None and not (isinstance(server, str) and server.startswith("https://")):
        raise BadInput(f"the API address (--kubeconfig-server, harmony_kubeconfig_server) must be an "
                       f"https:// URL, not {server!r}")
    return replace(request, name=name, kubeconfig_server=server)


def _report(result: runner.RunResult, hosts: list[inventory.Host], verb: str) -> set[str]:
    """Print a line per host; return the names of the hosts that succeeded."""
    ok = set()
    for host in hosts:
        outcome = result.hosts.get(host.name, runner.HostResult(host.name))
        click.echo(outcome.summary(verb))
        if outcome.ok:
            ok.add(host.name)
    return ok


def _failed(hosts: list[inventory.Host], ok: set[str]) -> RunFailed:
    failed = [h.name for h in hosts if h.name not in ok]
    return RunFailed(f"{len(failed)} of {len(hosts)} host(s) failed: {', '.join(failed)}")


@dataclass(frozen=True)
class Api:
    """Where the controller finds a cluster's API, and which nodes it must list."""

    fetched: Path | None  # the kubeconfig its deploy fetched from a healthy server, if any
    url: str | None  # None: the fetched kubeconfig's own (k3d publishes the API itself)
    expected: set[str]  # node names known in advance
    count: int
    address: str = "127.0.0.1"  # the host's address, for an API published on all its addresses

    def url_for(self, fetched: dict) -> str:
        if self.url:
            return self.url
        server = str(((fetched.get("clusters") or [{}])[0].get("cluster") or {}).get("server", ""))
        return server.replace("://0.0.0.0:", f"://{self.address}:")


def _api(request: Request, run: Run, ok: set[str]) -> Api:
    """k3s: the first healthy server's kubeconfig, at the registration address (never the
    127.0.0.1 that k3s writes). k3d: the one host's, at its published API port."""
    if run.runtime == "k3d":
        (host,) = run.hosts
        k3d = k3d_settings.from_data(host.data, host.name)
        address = "127.0.0.1" if host.name == "@local" else host.settings.server_address
        # Agents added later are named by k3d's node create; the servers' names are known.
        servers = {f"k3d-{k3d.cluster}-server-{i}" for i in range(k3d.servers)}
        return Api(_fetched(request, host) if host.name in ok else None, request.kubeconfig_server, servers,
                   k3d.servers + k3d.agents, address)
    shape = _shape(run.hosts)
    server = next((h for name in shape.servers for h in run.hosts if h.name == name and name in ok), None)
    return Api(
        _fetched(request, server) if server else None,
        request.kubeconfig_server or shape.registration_url,
        {h.settings.node_name for h in run.hosts if h.name in ok and h.settings.node_name},
        len(ok),
    )


def _fetched(request: Request, host: inventory.Host) -> Path:
    return localstate.fetched_kubeconfig(request.name, host.name, host.data)


def _merge_kubeconfig(request: Request, run: Run, ok: set[str]) -> list[readiness.Node]:
    """Wait for the cluster through the fetched kubeconfig, then merge it into the user's."""
    api = _api(request, run, ok)
    if api.fetched is None:
        raise _failed(run.hosts, ok)
    fetched = kubeconfig.load(api.fetched)
    config = kubeconfig.for_cluster(fetched, request.name, api.url_for(fetched))
    nodes = readiness.wait_ready(config, api.expected, api.count, request.wait_timeout)
    path = kubeconfig.default_path()
    kubeconfig.write(path, kubeconfig.merged(kubeconfig.load(path), config, request.name,
                                             request.switch_context))
    return nodes


def _show_plan(result: runner.RunResult, hosts: list[inventory.Host]) -> list[str]:
    """Print what `up` would do on each host; return the hosts it would fail on."""
    refused = []
    for host in hosts:
        outcome = result.hosts.get(host.name) or runner.HostResult(host.name)
        if outcome.refused:  # a check before any change: nothing else would happen there
            refused.append(host.name)
            click.echo(f"{host.name}: would fail: {outcome.refused}")
        elif outcome.changed:
            click.echo(f"{host.name}: would change: {', '.join(outcome.changed)}")
        else:
            click.echo(f"{host.name}: nothing to change")
    if result.exit_code != 0:
        raise RunFailed("planning failed; see above")
    return refused


def up(request: Request, confirm: Callable[[], None] | None = None) -> int:
    """Converge every host; with `confirm`, show the plan and ask before applying."""
    run = _prepare(request)
    request = run.request
    if confirm:
        _show_plan(runner.run(request.target, run.deploy("up"), run.options, dry=True), run.hosts)
        confirm()
    readiness.preload()
    result = runner.run(request.target, run.deploy("up"), run.options)
    ok = _report(result, run.hosts, "changed")
    nodes = _merge_kubeconfig(request, run, ok)
    click.echo(
        f"cluster '{request.name}': {len(nodes)} node(s) Ready "
        f"({', '.join(n.name for n in nodes)}); use it with: kubectl --context {request.name} get nodes"
    )
    if len(ok) < len(run.hosts):
        raise _failed(run.hosts, ok)
    return 0


def plan(request: Request) -> int:
    """Show what `up` would do; exit 1 when it would fail on a host."""
    run = _prepare(request)
    request = run.request
    refused = _show_plan(runner.run(request.target, run.deploy("up"), run.options, dry=True), run.hosts)
    if refused:
        raise RunFailed(f"{len(refused)} of {len(run.hosts)} host(s) would fail: {', '.join(refused)}")
    return 0


def kubeconfig_command(request: Request) -> int:
    run = _prepare(request, pin=False)
    request = run.request
    result = runner.run(request.target, run.deploy("kubeconfig"), run.options)
    ok = _report(result, run.hosts, "fetched")
    _merge_kubeconfig(request, run, ok)
    click.echo(f"merged context '{request.name}' into {kubeconfig.default_path()}")
    return 0


def down(request: Request) -> int:
    run = _prepare(request, pin=False, whole=False)
    request = run.request
    hosts = run.hosts
    result = runner.run(request.target, run.deploy("down"), run.options)
    ok = _report(result, hosts, "removed")
    if len(ok) < len(hosts):
        raise _failed(hosts, ok)
    forget(request.name, [_fetched(request, host) for host in hosts])
    return 0


def forget(name: str, fetched: list[Path] = ()) -> None:
    """Drop a removed cluster's entries from the user's kubeconfig, and the kubeconfigs fetched
    from its hosts."""
    for path in fetched:
        path.unlink(missing_ok=True)
    path = kubeconfig.default_path()
    if path.exists():
        kubeconfig.write(path, kubeconfig.without(kubeconfig.load(path), name))


@dataclass
class Survey:
    """What the hosts and the API say of a cluster, without changing anything."""

    api: str
    hosts: list[dict]  # one row a host; "healthy": running, and its node(s) Ready
    unlisted: list[dict]  # nodes in the cluster that no host of the inventory is


def _survey(request: Request, run: Run) -> Survey:
    bin_dir = k3d_settings.from_data(run.hosts[0].data, run.hosts[0].name).bin_dir if run.runtime == "k3d" else None
    facts, reasons = runner.facts(request.target, STATUS_FACTS[run.runtime], run.options,
                                  (f"bin_dir={bin_dir}",) if bin_dir else ())
    running = {name for name, fact in facts.items()
               if fact.get("active") or (fact.get("clusters") or {}).get(request.name, {}).get("running")}
    nodes, api = _api_nodes(request, _api(request, run, running))
    rows = []
    for host in run.hosts:
        fact = facts.get(host.name)
        row = {"host": host.name, "runtime": run.runtime, "reachable": fact is not None}
        if fact is None:
            row["reason"] = reasons.get(host.name, "no answer")
        if run.runtime == "k3d":
            cluster_state = (fact or {}).get("clusters", {}).get(request.name)
            ready = sorted(n.name for n in nodes.values() if n.ready)
            total = cluster_state["servers"] + cluster_state["agents"] if cluster_state else 0
            row.update(docker=(fact or {}).get("docker"), cluster=cluster_state, nodes_ready=ready,
                       healthy=bool(cluster_state) and cluster_state["running"] == total == len(ready))
            nodes = {}
        else:
            node_name = host.settings.node((fact or {}).get("hostname", ""))
            node = nodes.pop(node_name, None)
            row.update(**(fact or {}), node=node_name, node_ready=bool(node and node.ready))
            row["healthy"] = bool(row.get("active") and row["node_ready"])
        rows.append(row)
    unlisted = [{"node": n.name, "roles": list(n.roles), "version": n.version, "ready": n.ready}
                for n in nodes.values()]
    return Survey(api, rows, unlisted)


def status(request: Request, as_json: bool) -> int:
    """Each host's runtime and state (k3s: role, version, service; k3d: the cluster's nodes),
    its node in the API, and the nodes the API lists that no host of the inventory is (removed
    from the inventory, not from the cluster)."""
    run = _prepare(request, pin=False)
    request = run.request
    survey = _survey(request, run)
    if as_json:
        click.echo(json.dumps({"cluster": request.name, "api": survey.api, "hosts": survey.hosts,
                               "nodes_not_in_inventory": survey.unlisted}, indent=2))
    else:
        _show_status(request.name, survey.api, survey.hosts, survey.unlisted)
    return 0 if all(r["reachable"] for r in survey.hosts) else 1


# Operations a dry run lists that are not a difference on the host.
NOT_DRIFT = ("Fetch the kubeconfig to the controller",)


def check(request: Request, as_json: bool) -> int:
    """Compare every host with its spec, changing nothing: what `up` would change (pyinfra's dry
    run), whether k3s runs and its node is Ready; exit 1 listing each difference if any."""
    run = _prepare(request)
    request = run.request
    planned = runner.run(request.target, run.deploy("up"), run.options, dry=True, quiet=True)
    survey = _survey(request, run)
    report = []
    for row in survey.hosts:
        plan_result = planned.hosts.get(row["host"], runner.HostResult(row["host"]))
        if not row["reachable"]:
            differences = [f"unreachable: {row['reason']}"]
        elif plan_result.refused:
            differences = [f"would fail: {plan_result.refused}"]
        else:
            differences = [f"would change: {name.split(' | ', 1)[-1]}" for name in plan_result.changed
                           if name.split(" | ", 1)[-1] not in NOT_DRIFT]
            if not row["healthy"]:
                differences.append("not running, or its node is not Ready")
        report.append({"host": row["host"], "differences": differences})
    extra = [f"node {n['node']} is in the cluster but not in the inventory" for n in survey.unlisted]
    drifted = bool(extra) or any(r["differences"] for r in report)
    if as_json:
        click.echo(json.dumps({"cluster": request.name, "drifted": drifted, "hosts": report,
                               "cluster_differences": extra}, indent=2))
    else:
        for r in report:
            click.echo(f"{r['host']}: " + ("; ".join(r["differences"]) if r["differences"] else "as specified"))
        for line in extra:
            click.echo(line)
    return 1 if drifted else 0


def _api_nodes(request: Request, api: Api) -> tuple[dict, str]:
    """The cluster's nodes by name, through a running server's fetched kubeconfig, and the API's
    state in words."""
    path = api.fetched
    if path is None or not path.exists():
        return {}, "unknown (no running server with a fetched kubeconfig: run harmony kubeconfig)"
    try:
        fetched = kubeconfig.load(path)
        config = kubeconfig.for_cluster(fetched, request.name, api.url_for(fetched))
        return {n.name: n for n in readiness.list_nodes(config)}, "ready"
    except Exception as error:  # the API's state is what we report, whatever it is
        return {}, f"not ready ({type(error).__name__})"


def _show_status(name: str, api: str, report: list[dict], unlisted: list[dict]) -> None:
    click.echo(f"cluster '{name}': API {api}")
    for row in report:
        if not row["reachable"]:
            click.echo(f"{row['host']}: unreachable: {row['reason']}")
        elif row["runtime"] == "k3d":
            cluster = row["cluster"]
            click.echo(
                f"{row['host']}: k3d, Docker {row['docker']}, " + (
                    f"{cluster['servers']} server(s) and {cluster['agents']} agent(s), "
                    f"{cluster['running']} running, {cluster['image']}, "
                    f"{len(row['nodes_ready'])} node(s) Ready" if cluster else "no cluster"))
        else:
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
