"""The k3s deploys: pyinfra @deploy functions, run once per host by pyinfra.

`up` converges a host on its spec, `down` removes every trace of k3s, `kubeconfig` only fetches a
server's kubeconfig to the controller. Each is a list of operations decided from one fact
(`K3sHost`), so a host that is already as wanted costs one round trip and changes nothing.
"""

from __future__ import annotations

import posixpath

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations.util import any_changed

from harmony import localstate, operations, releases
from harmony.errors import BadInput
from harmony.facts import HostState, K3sHost, SudoAccess
from harmony.k3s import paths, render
from harmony.k3s.settings import from_data


def root_access_problem() -> str | None:
    """Why this run cannot become root on the host, or None: asked before anything uses sudo."""
    if not host.data.get("_sudo"):
        return None
    access = host.get_fact(SudoAccess, _sudo=False)
    if access in ("root", "nopasswd") or (access == "password" and host.data.get("_sudo_password")):
        return None
    if access == "password":
        return (
            "sudo asks for a password (or this user may not use sudo): give the password "
            "with --sudo-password-env VAR (or _sudo_password in the data), or connect as root"
        )
    return "sudo is not installed: connect as root, or install sudo"


def host_state(check_name: str) -> HostState | None:
    """The host's state, or None after adding an operation that fails the host with the reason."""
    problem = root_access_problem()
    if problem:
        operations.fail(name=check_name, message=problem, _sudo=False)
        return None
    return host.get_fact(K3sHost)


def preflight(state: HostState) -> str | None:
    """Why this host cannot run k3s as harmony installs it, or None."""
    if state.uid != 0:
        return (
            "not running as root: connect as root, or set _sudo=True in the host's data "
            "(--sudo-password-env VAR if sudo asks for a password)"
        )
    if state.init != "systemd":
        return (
            f"no systemd on {state.hostname or host.name} (init: {state.init}); k3s needs an "
            "init system: use a systemd host, or run k3s in Docker with k3d"
        )
    if "curl" not in state.commands and "wget" not in state.commands:
        return "neither curl nor wget is installed: install one of them"
    try:
        releases.asset_for(state.arch)
    except BadInput as error:
        return str(error)
    return None


def fetch_kubeconfig(state: HostState) -> None:
    local = localstate.fetched_kubeconfig(host.name)
    localstate.ensure_private_dir(local.parent)
    operations.fetch(
        name="Fetch the kubeconfig to the controller",
        path=paths.KUBECONFIG,
        local_path=str(local),
        current=state.files.get(paths.KUBECONFIG),
    )


@deploy("k3s up")
def up() -> None:
    settings = from_data(host.data, host.name)
    state = host_state("Check the host can run k3s")
    if state is None:
        return
    problem = preflight(state)
    if problem:
        operations.fail(name="Check the host can run k3s", message=problem)
        return

    version = settings.version or releases.resolve_channel(settings.channel_url, settings.channel)
    asset = releases.asset_for(state.arch)
    role, unit = settings.role, paths.unit_name(settings.role)

    binary = operations.binary(
        name=f"Install k3s {version}",
        url=releases.download_url(settings.release_url, version, asset.name),
        sha256=releases.expected_sha256(settings.release_url, version, asset),
        dest=paths.BINARY,
        current=state.files.get(paths.BINARY),
    )

    def write(path: str, content: str, mode: str, name: str | None = None):
        return operations.file(name=name or f"Write {posixpath.basename(path)}", path=path,
                               content=content, mode=mode, current=state.files.get(path))

    config = write(paths.CONFIG, render.config_yaml(settings, state.hostname), "600")
    env = write(paths.env_file(role), render.env_file(settings), "600", "Write the service environment")
    unit_file = write(paths.unit_file(role), render.unit(role), "644")
    write(paths.KILLALL_SCRIPT, render.KILLALL, "755")
    write(paths.uninstall_script(role), render.uninstall_script(role), "755")
    operations.link_commands(
        name="Link kubectl, crictl and ctr to k3s",
        names=paths.LINKED_COMMANDS,
        target=paths.BINARY,
        commands=state.commands,
    )
    operations.daemon_reload(name="Reload systemd", _if=unit_file.did_change)
    if state.unit(unit).active:
        operations.restart(
            name=f"Restart {unit} for its changed files",
            unit=unit,
            _if=any_changed(binary, config, env, unit_file),
        )
    operations.enable_and_start(name=f"Enable and start {unit}", unit=unit, current=state.unit(unit))
    if role == "server":
        fetch_kubeconfig(state)


@deploy("k3s kubeconfig")
def kubeconfig() -> None:
    from_data(host.data, host.name)
    state = host_state("Find the kubeconfig")
    if state is None:
        return
    if paths.KUBECONFIG not in state.files:
        operations.fail(name="Find the kubeconfig", message=f"{paths.KUBECONFIG} not found: is k3s up?")
        return
    fetch_kubeconfig(state)


@deploy("k3s down")
def down() -> None:
    state = host_state("Check access")
    if state is None:
        return
    for role in paths.ROLES:
        unit = paths.unit_name(role)
        operations.stop_and_disable(name=f"Stop and disable {unit}", unit=unit, current=state.unit(unit))
    if paths.KILLALL_SCRIPT in state.files:
        operations.run_script(name="Stop what k3s started", path=paths.KILLALL_SCRIPT)
    links = [
        f"{paths.BIN_DIR}/{name}" for name, target in state.commands.items()
        if name in paths.LINKED_COMMANDS and target == paths.BINARY
    ]
    operations.remove(
        name="Remove k3s files",
        targets=sorted(state.files) + links + sorted(state.dirs),
    )
    unit_files = [paths.unit_file(role) for role in paths.ROLES]
    if any(path in state.files for path in unit_files):
        operations.daemon_reload(name="Reload systemd")
