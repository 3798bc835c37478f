"""A cluster restored from an etcd snapshot, as k3s documents it for several servers
(docs.k3s.io cli/etcd-snapshot, "Snapshot Restore Steps" and "Restoring To New Hosts";
K3S-CONTRACT.md "Restore"):

    1. k3s stopped on every server (agents keep running: k3s does not ask for them to stop);
    2. on the first server, the snapshot uploaded (checked against its sha256) with the token it
       was taken with, and `k3s server --cluster-reset --cluster-reset-restore-path=FILE
       --token-file=TOKEN`: k3s restores it (the cluster's CA with it: the token decrypts it),
       makes this server the only etcd member, says "Managed etcd cluster membership has been
       reset, restart without --cluster-reset flag now" and exits 0;
    3. the first server started normally;
    4. each other server in turn back: of the same cluster (its token the snapshot's), its etcd
       database (server/db) moved aside (k3s says "Backup and delete": it is kept, as
       server/db-harmony-RUN) and k3s started, to join as a new member; of another cluster (a
       restore onto new hosts), its whole server/ moved aside (its CA and token are that
       cluster's) and the snapshot's token given to it first; an agent of another cluster gets
       the token and restarts (one of the same reconnects by itself);
    5. onto new hosts, the Node objects that came with the snapshot (k3s keeps them) deleted.

then the controller waits until every node is Ready. Every server must be reachable: a restore
that could not stop one would leave it an etcd member of the old cluster.
"""

from __future__ import annotations

import hashlib
from io import BytesIO

from pyinfra import host
from pyinfra.api import FunctionCommand

from harmony import operations, shell, snapshots
from harmony.k3s import paths, resolve
from harmony.k3s.facts import HostState
from harmony.k3s.hoststate import host_state, state_of
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
             + (f" (agents keep running: {', '.join(agents)})" if agents else ""),
             f"2. {first}: upload the snapshot and its token; k3s server --cluster-reset "
             f"--cluster-reset-restore-path={RESTORED}",
             f"3. {first}: start k3s"]
    if others:
        lines.append(f"{len(lines)}. {', '.join(others)}, one at a time: move {DB_DIR} aside and start k3s, to rejoin "
                     "(a server of another cluster: its whole server/ moved aside, the snapshot's token given)")
    if agents:
        lines.append(f"{len(lines)}. {', '.join(agents)}: an agent of another cluster gets the snapshot's token and "
                     "restarts; the others reconnect")
    lines.append(f"{len(lines)}. wait until every node is Ready; onto other hosts than the snapshot's, delete the "
                 "nodes that came with it; whatever the cluster stored since the snapshot is lost")
    return lines


def token_problem(given: str | None, taken: snapshots.Taken) -> str | None:
    """Why the cluster's own token (k3s_token, _file, _env) cannot start a restored cluster: k3s
    refuses to start where config.yaml's token is not the one the snapshot was taken with."""
    if given is None or _secret(given) == _secret(taken.token):
        return None
    return ("the cluster's token (k3s_token, k3s_token_file or k3s_token_env) is not the one the snapshot was taken "
            "with, and k3s would not start on it: give the snapshot's, or none (harmony uses the snapshot's)")


def _secret(token: str) -> str:
    """A token's secret: a full token (K10<CA hash>::server:<secret>) ends with it."""
    return token.rsplit("::server:", 1)[-1]


def restore() -> None:
    """This host's part of `harmony restore`, in the order above (pyinfra runs each operation on
    every host before the next)."""
    settings = from_data(host.data, host.name, host.groups)
    shape = resolve.of_run().cluster
    reached = {h.name for h in host.state.activated_hosts}
    missing = [name for name in shape.servers if name not in reached]
    if missing:
        operations.fail(name="Restore etcd", message=f"not restored: every server must be stopped for a restore, "
                                                     f"and {', '.join(missing)} cannot be reached")
        return
    state = host_state("Restore etcd")
    if state is None:
        return
    service = Service(settings.role, state.init)
    if state.unit(service.name).load_state != "loaded":
        operations.fail(name="Restore etcd", message="k3s is not installed here: run harmony up first")
        return
    path, taken = snapshots.read(host.data.get(DATA_KEY))
    timeout = settings.start_timeout
    if settings.role == "server":
        operations.run(name="Stop k3s", command=service.control("stop"))
    if host.name == shape.first_server:
        operations.file(name="Write the snapshot's token", path=TOKEN, content=taken.token + "\n", mode="600",
                        current=None)
        reset(name="Reset etcd from the snapshot", snapshot=str(path), sha256=taken.sha256, timeout=timeout,
              servers=shape.servers)
        operations.run(name="Start k3s", command=_start(service, timeout))
        operations.fetch_kubeconfig(paths.KUBECONFIG, None)
    # pyinfra orders each host's operations, and those of several hosts only through the ones
    # they share: every host waits here until the first server is done, then until the servers are.
    operations.nothing(name="Wait for the first server", reason="the first server is restored and running")
    if settings.role == "server" and host.name != shape.first_server:
        rejoin(name="Start k3s to rejoin", first=shape.first_server, service=service, token=taken.token,
               timeout=timeout, _serial=True)
    operations.nothing(name="Wait for the servers", reason="the servers are restored and running")
    if settings.role == "agent":
        rejoin(name="Reconnect to the restored servers", first=shape.first_server, service=service,
               token=taken.token, timeout=timeout)
    if host.name == shape.first_server:
        operations.run(name="Delete the nodes of the snapshot's hosts", command=FunctionCommand(
            _forget_old_nodes, (taken.node, host.data.get("harmony_kubeconfig_server") or shape.registration_url,
                                timeout), {}))


