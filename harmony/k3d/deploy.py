"""The k3d deploys: a k3s cluster in the host's Docker, run as the login user (no sudo).

`up` installs the k3d executable (checksum verified, atomically), creates the cluster from a
rendered k3d config, and fetches its kubeconfig to the controller; an existing cluster made from
the same spec is left alone, one whose spec changed is re-created only when asked. `down` deletes
the cluster. Both decide from one fact (`K3dHost`).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import replace

from pyinfra import host
from pyinfra.api import deploy

from harmony import localstate, operations, releases, runlock
from harmony.errors import BadInput
from harmony.facts import K3dCluster, K3dHost, K3dHostState, k3d_state_dir
from harmony.k3d import render
from harmony.k3d.settings import K3dSettings, from_data
from harmony.k3s.deploy import insecure_urls
from harmony.runtime import GET_DOCKER, START_DOCKER, Platform

ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}
USER = {"_sudo": False}  # k3d and Docker are the login user's
INSTALL_DOCKER = """set -e
if command -v apt-get >/dev/null; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
elif command -v dnf >/dev/null; then dnf install -y moby-engine || dnf install -y docker
elif command -v apk >/dev/null; then apk add docker
else echo "harmony: no package manager harmony knows (apt-get, dnf, apk): install Docker by hand" >&2; exit 1
fi
if [ -d /run/systemd/system ]; then systemctl enable --now docker
else rc-update add docker default && rc-service docker start
fi
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then usermod -aG docker "$SUDO_USER"; fi"""


def asset(system: str, machine: str) -> releases.Asset:
    """k3d's release asset for a host (`uname -s`, `uname -m`), listed in `checksums.txt`."""
    os_name = Platform(system, "none", "none", "absent").os
    if os_name not in ("linux", "macos", "windows") or machine not in ARCHES:
        raise BadInput(f"k3d has no release for {system} on {machine}")
    name = f"k3d-{'darwin' if os_name == 'macos' else os_name}-{ARCHES[machine]}"
    return releases.Asset(name + (".exe" if os_name == "windows" else ""), "checksums.txt")


def k3d_state(settings: K3dSettings, check_name: str) -> K3dHostState | None:
    """The host's state for k3d, read under the login user's run lock (`harmony.runlock`); None
    after adding an operation that fails the host, where another run holds it."""
    state = host.get_fact(K3dHost, bin_dir=settings.bin_dir or "", **runlock.take(host), **USER)
    problem = state.lock.problem(host)
    if problem:
        operations.fail(name=check_name, message=problem, **USER)
        return None
    return state


def docker_problem(state: K3dHostState) -> str | None:
    how = Platform(state.system, "none", "none", state.docker).os
    if state.docker == "absent":
        return f"Docker is not installed: {GET_DOCKER.get(how, GET_DOCKER['linux'])}"
    if state.docker != "running":
        return f"Docker does not answer: {START_DOCKER.get(how, START_DOCKER['linux'])}"
    return None


def spec_difference(cluster: K3dCluster, settings: K3dSettings, version: str) -> str:
    """What differs between a running cluster and its spec, in words, as far as k3d shows it."""
    wanted = {"servers": settings.servers, "agents": settings.agents, "image": render.image(version)}
    actual = {"servers": cluster.servers, "agents": cluster.agents, "image": cluster.image}
    changes = [f"{key} {actual[key]} -> {wanted[key]}" for key in wanted if actual[key] != wanted[key]]
    return ", ".join(changes) or "other settings"


def _paths(state: K3dHostState, settings: K3dSettings) -> tuple[str, str, str]:
    directory = k3d_state_dir(state.home)
    return f"{state.bin_dir}/k3d", f"{directory}/{settings.cluster}.yaml", f"{directory}/{settings.cluster}.kubeconfig"


