"""`harmony snapshot`: an on-demand etcd snapshot of a k3s cluster, taken by k3s on its first
reachable server and kept on the controller with the token a restore needs
(`harmony.k3s.snapshot`, `harmony.snapshots`). The other hosts are not asked for anything: one
that cannot be reached does not stop it."""

from __future__ import annotations

import datetime

import click

from harmony.steps import Flow, perform, prepare
from harmony.verbs.command import (CONNECTION_OPTIONS, JSON_OPTION, PROJECT_OPTION, TARGET, Verb, build_request,
                                   handles_errors, with_options)

TAKEN = ("taken", "unchanged", "failed")  # the server that took it, the hosts that were not asked (report.FAILED)


def take(flow: Flow) -> None:
    """Run the snapshot deploy, with where the file goes on the controller; report the file."""
    from dataclasses import replace

    from harmony import report, snapshots
    from harmony.errors import RunFailed
    from harmony.k3s.snapshot import DATA_KEY
    from harmony.steps import hosts

    name = flow.request.name
    path = snapshots.new_file(snapshots.directory(name, flow.request.snapshot_dir), name, datetime.datetime.now())
    flow.options = replace(flow.options, data={**flow.options.data, DATA_KEY: str(path)})
    result = hosts.deploy(flow)
    rows = [result.of(h.name).report(TAKEN, stopped=result.stopped is not None) for h in flow.hosts]
    flow.report = report.Report("snapshot", name, rows, TAKEN, started=flow.started, ok=path.exists(),
                                stop=result.stopped)
    if result.stopped is not None:
        raise result.stopped
    if not path.exists():
        raise RunFailed("no snapshot was taken: " + "; ".join(f"{r.host}: {r.reason}" for r in rows if r.reason))
    flow.report.notes.append(f"snapshot: {path} (with {snapshots.beside(path).name}, which holds the cluster's "
                             "token: keep both, private)")
    flow.report.extra["snapshot"] = str(path)


STEPS = (
    prepare.check_input,
    prepare.choose_runtime,
    prepare.resolve,
    take,
)


@click.command(short_help="An etcd snapshot, copied here with its token.", cls=Verb, examples=(
    "# A snapshot of a fleet's cluster, kept in ./snapshots",
    "harmony snapshot inventories/edge.py --to ./snapshots",
))
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, JSON_OPTION)
@click.option("--to", metavar="DIR", type=click.Path(file_okay=False),
              help="Keep the snapshot in DIR (default: ~/.local/share/harmony/snapshots/CLUSTER).")
@handles_errors
def snapshot(target, to, **options):
    """Take an etcd snapshot of the k3s cluster on its first reachable server, and copy it here
    (checksum verified, 0600) with the token a restore needs; print where."""
    from dataclasses import replace

    request = replace(build_request(target, runtime="k3s", **options), snapshot_dir=to)
    return perform(Flow(request, deploy="snapshot", pin=False), STEPS)
