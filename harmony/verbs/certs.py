"""`harmony certs`: k3s's certificates. `certs rotate` issues every node's leaf certificates
anew, node by node as an upgrade restarts them (`harmony.k3s.rotation`), then merges the
cluster's kubeconfig again (its admin client certificate is new); `status` and `check` show
their expiry."""

from __future__ import annotations

import functools

import click

from harmony.errors import BadInput
from harmony.steps import Flow, cluster, hosts, perform, prepare
from harmony.verbs import up
from harmony.verbs.command import (CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, RUNTIME_OPTION, TARGET, Verb, Verbs,
                                   ask, build_request, handles_errors, require_terminal, with_options)


def only_k3s(flow: Flow) -> None:
    """k3d's nodes are containers that harmony does not restart one by one: refused."""
    if flow.runtime.name != "k3s":
        raise BadInput(f"harmony certs rotate rotates k3s's certificates on its hosts, and this cluster runs on "
                       f"{flow.runtime.name}: recreate its cluster (k3d) or restart its nodes instead")


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    only_k3s,
    prepare.resolve,
    hosts.confirm,
    hosts.run_hosts,
    cluster.wait_for_nodes,
    up.say_nodes,
    hosts.require_every_host,
)
DRY_STEPS = (*STEPS[:STEPS.index(prepare.resolve) + 1], hosts.plan_hosts)


@click.group(cls=Verbs)
def certs():
    """Rotate k3s's certificates, node by node (status shows them)."""


@certs.command(cls=Verb, examples=(
    "# What a rotation would do, for nodes expiring within 30 days",
    "harmony certs rotate inventories/edge.py --within 30 --dry-run",
    "# Rotate them",
    "harmony certs rotate inventories/edge.py --within 30 --yes",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, JSON_OPTION)
@click.option("--within", type=click.IntRange(1, 3650), metavar="DAYS",
              help="Only the nodes whose earliest certificate expires within DAYS days (default: every node).")
@click.option("--dry-run", is_flag=True, help="Say what it would do on each node, changing nothing.")
@click.option("--yes", "-y", is_flag=True, help="Rotate without showing the plan and asking first.")
@handles_errors
def rotate(target, within, dry_run, yes, **options):
    """Rotate the k3s certificates of TARGET's nodes, one node at a time: stop k3s, `k3s certificate
    rotate`, start it, wait until its node is Ready; servers first. Then merge the new kubeconfig."""
    from harmony.k3s.hoststate import CERTS_KEY

    request = build_request(target, **options)
    request.options.data[CERTS_KEY] = {"within": within}
    if not yes and not dry_run:
        require_terminal("add --yes to rotate without being asked")
        request.confirm = functools.partial(ask, "Rotate these certificates, restarting k3s node by node?")
    return perform(Flow(request, deploy="rotate", pin=False), DRY_STEPS if dry_run else STEPS)
