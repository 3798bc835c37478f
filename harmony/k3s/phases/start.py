"""Start or restart: the rolling turn. k3s is started where it is not running, and restarted
where a file it runs on changed (or changed after it started: a run stopped before its restart),
one host at a time, each back and Ready (drained first, if asked) before the next one's turn."""

from __future__ import annotations

import logging

from pyinfra import host, inventory
from pyinfra.api import deploy

from harmony.k3s import cluster, operations, paths
from harmony.k3s.facts import HostState
from harmony.k3s.node import Node

logger = logging.getLogger("pyinfra")


@deploy("start")
def run(node: Node) -> None:
    settings, state, service = node.settings, node.state, node.service
    unit, this_turn = state.unit(service.name), turn(node)
    changed = any(op.will_change for op in node.restarts if op)
    pending = unit.active and not changed and restart_pending(state, service.name, [
        paths.BINARY, paths.CONFIG, paths.REGISTRIES, service.env_file, service.file, paths.TOKEN_FILE,
        *paths.IMAGE_PATHS])
    if pending:
        host.log(f"harmony: {service.name} runs on files older than those in place (an earlier run stopped "
                 "before its restart): restarting it", log_func=logger.warning)
    if unit.active and (changed or pending):
        operations.restart(name=f"Restart {service.name} for its changed files", service=service,
                           timeout=settings.start_timeout, turn=this_turn,
                           rollback=paths.PREVIOUS_CONFIG if node.kept and node.config.will_change else None,
                           _serial=True)
    # Joining servers start one at a time too: embedded etcd adds one member at a time.
    operations.enable_and_start(name=f"Enable and start {service.name}", service=service, current=unit,
                                timeout=settings.start_timeout, turn=this_turn,
                                _serial=node.stage == cluster.SERVER)


def turn(node: Node) -> operations.Turn:
    """This node's turn in a rolling restart: drained first if asked, Ready on the version in the
    API (at the address the controller uses) before the next node's turn."""
    settings = node.settings
    return operations.Turn(
        node=settings.node(node.state.hostname),
        version=node.version,
        api_source=inventory.get_host(node.shape.first_server),
        api_url=host.data.get("harmony_kubeconfig_server") or node.shape.registration_url,
        drain=settings.drain,
        drain_timeout=settings.drain_timeout,
    )


def restart_pending(state: HostState, unit: str, files: list[str]) -> bool:
    """Whether any of `files` changed after the running unit started."""
    started = state.unit(unit).started
    return bool(started) and any(state.files[p].mtime > started for p in files if p in state.files)
