"""The service: k3s's unit (systemd) or init script (OpenRC), staged for the node's turn; its log
rotation (OpenRC), the killall and uninstall scripts, and kubectl, crictl and ctr linked to k3s."""

from __future__ import annotations

import posixpath

from pyinfra.api import deploy

from harmony.k3s import operations as k3s_operations
from harmony.k3s import paths, render
from harmony.k3s.hostrun import K3sHostRun


@deploy("service")
def run(node: K3sHostRun) -> None:
    service, role = node.service, node.settings.role
    node.stage_file(service.file, render.service_file(service, node.firewall_hook), service.file_mode,
               f"Write {service.file}")
    if service.openrc:
        node.write(paths.logrotate_file(role), render.logrotate(role), "644", "Rotate k3s's log")
    for path, content in ((paths.KILLALL_SCRIPT, render.KILLALL),
                          (paths.uninstall_script(role), render.uninstall_script(service))):
        node.write(path, content, "755", f"Write {posixpath.basename(path)}")
    k3s_operations.link_commands(
        name="Link kubectl, crictl and ctr to k3s",
        names=paths.LINKED_COMMANDS,
        target=paths.BINARY,
        commands=node.state.commands,
    )
