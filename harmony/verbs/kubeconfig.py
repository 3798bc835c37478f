"""`harmony kubeconfig`: fetch the cluster's kubeconfig from its hosts again, wait for its nodes
through it, and merge it into the user's."""

from __future__ import annotations

import click

from harmony.steps import Flow, cluster, hosts, perform, prepare
from harmony.verbs.command import (CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, RUNTIME_OPTION, TARGET, Verb,
                                   build_request, handles_errors, with_options)


def say_merged(flow: Flow) -> None:
    from harmony import kubeconfig

    path = kubeconfig.default_path()
    flow.report.extra["kubeconfig"] = str(path)
    flow.report.notes.append(f"merged context '{flow.request.name}' into {path}")


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    prepare.resolve,
    hosts.run_hosts,
    cluster.wait_for_nodes,
    say_merged,
)


@click.command(name="kubeconfig", cls=Verb, examples=(
    "# Fetch it again and make it the current context",
    "harmony kubeconfig root@10.0.0.11 --switch-context",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, JSON_OPTION)
@click.option("--wait-timeout", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Seconds to wait for every node to be Ready (default 180).")
@click.option("--switch-context", is_flag=True, help="Make the cluster's context the current one in your kubeconfig.")
@handles_errors
def kubeconfig(target, **options):
    """Fetch the cluster's kubeconfig again and merge it into yours."""
    return perform(Flow(build_request(target, **options), deploy="kubeconfig", pin=False), STEPS)