@operations.step
def rejoin(first: str, service: Service, token: str, timeout: int):
    """Where the first server was restored, this host back in the cluster. A server of the same
    cluster (its token the snapshot's) moves its etcd database aside (k3s: "Backup and delete")
    and starts, to join as a new member; one of another cluster (a restore onto new hosts) moves
    its whole server/ aside (its CA and token are another cluster's) and takes the snapshot's
    token. An agent of another cluster takes the token and restarts; of the same, it reconnects
    by itself."""
    yield FunctionCommand(_restored, (first,), {})
    content = token + "\n"
    then = _rejoin(service.control("start")) if service.role == "server" else _retoken(service.control("restart"))
    yield from operations.sent(BytesIO(content.encode()), hashlib.sha256(content.encode()).hexdigest(), paths.TOKEN_FILE,
                               then,
                               token_file=paths.TOKEN_FILE, db=DB_DIR, server=f"{paths.DATA_DIR}/server",
                               aside=f"-harmony-{operations.RUN_ID}", timeout=int(timeout))


def _all_stopped(state, host, servers: tuple[str, ...]) -> bool:
    """Whether every server's k3s stopped: one that did not would stay a member of the old etcd."""
    running = sorted(failed.name for failed in state.failed_hosts if failed.name in servers)
    if running:
        host.log(f"harmony: not reset: k3s could not be stopped on {', '.join(running)}, which would stay a member "
                 "of the old etcd cluster; k3s is stopped here", log_func=operations.logger.error)
        return False
    return True


def _restored(state, host, first: str) -> bool:
    """Whether the first server's restore went through: else this host stays as it was."""
    if any(failed.name == first for failed in state.failed_hosts):
        host.log(f"harmony: not started: the restore on the first server {first} failed, so this host has nothing "
                 "to join; it stays as it was (a server stopped, its etcd database kept)", log_func=operations.logger.error)
        return False
    return True


# Fixed text: a token is compared by its secret, the part a full token (K10<CA hash>::server:<secret>)
# ends with; `start` is the service's own command.
_SAME_CLUSTER = 'new=$(cat "$staged"); old=$(cat "$token_file" 2>/dev/null); [ "${new##*::server:}" = "${old##*::server:}" ]'


def _rejoin(start: str) -> str:
    return f"""if {_SAME_CLUSTER}; then ! [ -d "$db" ] || mv "$db" "$db$aside"
else {{ ! [ -d "$server" ] || mv "$server" "$server$aside"; }} && install -m 0600 -o root -g root "$staged" "$token_file"
fi && timeout "$timeout" {start}"""


def _retoken(restart: str) -> str:
    return f"""if {_SAME_CLUSTER}; then :
else install -m 0600 -o root -g root "$staged" "$token_file" && timeout "$timeout" {restart}
fi"""


def _forget_old_nodes(state, host, snapshot_node: str, api_url: str, timeout: int) -> bool:
    """After a restore onto other hosts than the snapshot's, delete the Node objects that came
    with the snapshot (k3s keeps them, and their hosts are not this cluster's): every node that
    none of this run's hosts is, each waited for until it is gone (a server's Node stays until
    k3s's etcd member controller has done with it). Onto the same hosts, nothing: a node the
    inventory does not list may be the cluster's own (harmony status names it)."""
    import yaml

    from harmony import kubeconfig, readiness

    ours = set()
    for each in state.inventory:
        found = state_of(each)
        if isinstance(found, HostState):
            ours.add(from_data(each.data, each.name, each.groups).node(found.hostname))
    if snapshot_node in ours:
        return True
    content, why = operations.read_file(host, paths.KUBECONFIG)
    try:
        config = kubeconfig.for_cluster(yaml.safe_load(content), "harmony", api_url) if content else None
        old = [n.name for n in readiness.list_nodes(config)] if config else None
        for name in old or ():
            if name not in ours:
                api = readiness.core_api(config)
                api.delete_node(name)
                if not readiness.wait_deleted(api, name, timeout):
                    raise TimeoutError(f"node {name} still in the API {timeout}s after its deletion")
                host.log(f"harmony: deleted node {name}, which came with the snapshot", log_func=operations.logger.warning)
    except Exception as error:  # an API or transport error: say it, the restore itself is done
        why = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        old = None
    if old is None:
        host.log(f"harmony: cannot delete the nodes that came with the snapshot ({why}): delete those that are not "
                 "this cluster's with kubectl delete node", log_func=operations.logger.error)
        return False
    return True


@operations.step
def reset(snapshot: str, sha256: str, timeout: int, servers: tuple[str, ...]):
    """Where every server stopped, upload the snapshot (checked against `sha256` on the host)
    and reset etcd from it."""
    yield FunctionCommand(_all_stopped, (servers,), {})
    yield from operations.sent(snapshot, sha256, snapshot, _RESET, restored=RESTORED, token=TOKEN, k3s=paths.BINARY,
                               timeout=int(timeout), log=f"{DB_DIR}/harmony-restore.log")


def _start(service: Service, timeout: int) -> str:
    return shell.command("timeout", int(timeout), *service.control("start").split())

