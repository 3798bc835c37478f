"""Offline `plan` and `check`: where a site the release is resolved from cannot be reached, they
answer from what is known, and name what is not (`harmony.resolved.Resolved.unknown`).

Known without a download: the runtime chosen, the hosts' facts (where they answer), a pinned
version and what each host has installed, where each host would download from, the cluster's
API and its workloads. Not known: a channel's current release, and a release's checksums
(unless the controller kept them from an earlier run).

With the version known (pinned), `up`'s dry run plans every step as usual, config and service
included: a binary whose checksum is not known is planned as an install where the host's k3s
is another release, and taken as it is where the host reports the release asked for (the
unknown checksum is named). With the version not known (a channel), what `up`'s steps would
change cannot be planned: a host is planned from its facts alone, `would change` where it has
no k3s, else UNKNOWN.

Such an answer is not whole, so it never ends with exit 0: INCOMPLETE where nothing known is
wrong (a script's `harmony check && ...` must not read a partial check as a clean one), 1 where
something known is (a host that would fail, or drifted). `up` never resolves this way: offline
it stops before touching anything, and it never installs a download it cannot verify.
"""

from __future__ import annotations

from harmony import report as reports
from harmony.resolved import VERSION, Unknown
from harmony.steps import Flow, cluster, hosts

UNKNOWN = "unknown"  # a host's status where what `up` would do there is not known
INCOMPLETE = 3  # the exit code of an answer with unknowns, where nothing known is wrong
STEPS_UNKNOWN = Unknown("what up's steps would change on each host (its files, config and service)",
                        "its dry run needs the release's version", "pin --version to plan them")


def plan_hosts(flow: Flow) -> None:
    """What `up` would do on each host: its dry run where the release's version is known; else
    what the hosts' facts say of it. Either names what is not known."""
    if flow.resolved.version:
        hosts.plan_hosts(flow)
    else:
        rows = [_plan_row(flow, row) for row in cluster.survey(flow).hosts]
        flow.report = reports.Report("plan", flow.request.name, rows, reports.PLAN, started=flow.started,
                                     notes=list(flow.plan_notes), extra=dict(flow.plan_extra))
    if flow.resolved.unknown:
        flow.report.ok, flow.code = False, INCOMPLETE
        flow.report.notes += said(flow)
        flow.report.extra.update(as_json(flow))


def dry_run(flow: Flow) -> None:
    """`up`'s dry run (`harmony.steps.hosts.dry_run`), where the release's version is known."""
    if flow.resolved.version:
        hosts.dry_run(flow)


def unknowns(flow: Flow) -> list[Unknown]:
    return [*flow.resolved.unknown, *(() if flow.resolved.version else (STEPS_UNKNOWN,))]


def said(flow: Flow) -> list[str]:
    """The release, what could not be known, why and its fix, and what `up` would do, a line each."""
    version = flow.resolved.version
    return [f"release: k3s {version or VERSION}, run by {flow.runtime.name}",
            *(f"unknown: {u}" for u in unknowns(flow)),
            "up installs nothing it cannot verify: where it cannot reach these, it stops before it changes anything"]


def as_json(flow: Flow) -> dict:
    return {"runtime": flow.runtime.name, "version": flow.resolved.version,
            "unknown": [{"what": u.what, "why": u.why, "fix": u.fix} for u in unknowns(flow)]}


def _plan_row(flow: Flow, row: dict) -> reports.HostReport:
    """A host's plan where the release's version is not known: from the k3s release it has."""
    if not row["reachable"]:
        return reports.HostReport(row["host"], reports.UNREACHABLE, reason=row["reason"])
    installed = flow.runtime.installed(row)
    downloads = flow.runtime.downloads(flow.settings, flow.resolved, row)
    details = {"installed": installed or None, "downloads": downloads}
    if installed:
        return reports.HostReport(row["host"], UNKNOWN, reason=f"has k3s {installed}: whether {VERSION} is another "
                                  "release is not known", details=details)
    where = f" from {', '.join(downloads)}" if downloads else ""
    return reports.HostReport(row["host"], reports.PLAN[0], reason=f"has no k3s: up would install k3s {VERSION}{where}",
                              details=details)
