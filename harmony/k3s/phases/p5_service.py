"""The service: k3s's unit (systemd) or init script (OpenRC), staged for the node's turn; its log
rotation (OpenRC), the killall and uninstall scripts, and kubectl, crictl and ctr linked to k3s.
Passed where each file is as rendered, the unit staged for no turn, and the commands on PATH."""

from __future__ import annotations

import posixpath

from harmony.k3s import operations as k3s_operations
from harmony.k3s import paths, render
from harmony.facts import text_sha256
from harmony.k3s.hostrun import K3sHostRun
from harmony.phase import Phase


def should_run(node: K3sHostRun) -> bool:
    service = node.service
    return (not node.settled(service.file, text_sha256(unit(node)), service.file_mode)
            or any(not node.settled(path, text_sha256(content), mode, staged=False)
                   for path, content, mode, _ in scripts(node))
            or any(name not in node.state.commands for name in paths.LINKED_COMMANDS))


def run(node: K3sHostRun) -> None:
    service = node.service
    node.stage_file(service.file, unit(node), service.file_mode, f"Write {service.file}")
    for path, content, mode, name in scripts(node):
        node.write(path, content, mode, name)
    k3s_operations.link_commands(
        name="Link kubectl, crictl and ctr to k3s",
        names=paths.LINKED_COMMANDS,
        target=paths.BINARY,
        commands=node.state.commands,
    )


def unit(node: K3sHostRun) -> str:
    """The unit file, or OpenRC's init script, as rendered for this host."""
    return render.service_file(node.service, node.firewall_hook)


def scripts(node: K3sHostRun) -> list[tuple[str, str, str, str]]:
    """The files beside the service that k3s does not run on, as (path, content, mode, the step's
    name), in order: OpenRC's log rotation, the killall and uninstall scripts."""
    service, role = node.service, node.settings.role
    rotation = [(paths.logrotate_file(role), render.logrotate(role), "644", "Rotate k3s's log")]
    return (rotation if service.openrc else []) + [
        (path, content, "755", f"Write {posixpath.basename(path)}")
        for path, content in ((paths.KILLALL_SCRIPT, render.KILLALL),
                              (paths.uninstall_script(role), render.uninstall_script(service)))]


PHASE = Phase("service", run, should_run)
