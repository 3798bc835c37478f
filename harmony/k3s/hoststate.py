"""Each host's `K3sHost` state, read once per run, under the host's run lock.

A joining host also needs the first server's state (its token file): the first to ask reads it,
the others wait for that (`harmony.once`), by host name (`pyinfra.host` is a proxy for whichever
host is current).
"""

from __future__ import annotations

from pyinfra import host, inventory
from pyinfra.api import Host

from harmony import once, operations, runcontext, runlock
from harmony.facts import SudoAccess
from harmony.images.shipping import DATA_KEY as IMAGES_KEY
from harmony.k3s import paths
from harmony.k3s.facts import HostState, K3sHost
from harmony.resolved import KEY

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


def state_of(target: Host) -> HostState | str:
    """The host's `K3sHost` state, read under the host's run lock, or why it cannot be had."""
    def read() -> HostState | str:
        if not target.connected or target.name in {h.name for h in target.state.failed_hosts}:
            why = runcontext.of(target.state).unreachable.get(target.name)
            return f"{target.name} is unreachable{f': {why}' if why else ''}"
        problem = root_access_problem(target)
        if problem:
            return problem
        taken = runlock.take(target)
        state = target.get_fact(K3sHost, **taken, **_known(target))
        runlock.keep(target, taken, state.lock)
        return state

    return once.get(target.state, ("K3sHost", target.name), read)


def token_source(servers: tuple[str, ...], joining: str) -> Host | None:
    """The server a joining host reads the cluster's full token from: the first server; where
    this run cannot read it (unreachable), the first other server that holds the token (every
    server of a cluster holds the same one); None where no server can give it (the first server
    out of a cluster not yet started)."""
    for name in servers:
        found = state_of(inventory.get_host(name))
        if isinstance(found, HostState) and (name == servers[0] or (
                name != joining and paths.SERVER_TOKEN in found.files)):
            return inventory.get_host(name)
    return None


# Set by `harmony certs rotate` (harmony.k3s.rotation), {"within": days or None}: the fact reads
# the certificates' expiries too, to choose the nodes.
CERTS_KEY = "harmony_certs"


def _known(target: Host) -> dict[str, str]:
    """The run's release as the fact takes it, where harmony's controller resolved it, the
    images the run ships (`harmony.k3s.deploy.images`), which the fact looks for, and whether
    it reads the certificates (`CERTS_KEY`)."""
    resolved, shipped = target.data.get(KEY), target.data.get(IMAGES_KEY)
    known = {"images": " ".join(sorted({i.reference for i in shipped}))} if shipped else {}
    if target.data.get(CERTS_KEY) is not None:
        known["certs"] = "yes"
    if resolved is None or not resolved.version:
        return known
    return {**known, "known": " ".join(sorted(set(resolved.sha256.values()))), "version": resolved.version}


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


def first_server_problem(first: str) -> str | None:
    """Why a host cannot join the first server `first` in this run, or None: another run (or a
    process) holds that server's lock. A joining host reads the server's token and kubeconfig,
    which that run may be changing; and since the server fails, the host would not restart on
    what it wrote. So it fails before its first change, as the server does."""
    target = inventory.get_host(first)
    state = state_of(target)
    blocking = state.lock.blocking(runlock.lock_wait(target.data, first)) if isinstance(state, HostState) else None
    return f"not changed: the first server {first}, which it joins, cannot be used ({blocking})" if blocking else None
