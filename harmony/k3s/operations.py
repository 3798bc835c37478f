"""pyinfra operations for k3s's service: start, restart (a node's turn in a rolling change:
drained if asked, Ready in the API before the next), stop, and the commands linked to k3s."""

from __future__ import annotations

import logging
import posixpath
import time
from dataclasses import dataclass

import yaml
from pyinfra import host
from pyinfra.api import FunctionCommand, Host

from harmony import holds, kubeconfig, once, rollout, shell
from harmony.errors import RunFailed
from harmony.k3s import paths
from harmony.k3s.facts import UnitState
from harmony.k3s.service import Service
from harmony.operations import MISSING, quietly, read_file, step

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


@step
def restart(service: Service, timeout: int, turn: Turn, rollback: str | None = None):
    """Restart k3s's service and wait (at most `timeout` seconds) until it reports ready (under
    systemd), then until its node is Ready in the API; with `turn.drain`, drain the node first.
    Not once any host of this run has failed: callers restart one host at a time, and a failure
    stops the rollout there. With `rollback` (the config.yaml k3s ran on), a k3s that does not
    come up on its new config.yaml is started again on that one, and the host fails saying so."""
    yield FunctionCommand(_no_failure_yet, (), {})
    if turn.drain:
        yield FunctionCommand(_drain, (turn,), {})
    # Under systemd the restart itself waits for k3s, and puts the config back; under OpenRC the
    # wait for the node in the API does. Begun, it holds a stop until it is over (harmony.holds).
    yield FunctionCommand(holds.hold, (f"the restart of {service.name}", timeout), {})
    yield _with_status(service, "restart", timeout, rollback if service.notifies_ready else None)
    yield FunctionCommand(_back_and_ready, (turn, timeout, service, None if service.notifies_ready else rollback), {})


@dataclass
class Turn:
    """A node's turn in a rolling restart: where the API is, and what to do around the restart."""

    node: str
    version: str
    api_source: Host  # the host whose admin kubeconfig reaches the API (the first server)
    api_url: str
    drain: bool
    drain_timeout: int
    cordoned: bool = False  # by harmony, in this turn


def _drain(state, host, turn: Turn) -> bool:
    return _api_step(state, host, turn, "drain", lambda config: setattr(
        turn, "cordoned", rollout.cordon_and_drain(config, turn.node, turn.drain_timeout)))


def _back_and_ready(state, host, turn: Turn, timeout: int, service: Service, rollback: str | None = None) -> bool:
    """Wait until the node is Ready on its version; where it is not, say k3s's last error too.
    With `rollback` (a config.yaml k3s ran on), put that back, restart, and wait again."""

    def ready() -> bool:
        deadline = time.monotonic() + timeout
        return _api_step(state, host, turn, "wait for", lambda config: rollout.back_and_ready(
            config, turn.node, turn.version, max(deadline - time.monotonic(), 1), turn.cordoned), deadline)

    if ready():
        if rollback:
            quietly(host, shell.command("rm", "-f", rollback))
        return True
    why = quietly(host, service.last_error())[1]
    put_back = shell.chain(("test", "-f", rollback), ("mv", "-f", rollback, paths.CONFIG)) if rollback else ""
    if rollback and quietly(host, f"{put_back} && {service.control('restart')}")[0] and ready():
        host.log(f"harmony: {service.name} failed to start on the new config.yaml{f' ({why})' if why else ''};"
                 f" the previous config.yaml was put back and {service.name} runs on it again", log_func=logger.error)
    elif why:
        host.log(f"harmony: {service.name}'s last error: {why}; see {service.log_hint}", log_func=logger.error)
    return False


def _api_config(state, turn: Turn, deadline: float) -> dict:
    """The cluster's admin kubeconfig, for the API at `turn.api_url` (the first server's, read
    once a run): until `deadline`, wait for a first server just started to write it."""
    def read() -> dict:
        while True:
            content, reason = read_file(turn.api_source, paths.KUBECONFIG)
            if content is not None:
                return kubeconfig.for_cluster(yaml.safe_load(content), "harmony", turn.api_url)
            if reason != MISSING or time.monotonic() >= deadline:
                raise RunFailed(f"cannot read {paths.KUBECONFIG} on {turn.api_source.name} ({reason})")
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


def _no_failure_yet(state, host) -> bool:
    # A host that failed earlier in this same serial operation is not yet in failed_hosts. The
    # hosts a stopped rollout left alone (kept for the run) are not where it stopped.
    held = once.get(state, "held", set)
    failed = sorted(({h.name for h in state.failed_hosts}
                     | {h.name for h in state.inventory if state.get_results_for_host(h).error_ops}) - held)
    if failed:
        held.add(host.name)
        host.log(f"harmony: not restarted: the rollout stopped at {', '.join(failed)}, which failed",
                 log_func=logger.error)
    return not failed


@step
def enable_and_start(service: Service, current: UnitState, timeout: int, turn: Turn):
    """Enable k3s's service and start it, where it is not already, waiting (at most `timeout`
    seconds) until it is ready: under OpenRC, whose start does not wait, until its node is
    Ready in the API."""
    if current.enabled and current.active:
        host.noop(f"{service.name} is enabled and running")
        return
    if not current.enabled:
        yield service.enable()
    if not current.active:
        yield FunctionCommand(holds.hold, (f"the start of {service.name}", timeout), {})
        yield _with_status(service, "start", timeout)
        if not service.notifies_ready:
            yield FunctionCommand(_back_and_ready, (turn, timeout, service), {})


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


def _with_status(service: Service, action: str, timeout: int, rollback: str | None = None) -> str:
    """Start or restart the service, bounded (k3s retries a join for ever); on failure say why
    with k3s's last error line, after the service's last log lines. With `rollback`, a failed
    start puts that config.yaml back and starts the service on it."""
    put_back = (
        f' if [ -f "$rollback" ]; then mv -f "$rollback" "$config" && timeout "$timeout" {service.control("restart")}'
        f' && {{ echo "harmony: {service.name} failed to start on the new config.yaml${{why:+ ($why)}};'
        f' the previous config.yaml was put back and {service.name} runs on it again" >&2; exit 1; }}; fi;'
    ) if rollback else ""
    return shell.assign(timeout=int(timeout), rollback=rollback or "", config=paths.CONFIG) + (
        f'timeout "$timeout" {service.control(action)} || {{ code=$?; {service.logs(15)} >&2;'
        f" why=$({service.last_error()});"
        f' [ $code = 124 ] && why="not ready after ${{timeout}}s${{why:+, last error: $why}}";{put_back}'
        f' echo "harmony: {service.name} failed to start${{why:+: $why}}; see {service.log_hint}" >&2; exit 1; }}'
    ) + (' && rm -f "$rollback"' if rollback else "")
