"""Preflight: can this host run k3s as harmony installs it? Read its state (under its run lock),
check it, and fail the host with the reason before anything changes, on every host at once;
then remove the temporary files a killed run left. Never passed: it is the checks, and reads the
state the later phases decide from."""

from __future__ import annotations

from pyinfra import host

from harmony import operations, releases
from harmony.errors import BadInput
from harmony.k3s import airgap, paths, prepare
from harmony.k3s.facts import HostState
from harmony.k3s.hoststate import first_server_problem, host_state
from harmony.k3s.hostrun import K3sHostRun
from harmony.k3s.settings import Settings
from harmony.phase import Phase
from harmony.urls import insecure_urls

CHECK = "Check the host can run k3s"


def run(node: K3sHostRun) -> None:
    refused = insecure_urls(host.data, host.name)
    if refused:
        _refuse(node, "Check the download URLs", refused, _sudo=False)
        return
    state = host_state(CHECK)
    if state is None:
        node.refused = True
        return
    node.state = state
    problem = host_problem(state, node.settings) or download_problem(node) or (
        None if node.first_server else first_server_problem(node.shape.first_server))
    if problem:
        _refuse(node, CHECK, problem)
        return
    settings, installed = node.settings, state.k3s_version
    if installed and releases.VERSION_PATTERN.fullmatch(installed) and not settings.allow_downgrade \
            and releases.version_key(node.version) < releases.version_key(installed):
        _refuse(node, f"Check the version ({installed} -> {node.version})",
                f"k3s {installed} is installed: refusing to downgrade to {node.version} "
                "(k3s does not support it; pass --allow-downgrade to do it anyway)")
        return
    if state.leftovers:  # under the run's exclusive lock: no other run's
        operations.remove(name="Remove the temporary files a killed run left", targets=sorted(state.leftovers))


def _refuse(node: K3sHostRun, name: str, message: str, **arguments) -> None:
    operations.fail(name=name, message=message, **arguments)
    node.refused = True


def download_problem(node: K3sHostRun) -> str | None:
    """Why the run's release has nothing for this host to download, or None (also where that is
    not known offline)."""
    settings, machine = node.settings, node.state.arch
    if settings.airgap_dir or node.binary_url in node.resolved.sha256 or node.resolved.unknown:
        return None
    asset = releases.asset_for(machine)
    return (f"k3s {node.version} has no {asset.name} for {machine}: "
            f"{releases.download_url(settings.release_url, node.version, asset.checksum_file)} does not exist")


def host_problem(state: HostState, settings: Settings) -> str | None:
    """Why this host cannot run k3s as harmony installs it, or None."""
    if state.uid != 0:
        return (
            "not running as root: connect as root, or set _sudo=True in the host's data "
            "(--sudo-password-env VAR if sudo asks for a password)"
        )
    if state.init not in paths.INITS:
        return (
            f"no systemd or OpenRC on {state.hostname or host.name} (init: {state.init}); k3s needs an "
            "init system: use a host with one, or run k3s in Docker with k3d"
        )
    if not settings.airgap_dir and "curl" not in state.commands and "wget" not in state.commands:
        return "neither curl nor wget is installed: install one of them"
    selinux = prepare.selinux_problem(state.enforcing, state.selinux_policy,
                                      prepare.rpm_repo_path(state.os_family, state.os_version),
                                      bool(settings.airgap_dir))
    if selinux:
        return selinux
    try:
        if settings.airgap_dir:
            airgap.items(settings.airgap_dir, state.arch)
        else:
            releases.asset_for(state.arch)
    except BadInput as error:
        return str(error)
    return None


PHASE = Phase("preflight", run)
