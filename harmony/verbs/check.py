"""`harmony check`: every host compared with its spec, changing nothing: what `up` would change
(a dry run of its deploy), whether the cluster runs there and its node is Ready; in a project,
what `up` would do to its workloads and which ones do not run; a k3s node whose earliest
certificate expires within `--cert-days` (default 30); exit 1 listing each difference.
Offline, what is known is compared and what is not is named, exit 3 where nothing known differs
(`harmony.steps.known`)."""

from __future__ import annotations

import click

from harmony.steps import Flow, cluster, images, known, perform, prepare
from harmony.verbs.command import (CERT_OPTION, CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, RELEASE_OPTIONS,
                                   RUNTIME_OPTION, TARGET, Verb, build_request, handles_errors, with_options)

# The lifecycle's phases whose steps change the controller (its copy of the kubeconfig), not
# the host: what a dry run lists of them is no difference on the host.
CONTROLLER_PHASES = ("kubeconfig",)


def compare(flow: Flow) -> None:
    from harmony import report
    from harmony.workloads import converge

    request, survey = flow.request, cluster.survey(flow)
    incomplete = bool(flow.resolved.unknown)  # something could not be known (harmony.steps.known)
    hosts = []
    for row in survey.hosts:
        # No dry run offline where the version is not known: nor is then what up would change.
        planned = flow.result.of(row["host"]) if flow.result else None
        if not row["reachable"]:
            differences = [f"unreachable: {row['reason']}"]
        elif planned and planned.refused:
            differences = [f"would fail: {planned.refused}"]
        else:
            differences = [f"would change: {report.step_of(name)}" for name in planned.changed
                           if report.phase_of(name) not in CONTROLLER_PHASES] if planned else []
            if not row["healthy"]:
                differences.append("not running, or its node is not Ready")
            differences += flow.runtime.differences(row)
        same = known.UNKNOWN if incomplete else report.CHECK[0]
        status = same if not differences else report.CHECK[1] if row["reachable"] else "unreachable"
        certificates = {"certificates": row["certificates"]} if "certificates" in row else {}
        hosts.append(report.HostReport(row["host"], status, reason="; ".join(differences) or None,
                                       details={"differences": differences, **certificates}))
    extra = [f"node {n['node']} is in the cluster but not in the inventory" for n in survey.unlisted]
    if request.project:
        config = cluster.answering(flow, {row["host"] for row in survey.hosts if row["healthy"]})
        if config:
            extra += images.survey_images(flow, config)
            extra += converge.survey(config, request.name, request.project.name, flow.workloads, rollouts=True).differences
        else:
            extra.append("workloads: the cluster's API does not answer")
    drifted = bool(extra) or any(h.reason for h in hosts)
    flow.code = 1 if drifted else known.INCOMPLETE if incomplete else 0
    flow.report = report.Report("check", request.name, hosts, report.CHECK, started=flow.started, ok=flow.code == 0,
                                notes=[*extra, *(known.said(flow) if incomplete else ())],
                                extra={"drifted": drifted, "cluster_differences": extra,
                                       **(known.as_json(flow) if incomplete else {})})


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    images.check_builds,
    prepare.resolve_known,
    known.dry_run,
    compare,
)


@click.command(short_help="Compare every host with its spec; exit 1 on drift.", cls=Verb, examples=(
    "# The project's cluster against its spec",
    "harmony check",
    "# Nightly, from monitoring",
    "harmony check inventories/stores.py --json > drift.json",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, RELEASE_OPTIONS, CERT_OPTION, JSON_OPTION)
@handles_errors
def check(target, **options):
    """Compare every host of TARGET with its spec, changing nothing; exit 1 if anything drifted."""
    return perform(Flow(build_request(target, **options), reads_workloads=True), STEPS)
