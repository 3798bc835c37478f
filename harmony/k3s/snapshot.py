"""An on-demand etcd snapshot, taken by k3s on one server and copied to the controller.

k3s does the taking (`k3s etcd-snapshot save --name harmony-RUN`: docs.k3s.io cli/etcd-snapshot),
on the first server of the inventory that harmony reaches: the file it writes,
`harmony-RUN-NODE-UNIXTIME` under server/db/snapshots (pkg/etcd/snapshot.go), stays there as
k3s's own on-demand snapshots do (k3s never prunes those by itself). A copy, with the sha256 the
server computed, goes through the login user's private staging directory to the controller, where
`harmony.snapshots.keep` puts it in place only if its content is what the server hashed. A
server on SQLite (a single server: harmony starts embedded etcd only for several) has no etcd to
snapshot, and is refused with that reason before k3s is asked.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileDownloadCommand, FunctionCommand

from harmony import operations, shell, snapshots
from harmony.k3s import paths, resolve
from harmony.k3s.hoststate import host_state
from harmony.k3s.settings import from_data

DATA_KEY = "harmony_snapshot"  # where the controller wants the snapshot (a file path), set by the verb
SNAPSHOTS_DIR = f"{paths.DATA_DIR}/server/db/snapshots"
ETCD_DIR = f"{paths.DATA_DIR}/server/db/etcd"
NO_ETCD = ("this server keeps the cluster in SQLite, not embedded etcd, and k3s snapshots only etcd: a cluster "
           "of several servers runs etcd (harmony starts the first with cluster-init); back up "
           f"{paths.DATA_DIR}/server/db/state.db with k3s stopped instead")

# Fixed text: its values are shell variables set (quoted) above it. k3s's own words go to stderr.
_SAVE = r"""[ -d "$etcd" ] || { printf 'harmony: %s\n' "$no_etcd" >&2; exit 1; }
"$k3s" etcd-snapshot save --name "$name" >&2 || exit 1
set -- "$dir/$name"-*
[ -f "$1" ] || { printf 'harmony: k3s said it saved the snapshot, but no %s-* is in %s\n' "$name" "$dir" >&2; exit 1; }
user=${SUDO_USER:-$(id -un)}
install -d -m 0700 -o "$user" "$staging" && install -m 0600 -o "$user" "$1" "$staged" || exit 1
sum=$(sha256sum "$1" | cut -d' ' -f1)
(umask 077 && printf '%s %s\n' "$sum" "$1" > "$staged.sum") && chown "$user" "$staged.sum"
"""


def chosen_server() -> str | None:
    """The server that takes the snapshot: the inventory's first server harmony reached."""
    reached = {h.name for h in host.state.activated_hosts}
    return next((name for name in resolve.of_run().cluster.servers if name in reached), None)


def save() -> None:
    """This host's part of `harmony snapshot`: nothing, but on the chosen server."""
    if host.name != chosen_server():
        operations.nothing(name="Take an etcd snapshot", reason="another server takes it")
        return
    state = host_state("Take an etcd snapshot")
    if state is None:
        return
    if not state.unit(paths.unit_name("server")).active:
        operations.fail(name="Take an etcd snapshot",
                        message="k3s is not running here, and k3s takes a snapshot through its running server: "
                                "run harmony up first")
        return
    node = from_data(host.data, host.name, host.groups).node(state.hostname)
    take(name="Take an etcd snapshot", local=host.data.get(DATA_KEY), node=node)


@operations.step
def take(local: str, node: str):
    """k3s's snapshot, staged for the login user with its sha256, fetched beside `local` and put
    in place there only when it is whole; the staged copies removed whatever happened."""
    staged = f"{operations.STAGING_DIR}/{operations.RUN_ID}-snapshot"
    received = f"{local}.part"
    yield shell.assign(etcd=ETCD_DIR, no_etcd=NO_ETCD, k3s=paths.BINARY, name=f"harmony-{operations.RUN_ID}",
                       dir=SNAPSHOTS_DIR, staging=operations.STAGING_DIR, staged=staged) + _SAVE
    yield FunctionCommand(_private, (received, f"{received}.sum"), {})
    yield FileDownloadCommand(f"{staged}.sum", f"{received}.sum", _sudo=False)
    yield FileDownloadCommand(staged, received, _sudo=False)
    yield shell.command("rm", "-f", staged, f"{staged}.sum")
    yield FunctionCommand(_keep, (Path(received), Path(local), node), {})


def _private(state, host, *files: str) -> bool:
    """The files the downloads write into, made first, private: a snapshot holds the cluster's secrets."""
    for path in files:
        snapshots.write_private(Path(path), "")
    return True


def _keep(state, host, received: Path, local: Path, node: str) -> bool:
    """Put the fetched snapshot in place with what a restore needs (the server's token), or fail
    the step saying why."""
    summed = Path(f"{received}.sum")
    sha256, host_file = summed.read_text().split(" ", 1)
    summed.unlink()
    token, why = operations.read_file(host, paths.SERVER_TOKEN)
    if token is None:
        received.unlink(missing_ok=True)
        host.log(f"harmony: cannot read {paths.SERVER_TOKEN}, which a restore needs ({why})",
                 log_func=operations.logger.error)
        return False
    taken = snapshots.Taken(
        cluster=host.data.get("harmony_cluster") or "harmony",
        taken=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        server=host.name, node=node, host_file=host_file.strip(), sha256=sha256,
        token=token.decode().strip())
    problem = snapshots.keep(received, local, taken)
    if problem:
        host.log(f"harmony: {problem}", log_func=operations.logger.error)
        return False
    return True

