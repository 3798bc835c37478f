"""pyinfra operations for k3s's service: start, restart (a node's turn in a rolling change:
drained if asked, Ready in the API before the next), stop, and the commands linked to k3s."""

from __future__ import annotations

import logging
import posixpath
import time
from dataclasses import dataclass, replace

import yaml
from pyinfra import host
from pyinfra.api import FunctionCommand, Host

from harmony import holds, kubeconfig, nodeturn, once, readiness, report, runcontext, shell
from harmony.errors import RunFailed
from harmony.k3s import paths, quorum, resolve
from harmony.k3s.facts import HostState, UnitState
from harmony.k3s.hoststate import state_of
from harmony.k3s.service import Service
from harmony.images.shipping import Shipped
from harmony.operations import MISSING, quietly, read_file, sent, step, would_fail

logger = logging.getLogger("pyinfra")


@step
def link_commands(names: tuple[str, ...], target: str, commands: dict[str, str]):
    """Link each of `names` to `target` in its directory, unless the command exists already.

    As the install script does: an existing kubectl (say) is the user's and is left alone.
    """
    directory = posixpath.dirname(target)
    missing = [name for name in names if name not in commands]
    if not missing:
        host.noop(f"{', '.join(names)} already on PATH")
        return
    for name in missing:
        yield shell.command("ln", "-sf", target, f"{directory}/{name}")


# Imported into the namespace the kubelet reads images from; containerd takes a docker-archive
# whole, so one that travelled compressed is unpacked first.
IMPORT = ('archive="$staged"; if [ "$compressed" = yes ]; then gzip -dc "$staged" > "$staged.tar" && '
          'archive="$staged.tar"; fi && "$k3s" ctr -n k8s.io images import "$archive"; '
          'rc=$?; rm -f "$staged.tar"; [ "$rc" = 0 ]')


@step
def import_image(image: Shipped):
    """Send a built image and import it into k3s's containerd, as `k3s ctr images import` does
    while k3s runs: no restart, and the pods that run it start from it (IfNotPresent)."""
    yield from sent(image.archive, image.sha256, image.reference, IMPORT, k3s=paths.BINARY,
                    compressed="yes" if image.compressed else "no")


@step
def restart(service: Service, timeout: int, turn: Turn, swap: Swap | None, before: str = ""):
    """Put the node's staged files in place (`swap`), or run `before` (a command that leaves
    k3s stopped or running: `harmony certs rotate`'s), restart k3s's service and wait (at most
    `timeout` seconds) until it reports ready (under systemd), then until its node is Ready in
    the API; with `turn.drain`, drain the node first. Not once any host of this run has failed:
    callers restart one host at a time, and a failure stops the rollout there, leaving the later
    nodes on their old files. A k3s that does not come up on its new files is started again on
    the ones it ran on, put back, and the host fails saying so: the node is as it was."""
    _foresee(turn)
    yield FunctionCommand(_no_failure_yet, (turn,), {})
    if turn.etcd:
        yield FunctionCommand(_keeps_quorum, (turn,), {})
    if turn.drain:
        yield FunctionCommand(_drain, (turn,), {})
    # From putting the files in place, it holds a stop until it is over (harmony.holds): a node
    # is then on its new files and running them, or (put back) on its old ones. Under systemd the
    # restart itself waits for k3s, and puts the files back; under OpenRC the wait for the node
    # in the API does.
    yield FunctionCommand(holds.hold, (f"the restart of {service.name}", timeout), {})
    if swap:
        yield swap.place
    if before:
        yield before
    yield _with_status(service, "restart", timeout, swap if service.notifies_ready else None)
    yield FunctionCommand(_back_and_ready, (turn, timeout, service, None if service.notifies_ready else swap), {})


@dataclass(frozen=True)
class Swap:
    """The commands that swap a node's staged files in for those k3s runs on, in its turn
    (harmony.k3s.phases.p6_start.swap), and back where k3s fails on them."""

    place: str  # put the staged files in place, keeping what k3s ran on beside them
    put_back: str  # put back what k3s ran on
    forget: str  # remove what was kept, once k3s runs on the new files
    files: str  # their names, for messages


@dataclass
class Turn:
    """A node's turn in a rolling restart: where the API is, and what to do around the restart."""

    node: str
    version: str
    api_source: Host  # the host whose admin kubeconfig reaches the API (the first server)
    api_url: str
    drain: bool
    drain_timeout: int
    etcd: bool = False  # a server of embedded etcd: its restart must keep etcd's quorum
    cordoned: bool = False  # by harmony, in this turn


def _drain(state, host, turn: Turn) -> bool:
    return _api_step(state, host, turn, "drain", lambda config: setattr(
        turn, "cordoned", nodeturn.cordon_and_drain(config, turn.node, turn.drain_timeout)))


