"""`harmony restore FILE [TARGET]`: a k3s cluster restored from a snapshot `harmony snapshot`
took, by k3s's documented steps across its servers (`harmony.k3s.restore`): shown first, done
once confirmed, ended with every node Ready."""

from __future__ import annotations

import functools

import click

from harmony.steps import Flow, cluster, hosts, perform, prepare
from harmony.verbs.command import (CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, TARGET, Verb, ask, build_request,
                                   handles_errors, require_terminal, with_options)
from harmony.verbs.up import say_nodes


def confirm_restore(flow: Flow) -> None:
    """Show the restore's steps (on stderr: stdout is the report's), ask unless --yes, and hand
    the deploy the snapshot."""
    from dataclasses import replace

    from harmony import snapshots
    from harmony.k3s import restore

    from harmony.errors import BadInput

    path, taken = snapshots.read(flow.request.restore_file)
    shape = flow.resolved.cluster
    problem = restore.token_problem(shape.token, taken)
    if problem:
        raise BadInput(problem)
    for line in restore.steps(shape.servers, shape.agents, str(path), taken):
        click.echo(line, err=True)
    if flow.request.confirm:
        flow.request.confirm()
    flow.options = replace(flow.options, data={**flow.options.data, restore.DATA_KEY: str(path)})


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    prepare.resolve,
    confirm_restore,
    hosts.run_hosts,
    hosts.require_every_host,
    cluster.wait_for_nodes,
    say_nodes,
)


@click.command(short_help="Restore the cluster from a snapshot.", cls=Verb, examples=(
    "# The cluster of an inventory, from a snapshot harmony snapshot took",
    "harmony restore ./snapshots/SNAPSHOT inventories/edge.py --yes",
))
@click.argument("file", type=click.Path(dir_okay=False))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, JSON_OPTION)
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
@click.option("--wait-timeout", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Seconds to wait for every node to be Ready (default 180).")
@handles_errors
def restore(file, target, yes, **options):
    """Restore the k3s cluster on TARGET from FILE (a snapshot harmony snapshot took): stop k3s on
    every server, reset etcd from FILE on the first, start it, and have the others rejoin."""
    from dataclasses import replace

    from harmony import snapshots

    snapshots.read(file)  # bad input before any host is touched
    if not yes:
        require_terminal("add --yes")
    request = replace(build_request(target, runtime="k3s", **options), restore_file=file,
                      confirm=None if yes else functools.partial(ask, "Restore it?"))
    return perform(Flow(request, deploy="restore", pin=False), STEPS)
