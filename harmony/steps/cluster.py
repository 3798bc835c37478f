"""The steps on the cluster, through its API: wait until its nodes are Ready and merge its
kubeconfig into the user's (and Windows', on WSL 2: `harmony.wsl`), survey what the hosts and
the API say of it, forget a removed one. The runtime says where its API is
(`harmony.runtime.Runtime.api`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from harmony.runtime import Api
from harmony.steps import Flow


def fetched(flow: Flow, host) -> Path:
    """Where the controller keeps the kubeconfig fetched from the host."""
    from harmony import localstate

    return localstate.fetched_kubeconfig(flow.request.name, host.name, host.data)


def api(flow: Flow, ok: set[str]) -> Api:
    """Where the cluster's API is, from the hosts in `ok`."""
    return flow.runtime.api(flow.hosts, flow.settings, flow.resolved, ok, flow.request.kubeconfig_server,
                            lambda host: fetched(flow, host))


def config(flow: Flow, where: Api) -> dict:
    """The kubeconfig of the cluster's API, from the kubeconfig fetched from a server."""
    from harmony import kubeconfig

    fetched = kubeconfig.load(where.fetched)
    return kubeconfig.for_cluster(fetched, flow.request.name, where.url_for(fetched))


def answering(flow: Flow, ok: set[str]) -> dict | None:
    """The cluster's kubeconfig where its API answers through it, else None."""
    found, _, _ = _listed(flow, api(flow, ok))
    return found


def wait_for_nodes(flow: Flow) -> None:
    """Wait for the cluster's nodes to be Ready (`flow.nodes`) through the kubeconfig fetched
    from a server the run did not fail (`flow.config`), and merge that into the user's."""
    from harmony import kubeconfig, readiness, stopping, wsl

    request = flow.request
    where = api(flow, flow.ok)
    if where.fetched is None:
        raise flow.failed()
    flow.config = config(flow, where)
    with stopping.checkpoints() as check:
        flow.nodes = readiness.wait_ready(flow.config, where.expected, where.count, request.wait_timeout, check=check)
    path = kubeconfig.default_path()
    merge = functools.partial(kubeconfig.merged, new=flow.config, name=request.name, switch=request.switch_context)
    kubeconfig.write(path, merge(kubeconfig.load(path)))
    say_windows(flow, wsl.mirrored(path, merge))


def claim_nodes(flow: Flow) -> None:
    """Label the nodes whose k3s this run installed, of the hosts it did not fail, as harmony's
    (`readiness.MANAGED_BY`), where they are not yet: pruning takes out only nodes so labelled,
    never one another tool joined. A node's labels are the API's alone (the kubelet and k3s
    keep those they did not set), so this changes no host; a rerun finds them and writes nothing.
    A label the API does not take (another run restarting k3s under this one) fails nothing:
    the report says so, and the next `up` labels the node."""
    import dataclasses

    from harmony import readiness

    installed = {node for host, node in (flow.result.nodes if flow.result else {}).items() if host in flow.ok}
    unlabelled = [node.name for node in flow.nodes if node.name in installed and not node.managed]
    if not unlabelled:
        return
    api, labelled = readiness.core_api(flow.config), set()
    for name in unlabelled:
        try:
            api.patch_node(name, {"metadata": {"labels": {readiness.MANAGED_BY: readiness.HARMONY}}},
                           _request_timeout=10)
            labelled.add(name)
        except Exception as error:  # the API's or the connection's, in a line
            flow.report.notes.append(
                f"node {name}: not labelled {readiness.MANAGED_BY}={readiness.HARMONY} ({type(error).__name__}: "
                f"{(str(error).splitlines() or [''])[0][:200]}): the next harmony up labels it; until then "
                "--prune-nodes leaves it")
    flow.nodes = [dataclasses.replace(node, managed=True) if node.name in labelled else node for node in flow.nodes]


def forget(flow: Flow) -> None:
    """Where every host's cluster was removed: drop its entries from the user's kubeconfig (and
    Windows', on WSL 2), and the kubeconfigs fetched from its hosts."""
    say_windows(flow, forget_cluster(flow.request.name, [fetched(flow, h) for h in flow.hosts]))


def say_windows(flow: Flow, said: str) -> None:
    """What the run did with Windows' kubeconfig on WSL 2, if anything: a line of the text report,
    and `windows_kubeconfig` in --json."""
    if said:
        flow.report.notes.append(said)
        flow.report.extra["windows_kubeconfig"] = said


def forget_cluster(name: str, fetched: list[Path] = ()) -> str:
    """What the report says of Windows' kubeconfig, on WSL 2 (`harmony.wsl.mirrored`)."""
    from harmony import kubeconfig, wsl

    for path in fetched:
        path.unlink(missing_ok=True)
    path = kubeconfig.default_path()
    drop = functools.partial(kubeconfig.without, name=name)
    if path.exists():
        kubeconfig.write(path, drop(kubeconfig.load(path)))
    return wsl.mirrored(path, drop, create=False)


@dataclass
class Survey:
    """What the hosts and the API say of a cluster, without changing anything."""

    api: str
    hosts: list[dict]  # one row a host; "healthy": running, and its node(s) Ready
    unlisted: list[dict]  # nodes in the cluster that no host of the inventory is


def survey(flow: Flow) -> Survey:
    """Every host's status fact, and the nodes the API lists, host by host."""
    from harmony import runner

    chosen, request = flow.runtime, flow.request
    answers, reasons = runner.facts(request.target, chosen.status_fact, flow.options,
                                    **chosen.fact_arguments(flow.settings))
    running = {name for name, fact in answers.items() if chosen.running(fact, request.name)}
    _, listed, state = _listed(flow, api(flow, running)) if running or not answers else \
        (None, [], "absent (no host runs it: run harmony up)")
    nodes = {n.name: n for n in listed}
    rows = []
    for host in flow.hosts:
        fact = answers.get(host.name)
        row = {"host": host.name, "runtime": chosen.name, "reachable": fact is not None}
        if fact is None:
            row["reason"] = reasons.get(host.name, "no answer")
        row.update(chosen.status_row(host, fact, nodes, request.name, flow.settings))
        rows.append(row)
    unlisted = [{"node": n.name, "roles": list(n.roles), "version": n.version, "ready": n.ready,
                 "address": n.address, "managed": n.managed} for n in nodes.values()]
    return Survey(state, rows, unlisted)


def _listed(flow: Flow, where: Api) -> tuple[dict | None, list, str]:
    """Through a running server's fetched kubeconfig: the cluster's kubeconfig where its API
    answers (else None), its nodes, and the API's state in words."""
    from harmony import readiness

    if where.fetched is None or not where.fetched.exists():
        return None, [], "unknown (no running server with a fetched kubeconfig: run harmony kubeconfig)"
    try:
        found = config(flow, where)
        return found, readiness.list_nodes(found), "ready"
    except Exception as error:  # the API's state is what we report, whatever it is
        return None, [], f"not ready ({type(error).__name__})"