def _keeps_quorum(state, host, turn: Turn) -> bool:
    """Whether this server may restart for etcd's quorum, as the API tells each member's health
    (else it fails, saying why, and the rollout goes on without its restart)."""
    why = []

    def ask(config: dict) -> None:
        members = {n.name: readiness.etcd_problem(n) for n in readiness.list_nodes(config, 10) if "etcd" in n.roles}
        why.append(quorum.etcd_refusal(turn.node, members))

    if not _api_step(state, host, turn, "check etcd's quorum before restarting", ask):
        return False
    if why[0]:
        runcontext.of(state).turns_refused.add(host.name)
        host.log(f"harmony: {why[0]}", log_func=logger.error)
    return not why[0]


def _back_and_ready(state, host, turn: Turn, timeout: int, service: Service, swap: Swap | None = None) -> bool:
    """Wait until the node is Ready on its version; where it is not, say k3s's last error too.
    With `swap`, put back the files k3s ran on, restart, and wait again."""

    def ready() -> bool:
        deadline = time.monotonic() + timeout
        return _api_step(state, host, turn, "wait for", lambda config: nodeturn.back_and_ready(
            config, turn.node, turn.version, max(deadline - time.monotonic(), 1), turn.cordoned, turn.etcd),
            deadline)

    if ready():
        if swap:
            quietly(host, swap.forget)
        return True
    why = quietly(host, service.last_error())[1]
    if swap and quietly(host, f"{swap.put_back} && {service.control('restart')}")[0] and ready():
        host.log(f"harmony: {service.name} failed to start on its new {swap.files}{f' ({why})' if why else ''};"
                 f" its previous files were put back and {service.name} runs on them again", log_func=logger.error)
    elif why:
        host.log(f"harmony: {service.name}'s last error: {why}; see {service.log_hint}", log_func=logger.error)
    return False


def _api_config(state, turn: Turn, deadline: float) -> dict:
    """The cluster's admin kubeconfig, for the API at `turn.api_url` (the first server's, or the
    first reachable one's where it is out of the run; read once a run): until `deadline`, wait
    for a first server just started to write it."""
    def read() -> dict:
        source = state.inventory.get_host(_rollout(state).api_server() or turn.api_source.name)
        while True:
            content, reason = read_file(source, paths.KUBECONFIG)
            if content is not None:
                return kubeconfig.for_cluster(yaml.safe_load(content), "harmony", turn.api_url)
            if reason != MISSING or time.monotonic() >= deadline:
                raise RunFailed(f"cannot read {paths.KUBECONFIG} on {source.name} ({reason})")
            time.sleep(1)

    return once.get(state, ("kubeconfig", turn.api_url), read)


def _api_step(state, host, turn: Turn, what: str, step, deadline: float = 0) -> bool:
    """Run a step against the cluster's API; on any failure, fail the host saying why."""
    try:
        step(_api_config(state, turn, deadline))
    except Exception as error:  # an API or transport error, or harmony's RunFailed
        text = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        host.log(f"harmony: cannot {what} node {turn.node} through the API at {turn.api_url}: {text}",
                 log_func=logger.error)
        return False
    return True


def _no_failure_yet(state, host, turn: Turn) -> bool:
    """Whether this host's turn may come (else it fails, saying why): not once a host failed in
    the rollout, nor where hosts left out of the run (unreachable, refused at preflight) make a
    restart unsafe (`harmony.k3s.quorum`)."""
    why = quorum.refusal(_rollout(state), host.name, _upgrade(host, turn.version))
    if why:
        runcontext.of(state).turns_refused.add(host.name)
        host.log(f"harmony: {why}", log_func=logger.error)
    return not why


def _foresee(turn: Turn) -> None:
    """A plan's word for a restart that the hosts out of the run will keep from its turn (`up`
    decides when the turn comes, also on the failures a plan cannot know)."""
    if host.state.is_executing or not host.state.check_for_changes:
        return
    state = host.state
    rollout = _rollout(state, before=True)
    if quorum.servers_held(rollout):  # each server whose restart would upgrade it is refused
        rollout = replace(rollout, not_restarted=frozenset(
            s for s in rollout.servers
            if s not in rollout.out and _upgrade(state.inventory.get_host(s), turn.version)))
    why = quorum.refusal(rollout, host.name, _upgrade(host, turn.version))
    if why:
        would_fail(why)


