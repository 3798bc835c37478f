"""`harmony status`: each host's runtime and state (k3s: role, version, service, its
certificates' earliest expiry; k3d: the cluster's nodes), its node in the API, and the nodes the API lists that no host of the
inventory is (removed from the inventory, not from the cluster); exit 1 where a host is
unreachable. Of a fleet, only the hosts that need a look get a line, and the others a count."""

from __future__ import annotations

import click

from harmony.steps import Flow, cluster, perform, prepare
from harmony.verbs.command import (CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, RUNTIME_OPTION, TARGET, Verb,
                                   build_request, handles_errors, with_options)


# More hosts than this make a fleet: `status` gives a line only to each host that needs a look,
# and counts the others (`--all` lists them too). A small cluster (3 servers and 2 agents) is
# still listed host by host, where each line's version and expiry are worth reading.
FLEET = 5


def report_status(flow: Flow) -> None:
    from harmony import report

    survey = cluster.survey(flow)
    name, rows = flow.request.name, survey.hosts
    hosts = [report.HostReport(row["host"], health(flow, row), details=row) for row in rows]  # the notes say them
    every = flow.request.every_host or len(hosts) <= FLEET
    healthy = [h.details for h in hosts if h.status == report.STATUS[0]]
    lines = [f"cluster '{name}': API {survey.api}"]
    lines += [f"{h.host}: " + (flow.runtime.status_line(h.details) if h.details["reachable"] else
                               f"unreachable: {h.details['reason']}") for h in hosts
              if every or h.status != report.STATUS[0]]
    if healthy and not every:
        lines.append(folded(healthy))
    lines += [f"node {node['node']} ({','.join(node['roles']) or 'agent'}, {node['version']}, "
              f"{'Ready' if node['ready'] else 'not Ready'}) is in the cluster but not in the inventory: "
              + ("add its host back, or take it out with harmony up --prune-nodes" if node["managed"] else
                 "harmony did not install it, and leaves it (add its host to the inventory to manage it)")
              for node in survey.unlisted]
    flow.report = report.Report("status", name, hosts, report.STATUS, started=flow.started,
                                ok=all(r["reachable"] for r in rows), notes=lines,
                                extra={"api": survey.api, "nodes_not_in_inventory": survey.unlisted})
    flow.code = 0 if flow.report.ok else 1


def health(flow: Flow, row: dict) -> str:
    """unreachable; not healthy where the runtime is not running there, its node is not Ready,
    or something waits on it (`differences`, in the row too: new files staged, a restart
    pending, certificates near their expiry); else healthy."""
    from harmony import report

    if not row["reachable"]:
        return report.UNREACHABLE
    row["differences"] = flow.runtime.differences(row)
    return report.STATUS[0] if row["healthy"] and not row["differences"] else report.STATUS[1]


def folded(rows: list[dict]) -> str:
    """The line for the healthy hosts of a fleet not listed: how many, and on which versions."""
    import collections

    versions = collections.Counter(row["version"] for row in rows if row.get("version"))
    on = ", ".join(f"{version} on {count}" for version, count in sorted(versions.items()))
    return (f"{len(rows)} host{'s' if len(rows) != 1 else ''} healthy{f' ({on})' if on else ''}, "
            "not listed: harmony status --all lists every host")


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    prepare.resolve,
    report_status,
)


@click.command(short_help="Each host's k3s, service, node and certificates.", cls=Verb, examples=(
    "# This machine's cluster",
    "harmony status",
    "# Every host of a fleet, the healthy ones too",
    "harmony status inventories/edge.py --all",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, JSON_OPTION)
@click.option("--all", "every_host", is_flag=True,
              help=f"List every host; of a fleet (more than {FLEET} hosts), only those not healthy are listed by "
                   "default, and the others counted (--json always lists every host).")
@handles_errors
def status(target, **options):
    """Per host: installed k3s version, service state, node Ready in the API, earliest certificate expiry."""
    return perform(Flow(build_request(target, **options), pin=False, reading=True), STEPS)