@deploy("k3d up")
def up() -> None:
    settings = from_data(host.data, host.name, host.groups)
    refused = insecure_urls()
    if refused:
        operations.fail(name="Check the download URLs", message=refused, **USER)
        return
    state = k3d_state(settings, "Check Docker")
    if state is None:
        return
    problem = docker_problem(state)
    if problem and state.docker == "absent" and settings.install_docker:
        # As root (sudo per the host's data), unlike the rest: then Docker answers this run's
        # commands as root, or, for another user, from the next login (the docker group).
        operations.run(name="Install Docker from the distribution's packages", command=INSTALL_DOCKER)
    elif problem:
        operations.fail(name="Check Docker", message=problem, **USER)
        return
    version = settings.k3s.version or releases.resolve_channel(settings.k3s.channel_url, settings.k3s.channel)
    k3d, spec_path, kubeconfig = _paths(state, settings)
    spec = render.config_yaml(settings, version)
    cluster = state.clusters.get(settings.cluster)
    current_spec = state.files.get(spec_path)
    same_spec = bool(current_spec and current_spec.sha256 == _sha256(spec))
    scalable = bool(cluster and current_spec and not same_spec and current_spec.sha256 == _sha256(
        render.config_yaml(replace(settings, agents=cluster.agents), version)))
    if cluster and not same_spec and not scalable and not settings.recreate:
        difference = spec_difference(cluster, settings, version)
        operations.fail(
            name=f"Check the k3d cluster against its spec ({difference})",
            message=f"k3d cluster '{settings.cluster}' differs from its spec ({difference}); k3d cannot "
                    "change that in place: `harmony up --recreate` deletes and re-creates it (its "
                    "workloads are lost), `harmony plan` shows what would change",
            **USER,
        )
        return
    try:
        k3d_asset = asset(state.system, state.arch)
    except BadInput as error:
        operations.fail(name="Check the host can run k3d", message=str(error), **USER)
        return

    operations.binary(
        name=f"Install k3d {settings.version}",
        url=releases.download_url(settings.release_url, settings.version, k3d_asset.name),
        sha256=releases.expected_sha256(settings.release_url, settings.version, k3d_asset, "k3d",
                                        settings.k3s.allow_http),
        dest=k3d,
        current=state.files.get(k3d),
        stall_timeout=settings.k3s.download_stall_timeout,
        allow_http=settings.k3s.allow_http,
        watch=runlock.run_process(host),
        **USER,
    )
    operations.user_file(name="Write the cluster's k3d config", path=spec_path, content=spec,
                         current=current_spec, **USER)
    command, what = cluster_command(k3d, spec_path, settings, cluster, same_spec, scalable, version)
    if command:
        operations.run(name=f"{what} the k3d cluster {settings.cluster}", command=command, **USER)
    if command or kubeconfig not in state.files:
        write_kubeconfig(k3d, settings.cluster, kubeconfig)
    fetch_kubeconfig(kubeconfig, None if command else state.files.get(kubeconfig))


def cluster_command(k3d: str, spec_path: str, settings: K3dSettings, cluster: K3dCluster | None,
                    same_spec: bool, scalable: bool, version: str) -> tuple[str | None, str]:
    """The k3d command that brings the cluster to its spec, and what it does, in words.

    Only the number of agents changes in place (`k3d node create/delete`); any other change
    re-creates the cluster, which the caller allows only when asked.
    """
    k3d_, spec_, name = shlex.quote(k3d), shlex.quote(spec_path), shlex.quote(settings.cluster)
    if cluster is None:
        return f"{k3d_} cluster create --config {spec_}", "Create"
    if scalable and not settings.recreate:
        image = shlex.quote(render.image(version))
        added = [f"{k3d_} node create {shlex.quote(f'{settings.cluster}-agent-{i}')} --cluster {name}"
                 f" --role agent --image {image} --wait" for i in range(cluster.agents, settings.agents)]
        removed = [f"{k3d_} node delete {shlex.quote(node)}" for node in cluster.agent_names[settings.agents:]]
        return " && ".join(added + removed), f"Scale (agents {cluster.agents} -> {settings.agents})"
    if not same_spec:
        difference = spec_difference(cluster, settings, version)
        return (f"{k3d_} cluster delete {name} && {k3d_} cluster create --config {spec_}",
                f"Re-create ({difference})")
    if cluster.running < cluster.servers + cluster.agents:
        return f"{k3d_} cluster start {name}", "Start"
    return None, ""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_kubeconfig(k3d: str, cluster: str, path: str) -> None:
    quoted = shlex.quote(path)
    operations.run(
        name="Write the cluster's kubeconfig",
        command=f"umask 077 && {shlex.quote(k3d)} kubeconfig get {shlex.quote(cluster)} > {quoted}.new"
                f" && mv -f {quoted}.new {quoted}",
        **USER,
    )


def fetch_kubeconfig(path: str, current) -> None:
    local = localstate.fetched_kubeconfig(host.data.get("harmony_cluster") or "harmony", host.name, host.data)
    localstate.ensure_private_dir(local.parent)
    operations.fetch(name="Fetch the kubeconfig to the controller", path=path, local_path=str(local),
                     current=current, as_root=False, **USER)


@deploy("k3d kubeconfig")
def kubeconfig() -> None:
    settings = from_data(host.data, host.name, host.groups)
    state = k3d_state(settings, "Find the k3d cluster")
    if state is None:
        return
    k3d, _, path = _paths(state, settings)
    if settings.cluster not in state.clusters:
        operations.fail(name="Find the k3d cluster", message=f"no k3d cluster '{settings.cluster}': "
                        "run harmony up", **USER)
        return
    write_kubeconfig(k3d, settings.cluster, path)
    fetch_kubeconfig(path, None)


@deploy("k3d down")
def down() -> None:
    settings = from_data(host.data, host.name, host.groups)
    state = k3d_state(settings, "Delete the k3d cluster")
    if state is None:
        return
    k3d, spec_path, kubeconfig = _paths(state, settings)
    if settings.cluster in state.clusters:
        operations.run(name=f"Delete the k3d cluster {settings.cluster}",
                       command=f"{shlex.quote(k3d)} cluster delete {shlex.quote(settings.cluster)}", **USER)
    removed = [p for p in (spec_path, kubeconfig) if p in state.files]
    if settings.purge and k3d in state.files:
        removed.append(k3d)
    operations.remove(name="Remove the cluster's files", targets=removed, **USER)
