"""The steps that take nodes out of a k3s cluster: `up --prune-nodes` (the nodes the API lists
that no host of the target is) and `harmony remove HOST...` (the named hosts' nodes).

What leaves, in what order and whether etcd allows it, is decided before anything changes
(`harmony.k3s.removal`); a refusal ends the verb there. Then each node in turn is drained,
deleted from the API and waited for until it is gone (a server's etcd member is removed by
k3s before its Node goes), and k3s is uninstalled from its host with `down`'s deploy: a named
host as the inventory reaches it; a pruned one, which the inventory no longer names, at its
node's address (InternalIP, SSH port 22) with the login of the target's first host. A host that
cannot be reached there keeps its k3s, and the report says so: it left the cluster all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harmony import report as reports
from harmony.errors import BadInput, HarmonyError, RunFailed
from harmony.steps import Flow, cluster

if TYPE_CHECKING:
    from harmony.k3s.removal import Leaving

LEAVING_GROUP = "leaving"  # the inventory group of the hosts whose k3s is uninstalled


def pruning(flow: Flow) -> bool:
    """Whether the run prunes (`--prune-nodes`, data `k3s_prune_nodes`, harmony.yaml's
    `cluster.k3s.prune_nodes`)."""
    from harmony.datakeys import flag

    return flag(flow.hosts[0].data, "k3s_prune_nodes")


def check_named(flow: Flow) -> None:
    """`harmony remove`: each named host is one of the target's, before any is asked anything."""
    names = [h.name for h in flow.hosts]
    unknown = [name for name in flow.request.remove if name not in names]
    if unknown:
        raise BadInput(f"{', '.join(unknown)}: not a host of {flow.request.target.description} "
                       f"(its hosts: {reports.some(names)}); name hosts as the inventory does")
    if len(set(flow.request.remove)) == len(names):
        raise BadInput("that is every host of the target: harmony down removes the whole cluster")


def plan_pruning(flow: Flow) -> None:
    """With pruning asked for: the nodes to prune, the steps each takes (in the plan), or the
    refusal that keeps etcd's quorum; before any host changes."""
    if not pruning(flow):
        return
    _require_k3s(flow, "--prune-nodes (k3s_prune_nodes)")
    _plan(flow, named=False)


def plan_removal(flow: Flow) -> None:
    """`harmony remove`: the named hosts' nodes, their steps, or the refusal."""
    _require_k3s(flow, "harmony remove")
    _plan(flow, named=True)
    if not flow.leaving:
        return
    if flow.request.confirm:
        import click

        click.echo("\n".join(flow.plan_notes), err=True)
        flow.request.confirm()


def _require_k3s(flow: Flow, what: str) -> None:
    if flow.runtime.name != "k3s":
        raise BadInput(f"{what} is for k3s clusters: a k3d cluster's nodes are its own (k3d node delete)")


def _plan(flow: Flow, named: bool) -> None:
    """`flow.leaving` and `flow.plan_notes`, after the quorum is checked (RunFailed if not kept)."""
    from harmony.k3s import removal

    rows, nodes, config = _survey(flow)
    if config is None:
        if named:
            raise RunFailed("the cluster's API does not answer (no running server with a fetched kubeconfig): "
                            "harmony remove needs it to take nodes out; run harmony up first")
        flow.plan_notes.append("prune: the cluster's API does not answer yet: no node to prune")
        return
    data = {h.name: h.data for h in flow.hosts}
    for row in rows:
        row["node"] = removal.node_of(row, data[row["host"]].get("ssh_hostname") or row["host"], nodes)
    leaving = removal.chosen(rows, nodes, flow.request.remove)
    if not named:
        flow.plan_extra["nodes_not_pruned"] = strangers = removal.strangers(rows, nodes)
        flow.plan_notes += [_not_pruned(node) for node in strangers]
    up, down_why = removal.members_up(rows, nodes)
    refusal = (None if named else removal.pruning_refusal(rows)) or removal.quorum_refusal(
        [n.name for n in nodes if "etcd" in n.roles], up, down_why, [n.node for n in leaving if n.server])
    if refusal:
        raise RunFailed(f"{refusal}: nothing was changed")
    flow.leaving, flow.config = leaving, config
    flow.plan_notes += [f"node {n.node} would leave the cluster: {'; '.join(removal.steps(n))}" for n in leaving]
    flow.plan_extra["nodes_leaving"] = [{"node": n.node, "server": n.server, "steps": removal.steps(n)}
                                        for n in leaving]


def _survey(flow: Flow) -> tuple[list[dict], list, dict | None]:
    """Every host's status row (its fact, its node), the nodes the API lists, and the
    cluster's kubeconfig where its API answers (else None), through a server that stays."""
    from harmony import readiness

    rows = cluster.survey(flow).hosts
    staying = {row["host"] for row in rows if row.get("active") and row["host"] not in flow.request.remove}
    config = cluster.answering(flow, staying)
    return rows, readiness.list_nodes(config) if config else [], config


def _not_pruned(node: str) -> str:
    from harmony.readiness import HARMONY, MANAGED_BY

    return (f"node {node} is not in the inventory, and harmony did not install it (no label {MANAGED_BY}="
            f"{HARMONY}): not pruned; add its host to the inventory and run harmony remove, or take it out "
            "with what joined it")


