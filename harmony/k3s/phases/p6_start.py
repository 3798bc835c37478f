"""Start or restart: the rolling turn. The files k3s runs on, staged by the phases before, are put
in place here and nowhere else, together with the restart, so that a node whose turn never came
(the rollout stopped at another) runs, and would restart, on its old files. k3s is started where
it is not running, and restarted where a file it runs on changed (or changed after it started: a
run stopped before its restart), one host at a time, each back and Ready (drained first, if
asked) before the next one's turn. Passed where k3s is enabled and running, on the files in place,
and the phases before staged nothing for its turn."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable

from pyinfra import host, inventory

from harmony import runcontext, shell
from harmony.k3s import cluster, operations, paths
from harmony.k3s.facts import HostState
from harmony.k3s.hostrun import K3sHostRun
from harmony.phase import Phase

logger = logging.getLogger("pyinfra")


def should_run(node: K3sHostRun) -> bool:
    unit = node.state.unit(node.service.name)
    return bool(node.placed or node.removed) or not (unit.active and unit.enabled) or restart_pending(
        node.state, node.service.name, paths.RUN_FILES)


def run(node: K3sHostRun) -> None:
    settings, state, service = node.settings, node.state, node.service
    unit, this_turn = state.unit(service.name), turn(node)
    runcontext.of(host.state).nodes[host.name] = this_turn.node  # the node harmony's up installed
    changed = bool(node.placed or node.removed)
    pending = unit.active and not changed and restart_pending(state, service.name, paths.RUN_FILES)
    if pending:
        host.log(f"harmony: {service.name} runs on files older than those in place (an earlier run stopped "
                 "before its restart): restarting it", log_func=logger.warning)
    in_place = swap(node)
    if unit.active and (changed or pending):
        operations.restart(name=f"Restart {service.name} for its changed files", service=service,
                           timeout=settings.start_timeout, turn=this_turn, swap=in_place, _serial=True)
    # Joining servers start one at a time too: embedded etcd adds one member at a time. A node
    # that ran k3s before is an upgrade's: it starts, on its new files, only in the rollout's turn.
    operations.enable_and_start(name=f"Enable and start {service.name}", service=service, current=unit,
                                timeout=settings.start_timeout, turn=this_turn,
                                swap=None if unit.active else in_place, in_rollout=paths.BINARY in state.files,
                                _serial=node.stage == cluster.SERVER)


def swap(node: K3sHostRun) -> operations.Swap | None:
    """How the node's staged files take the place of those k3s runs on, in its turn: each by a
    rename, those it no longer runs with taken away, what it ran on kept beside (a hard link,
    `paths.previous`) until it is back on the new ones. Each file is touched first, so that a run
    stopped between this and the restart leaves files newer than the running k3s, which the next
    run restarts it for (`restart_pending`). systemd reloads a changed unit."""
    changed = node.placed + node.removed
    if not changed:
        return None
    service = node.service
    reload = [service.reload] if service.reload and service.file in node.placed else []

    def either(path: str, then: str, otherwise: str) -> str:
        return f"if {shell.command('test', '-e', path)}; then {then}; else {otherwise}; fi"

    keep = [either(path, shell.command("ln", "-f", path, paths.previous(path)),
                   shell.command("rm", "-f", paths.previous(path))) for path in changed]
    place = [shell.chain(("touch", paths.staged(path)), ("mv", "-f", paths.staged(path), path)) for path in node.placed]
    take_away = [shell.command("rm", "-f", *node.removed)] if node.removed else []
    put_back = [either(paths.previous(path), shell.command("mv", "-f", paths.previous(path), path),
                       shell.command("rm", "-f", path)) for path in changed]
    return operations.Swap(
        place=" && ".join(keep + place + take_away + reload),
        put_back=" && ".join(put_back + reload),
        forget=shell.command("rm", "-f", *(paths.previous(path) for path in changed)),
        files=", ".join(posixpath.basename(path) for path in changed),
    )


def turn(node: K3sHostRun) -> operations.Turn:
    """This node's turn in a rolling restart: drained first if asked, Ready on the version in the
    API (at the address the controller uses) before the next node's turn; a server of embedded
    etcd (HA) restarts only where etcd keeps its quorum, and is a healthy voter again after."""
    settings = node.settings
    return operations.Turn(
        node=settings.node(node.state.hostname),
        version=node.version,
        api_source=inventory.get_host(node.shape.first_server),
        api_url=host.data.get("harmony_kubeconfig_server") or node.shape.registration_url,
        drain=settings.drain,
        drain_timeout=settings.drain_timeout,
        etcd=settings.role == "server" and node.shape.ha,
    )


def restart_pending(state: HostState, unit: str, files: Iterable[str]) -> bool:
    """Whether any of `files` changed after the running unit started."""
    started = state.unit(unit).started
    return bool(started) and any(state.files[p].mtime > started for p in files if p in state.files)


PHASE = Phase("start", run, should_run)
