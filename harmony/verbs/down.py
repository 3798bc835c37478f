"""`harmony down`: remove the cluster from every host, and its kubeconfig context. In a project
whose cluster also runs other projects' workloads: this project's workloads only, unless asked
for the whole cluster."""

from __future__ import annotations

import click

from harmony.steps import Flow, cluster, hosts, perform, prepare, workloads
from harmony.verbs.command import (CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, RUNTIME_OPTION, TARGET, Verb, ask,
                                   build_request, handles_errors, with_options)


def keep_for_other_projects(flow: Flow) -> None:
    """Where the cluster runs other projects' workloads, prune this project's, keep the cluster
    (saying whose it keeps it for), and end the verb."""
    request = flow.request
    if not request.project or request.whole_cluster:
        return
    from harmony import report, stopping
    from harmony.workloads import converge

    config = cluster.answering(flow, {h.name for h in flow.hosts})
    others = converge.others(config, request.name, request.project.name) if config else {}
    if not others:
        return
    flow.report = rep = report.Report("down", request.name, [], report.DOWN, started=flow.started)
    with stopping.checkpoints() as check:
        outcome = converge.up(config, request.name, request.project.name, [], request.wait_timeout, check=check,
                              lock_wait=flow.lock_wait)
    workloads.say(flow, outcome, converge.UP_VERBS)
    said = "; ".join(f"project {name}'s {', '.join(workloads)}" for name, workloads in sorted(others.items()))
    rep.notes.append(f"cluster '{request.name}' kept: it runs {said}; harmony down --cluster removes it with them")
    rep.extra["kept_for"] = others
    flow.done = True


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    prepare.resolve,
    keep_for_other_projects,
    hosts.run_hosts,
    hosts.require_every_host,
    cluster.forget,
)


@click.command(short_help="Remove k3s (or the project's workloads) from TARGET.", cls=Verb, examples=(
    "# Remove the cluster from this machine",
    "harmony down --yes",
    "# From one host over SSH",
    "harmony down root@10.0.0.11 --yes",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, JSON_OPTION)
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
@click.option("--purge", is_flag=True, help="k3d: also remove the k3d executable.")
@click.option("--cluster", "whole_cluster", is_flag=True,
              help="In a project: remove the cluster even while other projects' workloads run on it "
                   "(by default only this project's workloads are removed then).")
@handles_errors
def down(target, yes, **options):
    """Stop and remove k3s from TARGET: binary, units, data, scripts; and its kubeconfig context.
    In a project whose cluster runs other projects' workloads too: this project's workloads only."""
    request = build_request(target, **options)
    if not yes:
        kept = "" if request.whole_cluster or not request.project else \
            f" (only project {request.project.name}'s workloads, where other projects run on it)"
        ask(f"Remove k3s and all its data from {request.target.description}{kept}?")
    return perform(Flow(request, deploy="down", pin=False, whole=request.project is not None), STEPS)