def prune(flow: Flow) -> None:
    """`up`: the nodes planned to leave, leave (the report says how each did); the report names
    those left because harmony did not install them."""
    strangers = flow.plan_extra.get("nodes_not_pruned") or []
    if strangers:
        flow.report.notes += [_not_pruned(node) for node in strangers]
        flow.report.extra["nodes_not_pruned"] = strangers
    if flow.leaving:
        _take_out(flow, flow.report)


def remove(flow: Flow) -> None:
    """`harmony remove`: the named hosts' nodes leave; a host each in the report."""
    flow.report = rep = reports.Report("remove", flow.request.name, [], reports.DOWN, started=flow.started)
    try:
        _take_out(flow, rep)
    finally:  # also where a node's turn failed: the report says what was done before
        rep.hosts = [reports.HostReport(o["host"], reports.DOWN[0] if o["changed"] else reports.DOWN[1],
                                        details=o) for o in rep.extra["removed_nodes"]]


def _take_out(flow: Flow, rep: reports.Report) -> None:
    """Each node of `flow.leaving` in turn: drained, deleted, gone, uninstalled. A failure stops
    the nodes after it (the report says what was done), as a failed restart stops a rollout."""
    from harmony import stopping

    outcomes = rep.extra.setdefault("removed_nodes", [])
    drain_timeout = flow.settings[flow.hosts[0].name].drain_timeout
    with stopping.checkpoints() as check:
        for node in flow.leaving:
            check(f"taking node {node.node} out of the cluster")
            outcome = {"node": node.node, "host": node.host or node.address, "server": node.server,
                       "changed": node.listed}
            outcomes.append(outcome)
            if node.listed:
                try:
                    _leave_api(flow.config, node, drain_timeout, flow.request.wait_timeout)
                except HarmonyError:
                    raise
                except Exception as error:  # the API's or the connection's: said in a line, as a host's failure
                    raise RunFailed(f"node {node.node}: the API failed while it left the cluster "
                                    f"({type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]})") from None
            uninstalled, why = _uninstall(flow, node)
            outcome.update(uninstalled=uninstalled, changed=outcome["changed"] or uninstalled)
            rep.notes.append(_said(node, uninstalled, why))
            if why:
                outcome["reason"] = why


def _leave_api(config: dict, node: Leaving, drain_timeout: float, timeout: float) -> None:
    """Drain the node, delete it, and wait until the API no longer lists it: for a server, until
    k3s has removed its etcd member (its finalizer), so the next server's turn sees the new
    membership."""
    from kubernetes.client.rest import ApiException

    from harmony import nodeturn, readiness

    nodeturn.cordon_and_drain(config, node.node, drain_timeout)
    api = readiness.core_api(config)
    try:
        api.delete_node(node.node, _request_timeout=10)
    except ApiException as error:
        if error.status != 404:
            raise RunFailed(f"node {node.node}: the API refused its deletion ({error.status} {error.reason}); "
                            "it stays cordoned") from None
    try:
        gone = readiness.wait_deleted(api, node.node, timeout)
    except ApiException as error:
        raise RunFailed(f"node {node.node}: the API answered {error.status} while it was deleted") from None
    if not gone:
        member = " (k3s removes its etcd member first: see the servers' k3s log)" if node.server else ""
        raise RunFailed(f"node {node.node} still in the API {timeout:.0f}s after its deletion{member}")


def _uninstall(flow: Flow, node: Leaving) -> tuple[bool, str]:
    """`down`'s deploy on the node's host: (whether it removed anything, why not where it failed)."""
    from harmony import runner

    target = _target(flow, node)
    if target is None:
        return False, "its node gave no address to reach its host at"
    result = runner.run(target, f"{flow.runtime.deploys}.down", flow.options, quiet=True)
    (outcome,) = result.hosts.values()
    return (bool(outcome.changed), "") if outcome.ok else (bool(outcome.changed), outcome.reason)


def _target(flow: Flow, node: Leaving):
    """The node's host as a one-host target: the inventory's host, or its node's address with
    the login (user, key, known hosts, sudo) of the target's first host."""
    from harmony.datakeys import CONNECTION
    from harmony.targets import Target

    if node.host:
        host = next(h for h in flow.hosts if h.name == node.host)
        return Target(host.name, f"host {host.name}", groups={LEAVING_GROUP: [(host.name, host.data)]})
    if not node.address:
        return None
    login = {key: value for key, value in flow.hosts[0].data.items()
             if key in CONNECTION and key not in ("ssh_hostname", "ssh_port")}
    return Target(node.address, f"node {node.node} at {node.address}",
                  groups={LEAVING_GROUP: [(node.address, {**login, "ssh_hostname": node.address})]})


def _said(node: Leaving, uninstalled: bool, why: str) -> str:
    """What became of a node, in a line."""
    from harmony.k3s.removal import where

    left = (f"node {node.node} left the cluster (drained, deleted from the API"
            + (", its etcd member removed)" if node.server else ")") if node.listed
            else f"node {node.node} was not in the cluster")
    if why:
        return f"{left}; k3s not uninstalled from it at {where(node)}: {why} (harmony down there removes it)"
    return f"{left}; " + ("k3s uninstalled" if uninstalled else "no k3s left to uninstall") + f" at {where(node)}"