def _rollout(state, before: bool = False) -> quorum.Rollout:
    """The rollout as it stands: the hosts left out of the run (never connected, or failed at
    preflight, before any change), those that failed in it, those whose restart was refused.
    A host that failed earlier in this same serial operation is not yet in failed_hosts. `before`
    the run: the hosts out as far as they are known then (not connected, state not read)."""
    resolved = resolve.of_run()
    shape, version = resolved.cluster, resolved.version
    held = runcontext.of(state).turns_refused
    # Before the run, only the servers' states are read for it: the rules look at no agent's.
    hosts = [h for h in state.inventory if not before or h.name in shape.servers or h not in state.activated_hosts]
    out = {name: why for name, why in ((h.name, _out(state, h, before)) for h in hosts) if why}
    failed = ({h.name for h in state.failed_hosts}
              | {h.name for h in state.inventory if state.get_results_for_host(h).error_ops})
    states = {name: state_of(state.inventory.get_host(name)) for name in shape.servers if name in out}
    running = {name for name, found in states.items()
               if isinstance(found, HostState) and found.unit(paths.unit_name("server")).active}
    return quorum.Rollout(
        servers=shape.servers, out=out, lost=frozenset(set(states) - running),
        current=frozenset(n for n in running if states[n].k3s_version == version),
        stopped_at=tuple(sorted(failed - held - set(out))), not_restarted=frozenset(held))


def _out(state, target: Host, before: bool = False) -> str:
    """Why `target` is out of this run ("" where it is in): harmony could not connect to it, or
    it failed its preflight, before anything on it changed (`before` the run: its state could
    not be read)."""
    if target not in state.activated_hosts:
        why = runcontext.of(state).unreachable.get(target.name)
        return f"unreachable{f': {why}' if why else ''}"
    if before:
        found = state_of(target)
        return "" if isinstance(found, HostState) else f"failed its preflight ({found})"
    for op_hash, op in state.ops.get(target, {}).items():
        meta = op.operation_meta
        if meta.is_complete() and not meta.did_succeed():
            names = state.op_meta[op_hash].names
            return "failed its preflight" if any(report.phase_of(n) == "preflight" for n in names) else ""
    return ""


def _upgrade(target: Host, version: str) -> bool:
    """Whether k3s's restart on `target` changes the version it runs (as the run found it)."""
    found = state_of(target)
    return not isinstance(found, HostState) or found.k3s_version != version


@step
def enable_and_start(service: Service, current: UnitState, timeout: int, turn: Turn, swap: Swap | None,
                     in_rollout: bool):
    """Put the node's staged files in place (`swap`), enable k3s's service and start it, where
    it is not already, waiting (at most `timeout` seconds) until it is ready: under OpenRC, whose
    start does not wait, until its node is Ready in the API. A node that ran k3s before
    (`in_rollout`: a stopped one, upgraded) starts on new files only while the rollout goes on,
    as `restart` does; a new node joins whatever the others do."""
    if current.enabled and current.active:
        host.noop(f"{service.name} is enabled and running")
        return
    if in_rollout and swap:
        yield FunctionCommand(_no_failure_yet, (turn,), {})
    if not current.active:
        yield FunctionCommand(holds.hold, (f"the start of {service.name}", timeout), {})
    if swap:
        yield swap.place
    if not current.enabled:
        yield service.enable()
    if not current.active:
        yield _with_status(service, "start", timeout)
        if not service.notifies_ready:
            yield FunctionCommand(_back_and_ready, (turn, timeout, service), {})
    if swap:
        yield swap.forget


@step
def stop_and_disable(service: Service, current: UnitState):
    """Stop and disable k3s's service, where it is installed."""
    if current.load_state != "loaded":
        host.noop(f"{service.name} is not installed")
        return
    if current.active:
        yield service.control("stop")
    if current.enabled:
        yield service.disable()


def _with_status(service: Service, action: str, timeout: int, swap: Swap | None = None) -> str:
    """Start or restart the service, bounded (k3s retries a join for ever); on failure say why
    with k3s's last error line, after the service's last log lines. With `swap`, a failed start
    puts back the files k3s ran on and starts the service on them; a good one forgets them."""
    put_back = (
        f" {swap.put_back} && timeout \"$timeout\" {service.control('restart')}"
        f' && {{ echo "harmony: {service.name} failed to start on its new $files${{why:+ ($why)}};'
        f' its previous files were put back and {service.name} runs on them again" >&2; exit 1; }};'
    ) if swap else ""
    return shell.assign(timeout=int(timeout), files=swap.files if swap else "") + (
        f'timeout "$timeout" {service.control(action)} || {{ code=$?; {service.logs(15)} >&2;'
        f" why=$({service.last_error()});"
        f' [ $code = 124 ] && why="not ready after ${{timeout}}s${{why:+, last error: $why}}";{put_back}'
        f' echo "harmony: {service.name} failed to start${{why:+: $why}}; see {service.log_hint}" >&2; exit 1; }}'
    ) + (f" && {swap.forget}" if swap else "")
