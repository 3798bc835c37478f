"""A cluster restored from an etcd snapshot, as k3s documents it for several servers
(docs.k3s.io cli/etcd-snapshot, "Snapshot Restore Steps"; K3S-CONTRACT.md "Restore"):

    1. k3s stopped on every server (agents keep running: k3s does not ask for them to stop,
       and they reconnect once the servers are back);
    2. on the first server, the snapshot uploaded (checked against its sha256) with the token it
       was taken with, and `k3s server --cluster-reset --cluster-reset-restore-path=FILE
       --token-file=TOKEN`: k3s restores it, makes this server the only etcd member, says
       "Managed etcd cluster membership has been reset, restart without --cluster-reset flag
       now" and exits 0;
    3. the first server started normally;
    4. on each other server in turn, its etcd database (server/db) moved aside (k3s says "Backup
       and delete": it is kept, as server/db-harmony-RUN) and k3s started, to join the restored
       cluster as a new member;

then the controller waits until every node is Ready. Every server must be reachable: a restore
that could not stop one would leave it an etcd member of the old cluster.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FunctionCommand

from harmony import operations, shell, snapshots
from harmony.k3s import paths, resolve
from harmony.k3s.hoststate import host_state
from harmony.k3s.service import Service
from harmony.k3s.settings import from_data

DATA_KEY = "harmony_restore"  # the snapshot file on the controller, set by the verb
DB_DIR = f"{paths.DATA_DIR}/server/db"
RESTORED = f"{DB_DIR}/snapshots/harmony-restore"  # where the first server gets the snapshot (k3s's own directory)
TOKEN = f"{paths.DATA_DIR}/server/harmony-restore-token"  # the snapshot's token, 0600, for the reset only

# Fixed text: its values are shell variables set (quoted) above it.
_RESET = r"""install -d -m 0700 "${restored%/*}" && install -m 0600 "$staged" "$restored" && {
  timeout "$timeout" "$k3s" server --cluster-reset --cluster-reset-restore-path="$restored" --token-file="$token" \
    >"$log" 2>&1; code=$?
  rm -f "$token"
  if [ $code = 0 ] && grep -q 'restart without --cluster-reset flag now' "$log"; then true; else
    tail -n 15 "$log" >&2
    why=$(grep -E 'level=(fatal|error)' "$log" | tail -n 1)
    printf 'harmony: the cluster reset failed (exit %s)%s; k3s is stopped on every server\n' "$code" "${why:+: $why}" >&2
    false
  fi
}"""


def steps(servers: tuple[str, ...], agents: tuple[str, ...], snapshot: str, taken: snapshots.Taken) -> list[str]:
    """What a restore does, in order, for the user to read before saying yes."""
    first, others = servers[0], servers[1:]
    lines = [f"restore {snapshot} (taken {taken.taken} on {taken.server}, cluster {taken.cluster}):",
             f"1. stop k3s on every server: {', '.join(servers)}"
             + (f" (agents keep running and reconnect: {', '.join(agents)})" if agents else ""),
             f"2. {first}: upload the snapshot and its token; k3s server --cluster-reset "
             f"--cluster-reset-restore-path={RESTORED}",
             f"3. {first}: start k3s"]
    if others:
        lines.append(f"4. {', '.join(others)}, one at a time: move {DB_DIR} aside and start k3s, to rejoin")
    lines.append(f"{len(lines)}. wait until every node is Ready; whatever the cluster stored since the "
                 "snapshot is lost")
    return lines


def restore() -> None:
    """This host's part of `harmony restore`, in the order above (pyinfra runs each operation on
    every host before the next)."""
    settings = from_data(host.data, host.name, host.groups)
    shape = resolve.of_run().cluster
    if settings.role != "server":
        operations.nothing(name="Restore etcd", reason="an agent keeps running, and reconnects")
        return
    reached = {h.name for h in host.state.activated_hosts}
    missing = [name for name in shape.servers if name not in reached]
    if missing:
        operations.fail(name="Restore etcd", message=f"not restored: every server must be stopped for a restore, "
                                                     f"and {', '.join(missing)} cannot be reached")
        return
    state = host_state("Restore etcd")
    if state is None:
        return
    service = Service("server", state.init)
    if state.unit(service.name).load_state != "loaded":
        operations.fail(name="Restore etcd", message="k3s is not installed here: run harmony up first")
        return
    timeout = settings.start_timeout
    operations.run(name="Stop k3s", command=service.control("stop"))
    if host.name == shape.first_server:
        path, taken = snapshots.read(host.data.get(DATA_KEY))
        operations.file(name="Write the snapshot's token", path=TOKEN, content=taken.token + "\n", mode="600",
                        current=None)
        reset(name="Reset etcd from the snapshot", snapshot=str(path), sha256=taken.sha256, timeout=timeout)
        operations.run(name="Start k3s", command=_start(service, timeout))
        operations.fetch_kubeconfig(paths.KUBECONFIG, None)
    # pyinfra orders each host's operations, and those of several hosts only through the ones
    # they share: every server waits here until the first one is done.
    operations.nothing(name="Wait for the first server", reason="the first server is restored and running")
    if host.name != shape.first_server:
        rejoin(name="Move server/db aside and start k3s to rejoin", first=shape.first_server, service=service,
               timeout=timeout, _serial=True)


@operations.step
def rejoin(first: str, service: Service, timeout: int):
    """Where the first server was restored, move this server's etcd database aside (k3s: "Backup
    and delete") and start k3s, which joins the restored cluster as a new member."""
    aside = f"{paths.DATA_DIR}/server/db-harmony-{operations.RUN_ID}"
    yield FunctionCommand(_restored, (first,), {})
    yield f"{{ ! {shell.command('test', '-d', DB_DIR)} || {shell.command('mv', DB_DIR, aside)}; }} && " \
          + _start(service, timeout)


def _restored(state, host, first: str) -> bool:
    """Whether the first server's restore went through: else this one stays stopped, as it was."""
    if any(failed.name == first for failed in state.failed_hosts):
        host.log(f"harmony: not started: the restore on the first server {first} failed, and this server would "
                 "join nothing; it stays stopped, its etcd database as it was", log_func=operations.logger.error)
        return False
    return True


@operations.step
def reset(snapshot: str, sha256: str, timeout: int):
    """Upload the snapshot (checked against `sha256` on the host) and reset etcd from it."""
    yield from operations.sent(snapshot, sha256, snapshot, _RESET, restored=RESTORED, token=TOKEN, k3s=paths.BINARY,
                               timeout=int(timeout), log=f"{DB_DIR}/harmony-restore.log")


def _start(service: Service, timeout: int) -> str:
    return shell.command("timeout", int(timeout), *service.control("start").split())

