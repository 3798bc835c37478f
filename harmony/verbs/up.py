"""`harmony up`: install or converge the cluster on its hosts, wait for its nodes, merge its
kubeconfig; then, in a project, apply its workloads and wait until they run."""

from __future__ import annotations

import functools

import click

from harmony.errors import BadInput, RunFailed
from harmony.steps import Flow, cluster, hosts, images, perform, prepare, removal, workloads
from harmony.verbs.command import (ADOPT_OPTION, CONNECTION_OPTIONS, DRAIN_OPTION, JSON_OPTION, PROJECT_OPTION,
                                   PRUNE_OPTION, RELEASE_OPTIONS, RUNTIME_OPTION, TARGET, UP_OPTIONS, Verb, ask,
                                   build_request, handles_errors, require_terminal, with_options)


def say_nodes(flow: Flow) -> None:
    """The report names the cluster's Ready nodes, and how to reach them."""
    import dataclasses

    from harmony import report

    name = flow.request.name
    flow.report.extra["nodes"] = [dataclasses.asdict(n) for n in flow.nodes]
    flow.report.notes.append(f"cluster '{name}': {len(flow.nodes)} node(s) Ready "
                             f"({report.some([n.name for n in flow.nodes])}); use it with: kubectl --context {name} get nodes")


def apply_workloads(flow: Flow) -> None:
    """In a project: its workloads applied, what it no longer lists pruned, and every one waited
    for until it runs (`harmony.workloads.converge`)."""
    if not flow.request.project:
        return
    from harmony.workloads import converge

    outcome = converged(flow)
    workloads.say(flow, outcome, converge.UP_VERBS)
    workloads.refuse_where_refused(outcome)
    if outcome.failures:
        names = sorted({f.workload for f in outcome.failures})
        raise RunFailed(f"{len(names)} workload(s) not running: {', '.join(names)}")


def converged(flow: Flow):
    """`flow.workloads` applied, pruned and waited for, stopping at a checkpoint when told to:
    the outcome (`harmony.workloads.converge.Outcome`). Also each cycle of `--watch`."""
    from harmony import stopping
    from harmony.workloads import converge

    request = flow.request
    with stopping.checkpoints() as check:
        return converge.up(flow.config, request.name, request.project.name, flow.workloads, request.wait_timeout,
                           flow.runtime.ports(flow.settings, flow.result), check, flow.lock_wait, request.adopt)


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    images.check_builds,
    prepare.resolve,
    removal.plan_pruning,
    hosts.confirm,
    hosts.run_hosts,
    cluster.wait_for_nodes,
    cluster.claim_nodes,
    say_nodes,
    hosts.require_every_host,
    removal.prune,
    images.ship_images,
    apply_workloads,
)


def run(request, watch: bool = False) -> int:
    """The steps; with `watch`, then the project's files watched and each change built, sent
    and applied (`harmony.watch`) until a stop, also where the first run failed only in its
    project's part (a build, a rollout): the change that fixes it is what the loop waits for."""
    flow = Flow(request, deploy="up", reads_workloads=True)
    if not watch:
        return perform(flow, STEPS)
    from harmony import shown, watch as watching

    try:
        perform(flow, STEPS)
    except RunFailed as error:
        if not watching.can_go_on(flow):
            raise
        click.echo(f"harmony: error: {shown.message(str(error))}", err=True)
    return watching.watch(flow, converged)


@click.command(short_help="Install or converge k3s on TARGET and run the workloads.", cls=Verb, examples=(
    "# Kubernetes on this machine (k3s, or k3d on Docker), without asking",
    "harmony up --yes",
    "# A fleet from an inventory, on a pinned release: servers first, then agents",
    "harmony up inventories/edge.py --k3s-version v1.31.4+k3s1 --yes",
    "# A rolling upgrade, each node drained before its restart",
    "harmony up inventories/edge.py --k3s-version v1.32.0+k3s1 --drain --yes",
    "# One host over SSH, from an airgap bundle (harmony bundle)",
    "harmony up root@10.0.0.11 --airgap ./bundle --yes",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, RELEASE_OPTIONS, DRAIN_OPTION, UP_OPTIONS, PRUNE_OPTION, ADOPT_OPTION,
              JSON_OPTION)
@click.option("--yes", "-y", is_flag=True, help="Apply without showing the plan and asking first.")
@click.option("--watch", is_flag=True,
              help="In a project, once up: watch its images' contexts, its workloads' files and harmony.yaml, and "
                   "rebuild, send and apply what each change affects, a line each, until Ctrl-C. The hosts are not "
                   "run again, and the changes are applied without asking.")
@handles_errors
def up(target, yes, watch, **options):
    """Install or converge k3s on TARGET, wait until it is Ready, merge its kubeconfig."""
    if watch and options.get("as_json"):
        raise BadInput("--watch prints a line for each change it applies, not one JSON report: drop --json")
    request = build_request(target, **options)
    if watch and not request.project:
        raise BadInput("--watch watches a project's files, and there is no harmony.yaml here or above (-f names "
                       "one; harmony init writes one)")
    if not yes:
        require_terminal("add --yes to apply without being asked")
        request.confirm = functools.partial(ask, "Apply these changes?")
    return run(request, watch)
