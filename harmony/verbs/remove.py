"""`harmony remove [TARGET] HOST...`: take the named hosts' nodes out of the cluster (drained,
deleted from the API, a server's etcd member removed, only while etcd keeps its quorum) and
uninstall k3s from them; the other nodes are not touched. The hosts stay in the inventory until
you remove them from it: a later `up` would install them again."""

from __future__ import annotations

import functools

import click

from harmony.errors import BadInput
from harmony.steps import Flow, perform, prepare, removal
from harmony.verbs.command import (CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, RUNTIME_OPTION, Verb, ask,
                                   build_request, handles_errors, require_terminal, with_options)

STEPS = (
    prepare.check_input,
    removal.check_named,
    prepare.choose_runtime,
    prepare.resolve,
    removal.plan_removal,
    removal.remove,
)


@click.command(short_help="Take nodes out of the cluster: drain, delete, uninstall.", cls=Verb, examples=(
    "# Take host a3's node out of the fleet's cluster",
    "harmony remove inventories/edge.py a3 --yes",
))
@click.argument("names", nargs=-1, required=True, metavar="[TARGET] HOST...")
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RUNTIME_OPTION, JSON_OPTION)
@click.option("--yes", "-y", is_flag=True, help="Do not show the steps and ask first.")
@handles_errors
def remove(names, yes, **options):
    """Take HOSTs' nodes out of the cluster of TARGET (the project file's target, where it has
    one): drain, delete from the API, remove a server's etcd member, uninstall k3s."""
    request = build_request(None, **options)
    if request.project is None or request.project.target is None:
        if len(names) < 2:
            raise BadInput("name the target, then the hosts whose nodes leave: harmony remove TARGET HOST...")
        request = build_request(names[0], remove=names[1:], **options)
    else:
        request = build_request(None, remove=names, **options)
    if not yes:
        require_terminal("add --yes to remove them without being asked")
        request.confirm = functools.partial(ask, "Take these nodes out of the cluster?")
    return perform(Flow(request, deploy="down", pin=False), STEPS)
