"""`harmony status`: each host's runtime and state (k3s: role, version, service, its
certificates' earliest expiry; k3d: the cluster's nodes), its node in the API, and the nodes the API lists that no host of the
inventory is (removed from the inventory, not from the cluster); exit 1 where a host is
unreachable."""

from __future__ import annotations

import click

from harmony.steps import Flow, cluster, perform, prepare
from harmony.verbs.command import CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, TARGET, build_request, \
    handles_errors, with_options


def report_status(flow: Flow) -> None:
    from harmony import report

    survey = cluster.survey(flow)
    name, rows = flow.request.name, survey.hosts
    hosts = [report.HostReport(row["host"], "unreachable" if not row["reachable"] else
                               report.STATUS[0] if row["healthy"] else report.STATUS[1],
                               details=row) for row in rows]  # the notes list every host
    lines = [f"cluster '{name}': API {survey.api}"]
    lines += [f"{row['host']}: " + (flow.runtime.status_line(row) if row["reachable"] else
                                    f"unreachable: {row['reason']}") for row in rows]
    lines += [f"node {node['node']} ({','.join(node['roles']) or 'agent'}, {node['version']}, "
              f"{'Ready' if node['ready'] else 'not Ready'}) is in the cluster but not in the "
              "inventory: add its host back, or take it out with harmony up --prune-nodes" for node in survey.unlisted]
    flow.report = report.Report("status", name, hosts, report.STATUS, started=flow.started,
                                ok=all(r["reachable"] for r in rows), notes=lines,
                                extra={"api": survey.api, "nodes_not_in_inventory": survey.unlisted})
    flow.code = 0 if flow.report.ok else 1


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    prepare.resolve,
    report_status,
)


@click.command()
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, JSON_OPTION)
@handles_errors
def status(target, **options):
    """Per host: installed k3s version, service state, node Ready in the API, earliest certificate expiry."""
    return perform(Flow(build_request(target, **options), pin=False), STEPS)
