"""`harmony plan`: what `up` would do on each host (a dry run of the same deploy), and in a
project what it would do to each workload's objects where the cluster answers already; exit 1
where it would fail on a host. Offline, a plan from what is known, naming what is not, exit 3
(`harmony.steps.known`)."""

from __future__ import annotations

import click

from harmony.errors import RunFailed
from harmony.steps import Flow, cluster, images, known, perform, prepare, removal, workloads
from harmony.verbs.command import (ADOPT_OPTION, CONNECTION_OPTIONS, DRAIN_OPTION, JSON_OPTION, PROJECT_OPTION,
                                   PRUNE_OPTION, RELEASE_OPTIONS, RUNTIME_OPTION, TARGET, Verb, build_request,
                                   handles_errors, with_options)


def plan_workloads(flow: Flow) -> None:
    """In a project: what `up` would do to each workload's objects, where the API answers."""
    request = flow.request
    if not request.project:
        return
    from harmony.workloads import converge

    config = cluster.answering(flow, {h.name for h in flow.hosts})
    if config is None:
        flow.report.notes.append(f"workloads: the cluster's API does not answer yet: up would create every "
                                 f"object of the {len(flow.workloads)} workload(s) "
                                 f"({', '.join(w.name for w in flow.workloads)})")
        return
    flow.report.notes += images.survey_images(flow, config)
    outcome = converge.survey(config, request.name, request.project.name, flow.workloads, rollouts=False,
                              adopt=request.adopt)
    workloads.say(flow, outcome, converge.PLAN_VERBS)
    workloads.refuse_where_refused(outcome)


def fail_where_up_would(flow: Flow) -> None:
    from harmony import report

    refused = [h for h in flow.report.hosts if h.status not in (*report.PLAN[:2], known.UNKNOWN)]
    if refused:
        also = " or are unreachable" if any(h.status == report.UNREACHABLE for h in refused) else ""
        raise RunFailed(f"{len(refused)} of {len(flow.hosts)} host(s) would fail{also}: "
                        f"{report.some([h.host for h in refused])}")


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    images.check_builds,
    prepare.resolve_known,
    removal.plan_pruning,
    known.plan_hosts,
    plan_workloads,
    fail_where_up_would,
)


@click.command(cls=Verb, examples=(
    "# What up would do on one host",
    "harmony plan root@10.0.0.11",
    "# An upgrade's plan, for a program",
    "harmony plan inventories/edge.py --k3s-version v1.32.0+k3s1 --json",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, RELEASE_OPTIONS, DRAIN_OPTION, PRUNE_OPTION, ADOPT_OPTION, JSON_OPTION)
@handles_errors
def plan(target, **options):
    """Show what `up` would change on TARGET, changing nothing."""
    return perform(Flow(build_request(target, **options), reads_workloads=True), STEPS)
