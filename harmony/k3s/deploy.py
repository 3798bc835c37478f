"""The k3s deploys: pyinfra @deploy functions, run once per host by pyinfra.

`up` converges a host on its spec, `down` removes every trace of k3s, `kubeconfig` only fetches a
server's kubeconfig to the controller. Each is a list of operations decided from one fact
(`K3sHost`), so a host that is already as wanted costs one round trip and changes nothing.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from weakref import WeakKeyDictionary

from pyinfra import host, inventory
from pyinfra.api import Host, State, deploy

from harmony import airgap, localstate, operations, releases, runlock
from harmony.errors import BadInput
from harmony.facts import HostState, K3sHost, SudoAccess
from harmony.k3s import cluster, firewall, paths, prepare, render
from harmony.k3s.cluster import Cluster
from harmony.k3s.service import Service
from harmony.k3s.settings import DOWNLOAD_URLS, Settings, check_https, from_data

logger = logging.getLogger("pyinfra")


def root_access_problem(target: Host) -> str | None:
    """Why this run cannot become root on `target`, or None: asked before anything uses sudo."""
    if not target.data.get("_sudo"):
        return None
    access = target.get_fact(SudoAccess, _sudo=False)
    if access in ("root", "nopasswd") or (access == "password" and target.data.get("_sudo_password")):
        return None
    if access == "password":
        return (
            "sudo asks for a password (or this user may not use sudo): give the password "
            "with --sudo-password-env VAR (or _sudo_password in the data), or connect as root"
        )
    return "sudo is not installed: connect as root, or install sudo"


# Each host's state, gathered once per run (per pyinfra State): a joining host also needs the
# first server's. Keyed by name, as `host` is pyinfra's proxy for whichever host is current.
_states: WeakKeyDictionary[State, dict[str, HostState | str]] = WeakKeyDictionary()


# One lock a host: pyinfra prepares the hosts concurrently (greenlets), and every agent asks for
# the first server's state at once; sshd would refuse more than MaxSessions (10) of those at a
# time on the one connection, so the first to ask reads it and the others wait.
_state_locks: WeakKeyDictionary[State, dict[str, threading.Lock]] = WeakKeyDictionary()


def state_of(target: Host) -> HostState | str:
    """The host's `K3sHost` state, read under the host's run lock, or why it cannot be had."""
    known = _states.setdefault(target.state, {})
    with _state_locks.setdefault(target.state, {}).setdefault(target.name, threading.Lock()):
        if target.name not in known:
            if not target.connected or target.name in {h.name for h in target.state.failed_hosts}:
                known[target.name] = f"{target.name} is unreachable"
            else:
                known[target.name] = root_access_problem(target) or target.get_fact(K3sHost, **runlock.take(target))
    return known[target.name]


def host_state(check_name: str) -> HostState | None:
    """This host's state, or None after adding an operation that fails the host with the reason
    (it cannot be read, or another run holds the host's lock)."""
    state = state_of(host)
    if isinstance(state, HostState):
        state = state.lock.problem(host) or state
    if isinstance(state, str):
        operations.fail(name=check_name, message=state, _sudo=False)
        return None
    return state


def preflight(state: HostState, settings: Settings) -> str | None:
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


def fetch_kubeconfig(state: HostState) -> None:
    local = localstate.fetched_kubeconfig(host.data.get("harmony_cluster") or "harmony", host.name, host.data)
    localstate.ensure_private_dir(local.parent)
    operations.fetch(
        name="Fetch the kubeconfig to the controller",
        path=paths.KUBECONFIG,
        local_path=str(local),
        current=state.files.get(paths.KUBECONFIG),
    )


_clusters: WeakKeyDictionary[State, Cluster] = WeakKeyDictionary()


def inventory_cluster() -> Cluster:
    """The cluster this run's inventory makes (checked on the controller before the run)."""
    if host.state not in _clusters:
        _clusters[host.state] = cluster.plan([(h.name, from_data(h.data, h.name, h.groups)) for h in inventory])
    return _clusters[host.state]


def insecure_urls() -> str | None:
    """Why this host's download URLs are refused (plain http, not allowed), or None."""
    try:
        check_https(host.data, host.name, DOWNLOAD_URLS)
    except BadInput as error:
        return str(error)
    return None


@deploy("k3s up")
def up() -> None:
    settings = from_data(host.data, host.name, host.groups)
    refused = insecure_urls()
    if refused:
        operations.fail(name="Check the download URLs", message=refused, _sudo=False)
        return
    shape = inventory_cluster()
    state = host_state("Check the host can run k3s")
    if state is None:
        return
    problem = preflight(state, settings)
    if problem:
        operations.fail(name="Check the host can run k3s", message=problem)
        return
    # Order by construction: the first server converges first, and its start returns only once
    # it is ready (systemd: the unit is Type=notify; OpenRC: its node is Ready); then the other
    # servers join, one at a time, as embedded etcd needs; then the agents, all at once.
    # Barriers keep pyinfra from interleaving.
    stage, joins = shape.stage(host.name), len(shape.servers) + len(shape.agents) > 1
    if stage == cluster.FIRST_SERVER:
        converge(settings, shape, state)
    if joins:
        operations.nothing(name="Wait for the first server", reason="the first server is done")
    if stage == cluster.SERVER:
        converge(settings, shape, state, one_at_a_time=True)
    if joins:
        operations.nothing(name="Wait for the servers", reason="the servers are done")
    if stage == cluster.AGENT:
        converge(settings, shape, state)


def converge(settings: Settings, shape: Cluster, state: HostState, one_at_a_time: bool = False) -> None:
    """The operations that bring this host to its spec, restarting k3s only for a change, one
    host at a time; `one_at_a_time` also starts new hosts so (joining etcd members)."""
    version = settings.version or releases.resolve_channel(settings.channel_url, settings.channel)
    installed = state.k3s_version
    if installed and releases.VERSION_PATTERN.fullmatch(installed) and not settings.allow_downgrade \
            and releases.version_key(version) < releases.version_key(installed):
        operations.fail(name=f"Check the version ({installed} -> {version})",
                        message=f"k3s {installed} is installed: refusing to downgrade to {version} "
                                "(k3s does not support it; pass --allow-downgrade to do it anyway)")
        return
    asset = releases.asset_for(state.arch)
    role, service = settings.role, Service(settings.role, state.init)
    unit = service.name
    remove_other_role(role, state)

    install = f"Install k3s {version}" + (f" (from {installed})" if installed and installed != version else "")
    images = None
    if settings.airgap_dir:
        binary_item, *image_items = airgap.items(settings.airgap_dir, state.arch)
        binary = operations.upload(name=install + " from the airgap bundle", local_path=str(binary_item.path),
                                   sha256=binary_item.sha256, dest=paths.BINARY, mode="755",
                                   current=state.files.get(paths.BINARY))
        for item in image_items:
            images = operations.upload(name="Upload the airgap images", local_path=str(item.path),
                                       sha256=item.sha256, dest=item.dest, mode="644",
                                       current=state.files.get(item.dest))
    else:
        binary = operations.binary(
            name=install,
            url=releases.download_url(settings.release_url, version, asset.name),
            sha256=releases.expected_sha256(settings.release_url, version, asset, allow_http=settings.allow_http),
            dest=paths.BINARY,
            current=state.files.get(paths.BINARY),
            stall_timeout=settings.download_stall_timeout,
            allow_http=settings.allow_http,
            watch=runlock.run_process(host),
        )

    def write(path: str, content: str, mode: str, name: str | None = None):
        return operations.file(name=name or f"Write {posixpath.basename(path)}", path=path,
                               content=content, mode=mode, current=state.files.get(path))

    prepare_host(state, write)
    firewall_hook = open_ports(settings, shape, state, write)
    token = write_token(settings, shape, state)
    # Where a new config.yaml restarts k3s, the one k3s runs on is kept: if k3s fails on the new
    # one, the restart starts it on that again.
    kept = bool(state.unit(unit).active and paths.CONFIG in state.files)
    config = operations.file(name="Write config.yaml", path=paths.CONFIG, mode="600",
                             content=render.config_yaml(settings, state.hostname, shape, host.name, state.enforcing),
                             current=state.files.get(paths.CONFIG), keep=paths.PREVIOUS_CONFIG if kept else None)
    registries = None
    if settings.registries:
        registries = write(paths.REGISTRIES, render.registries_yaml(settings), "600", "Write registries.yaml")
    elif settings.registries is not None and paths.REGISTRIES in state.files:
        registries = operations.remove(name="Remove registries.yaml", targets=[paths.REGISTRIES])
    env = write(service.env_file, render.env_file(settings, service), "600", "Write the service environment")
    unit_file = write(service.file, render.service_file(service, firewall_hook), service.file_mode,
                      f"Write {service.file}")
    if service.openrc:
        write(paths.logrotate_file(role), render.logrotate(role), "644", "Rotate k3s's log")
    write(paths.KILLALL_SCRIPT, render.KILLALL, "755")
    write(paths.uninstall_script(role), render.uninstall_script(service), "755")
    operations.link_commands(
        name="Link kubectl, crictl and ctr to k3s",
        names=paths.LINKED_COMMANDS,
        target=paths.BINARY,
        commands=state.commands,
    )
    # Whether an operation will change the host is known now, from the facts: deciding on it
    # here (not with pyinfra's `_if`, judged while running) makes a plan list what `up` does.
    if service.reload and unit_file.will_change:
        operations.run(name="Reload systemd", command=service.reload)
    changed = any(op.will_change for op in (binary, images, config, registries, env, unit_file, token) if op)
    this_turn = turn(settings, shape, state, version)
    # One host at a time, each back and Ready before the next: a rolling change. A file newer
    # than the running k3s (a run stopped before its restart) restarts it too, saying so.
    pending = state.unit(unit).active and not changed and restart_pending(state, unit, [
        paths.BINARY, paths.CONFIG, paths.REGISTRIES, service.env_file, service.file, paths.TOKEN_FILE,
        *airgap.IMAGE_PATHS])
    if pending:
        host.log(f"harmony: {unit} runs on files older than those in place (an earlier run stopped "
                 "before its restart): restarting it", log_func=logger.warning)
    if state.unit(unit).active and (changed or pending):
        operations.restart(name=f"Restart {unit} for its changed files", service=service,
                           timeout=settings.start_timeout, turn=this_turn,
                           rollback=paths.PREVIOUS_CONFIG if kept and config.will_change else None, _serial=True)
    operations.enable_and_start(name=f"Enable and start {unit}", service=service, current=state.unit(unit),
                                timeout=settings.start_timeout, turn=this_turn, _serial=one_at_a_time)
    if role == "server":
        fetch_kubeconfig(state)


def prepare_host(state: HostState, write) -> None:
    """Load the kernel modules and set the kernel settings k3s needs, and install the SELinux
    policy it needs, where they are missing; nothing where the host has them."""
    missing = prepare.missing_modules(state.modules)
    if missing:
        write(paths.MODULES_FILE, prepare.modules_conf(list(prepare.MODULES)), "644",
              "Load br_netfilter and overlay at boot")
        operations.run(name=f"Load the kernel modules {', '.join(missing)}",
                       command=f"modprobe -a {' '.join(missing)} || {{ echo 'harmony: cannot load the kernel "
                               f"modules {' '.join(missing)} k3s needs: install them for this kernel' >&2; exit 1; }}")
    if state.enforcing and not state.selinux_policy:  # preflight made sure harmony can install it
        repo = prepare.rpm_repo_path(state.os_family, state.os_version)
        write(paths.RPM_REPO, prepare.rpm_repo(repo), "644", "Add Rancher's RPM repository (k3s-selinux)")
        operations.run(name="Install the k3s-selinux policy", command=prepare.INSTALL_POLICY)
    wrong = prepare.wrong_sysctls(state.sysctls, state.modules)
    if wrong:
        write(paths.SYSCTL_FILE, prepare.sysctl_conf(prepare.SYSCTLS), "644", "Keep k3s's kernel settings")
        operations.run(name=f"Set {', '.join(sorted(wrong))}",
                       command=f"sysctl -q -p {paths.SYSCTL_FILE} || {{ echo 'harmony: cannot set "
                               f"{', '.join(sorted(wrong))} (k3s needs them at 1)' >&2; exit 1; }}")


def open_ports(settings: Settings, shape: Cluster, state: HostState, write) -> bool:
    """Open k3s's ports in the host's active firewall, where they are not open; returns whether
    k3s's service must open them itself before it starts (nftables, whose rules harmony adds to
    the running ruleset, which is loaded anew at boot)."""
    wanted = firewall.openings(settings.role, shape.ha, settings.extra_config)
    commands = firewall.open_commands(state.firewall, wanted)
    if commands:
        operations.run(name=f"Open k3s's ports in {state.firewall.kind}", command=" && ".join(commands))
    chains = firewall.blocking_chains(state.firewall)
    if chains:
        script = write(paths.FIREWALL_SCRIPT, firewall.nft_script(wanted, chains), "755")
        if script.will_change or firewall.nft_missing(state.firewall, wanted):
            operations.run(name="Open k3s's ports in nftables", command=paths.FIREWALL_SCRIPT)
    elif paths.FIREWALL_SCRIPT in state.files:
        operations.remove(name="Remove k3s-firewall.sh (no nftables chain drops)", targets=[paths.FIREWALL_SCRIPT])
    return bool(chains)


def turn(settings: Settings, shape: Cluster, state: HostState, version: str) -> operations.Turn:
    """This node's turn in a rolling restart: drained first if asked, Ready on `version` in the
    API (at the address the controller uses) before the next node's turn."""
    return operations.Turn(
        node=settings.node(state.hostname),
        version=version,
        api_source=inventory.get_host(shape.first_server),
        api_url=host.data.get("harmony_kubeconfig_server") or shape.registration_url,
        drain=settings.drain,
        drain_timeout=settings.drain_timeout,
    )


def restart_pending(state: HostState, unit: str, files: list[str]) -> bool:
    """Whether any of `files` changed after the running unit started."""
    started = state.unit(unit).started
    return bool(started) and any(state.files[p].mtime > started for p in files if p in state.files)


def write_token(settings: Settings, shape: Cluster, state: HostState):
    """The token file this host presents, or None where k3s needs none (a first server that
    generates its own). A host joining with the cluster's token gets the first server's full
    token, which also pins the cluster's CA; an agent given a token of its own presents that."""
    first_server = shape.stage(host.name) == cluster.FIRST_SERVER
    if settings.token and (first_server or settings.token != shape.token):
        return operations.file(name="Write the token", path=paths.TOKEN_FILE,
                               content=settings.token + "\n", mode="600",
                               current=state.files.get(paths.TOKEN_FILE))
    if first_server:
        return None
    first = inventory.get_host(shape.first_server)
    first_state = state_of(first)
    return operations.copy_secret(
        name="Write the join token",
        source=first,
        source_path=paths.SERVER_TOKEN,
        path=paths.TOKEN_FILE,
        source_file=first_state.files.get(paths.SERVER_TOKEN) if isinstance(first_state, HostState) else None,
        current=state.files.get(paths.TOKEN_FILE),
    )


def remove_other_role(role: str, state: HostState) -> None:
    """A host that changed role keeps no service of its old one (it would start again at boot)."""
    other = Service(next(r for r in paths.ROLES if r != role), state.init)
    files = [p for p in other.files if p in state.files]
    if state.unit(other.name).load_state != "loaded" and not files:
        return
    operations.stop_and_disable(name=f"Stop and disable {other.name} (the host is now a {role})",
                                service=other, current=state.unit(other.name))
    operations.remove(name=f"Remove {other.name}'s files", targets=files)
    if other.reload:
        operations.run(name="Reload systemd", command=other.reload)


@deploy("k3s kubeconfig")
def kubeconfig() -> None:
    if from_data(host.data, host.name, host.groups).role != "server":
        operations.nothing(name="Find the kubeconfig", reason="an agent has no kubeconfig")
        return
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
    services = [Service(role, state.init) for role in paths.ROLES]
    for service in services:
        operations.stop_and_disable(name=f"Stop and disable {service.name}", service=service,
                                    current=state.unit(service.name))
    if paths.KILLALL_SCRIPT in state.files:
        operations.run(name="Stop what k3s started", command=paths.KILLALL_SCRIPT)
    closing = firewall.close_commands(state.firewall)
    if closing:
        operations.run(name=f"Remove k3s's rules from {state.firewall.kind}", command=" && ".join(closing))
    if state.selinux_policy and paths.RPM_REPO in state.files:  # harmony installed it
        operations.run(name="Remove the k3s-selinux policy", command=prepare.REMOVE_POLICY)
    links = [
        f"{paths.BIN_DIR}/{name}" for name, target in state.commands.items()
        if name in paths.LINKED_COMMANDS and target == paths.BINARY
    ]
    removed = sorted(state.files) + links + sorted(state.removable)
    emptied = [d for d, entries in state.parent_dirs.items()
               if all(f"{d}/{entry}" in removed for entry in entries)]
    operations.remove(name="Remove k3s files", targets=removed + emptied)
    if any(s.reload and s.file in state.files for s in services):
        operations.run(name="Reload systemd", command=services[0].reload)
