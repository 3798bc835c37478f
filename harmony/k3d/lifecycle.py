"""The k3d lifecycle, in the order it runs, on the one host whose Docker holds the cluster:

    preflight   the host's state (under its run lock), Docker (installed if asked), the spec
    binary      the k3d release, checksum verified, put in place atomically
    cluster     the rendered k3d config; the cluster created, scaled, started or re-created
    kubeconfig  the cluster's kubeconfig written on the host and fetched to the controller

(then, on the controller: the nodes Ready in the API, the kubeconfig merged: harmony.commands.)
Everything runs as the login user, whose Docker it is. Adding a phase is a function and a line.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field, replace

from pyinfra import host
from pyinfra.api import deploy

from harmony import operations, releases, runlock
from harmony.errors import BadInput
from harmony.k3d.facts import K3dCluster, K3dHost, K3dHostState, k3d_state_dir
from harmony.k3d import render
from harmony.k3d.settings import K3dSettings
from harmony.urls import insecure_urls
from harmony.resolved import Resolved
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


@dataclass
class K3dHostRun:
    """What the host's run of the k3d lifecycle knows, handed from phase to phase."""

    settings: K3dSettings
    resolved: Resolved  # what the controller worked out for the run
    state: K3dHostState = field(default_factory=K3dHostState)
    refused: bool = False  # a phase failed the host: the later ones add nothing
    changed: bool = False  # the cluster phase changes the cluster (its kubeconfig with it)

    @property
    def version(self) -> str:
        """The k3s release the cluster runs."""
        return self.resolved.version

    @property
    def k3d_url(self) -> str:
        """Where the k3d release publishes the executable for this host (BadInput: nowhere)."""
        return releases.download_url(self.settings.release_url, self.settings.version,
                                     asset(self.state.system, self.state.arch).name)

    @property
    def paths(self) -> "Paths":
        return paths_of(self.state, self.settings)

    @property
    def cluster(self) -> K3dCluster | None:
        return self.state.clusters.get(self.settings.cluster)

    @property
    def spec(self) -> str:
        return render.config_yaml(self.settings, self.version)

    def refuse(self, name: str, message: str) -> None:
        operations.fail(name=name, message=message, **USER)
        self.refused = True


@dataclass(frozen=True)
class Paths:
    k3d: str
    spec: str
    kubeconfig: str


def paths_of(state: K3dHostState, settings: K3dSettings) -> Paths:
    directory = k3d_state_dir(state.home)
    return Paths(f"{state.bin_dir}/k3d", f"{directory}/{settings.cluster}.yaml",
                 f"{directory}/{settings.cluster}.kubeconfig")


def up(node: K3dHostRun) -> None:
    """Add the host's operations for `harmony up`, in lifecycle order."""
    for phase in PHASES:
        if not node.refused:
            phase(node)


@deploy("preflight")
def preflight(node: K3dHostRun) -> None:
    settings = node.settings
    refused = insecure_urls(host.data, host.name)
    if refused:
        node.refuse("Check the download URLs", refused)
        return
    state = k3d_state(settings, "Check Docker")
    if state is None:
        node.refused = True
        return
    node.state = state
    problem = docker_problem(state)
    if problem and state.docker == "absent" and settings.install_docker:
        # As root (sudo per the host's data), unlike the rest: then Docker answers this run's
        # commands as root, or, for another user, from the next login (the docker group).
        operations.run(name="Install Docker from the distribution's packages", command=INSTALL_DOCKER)
    elif problem:
        node.refuse("Check Docker", problem)
        return
    if node.cluster and not same_spec(node) and not scalable(node) and not settings.recreate:
        difference = spec_difference(node.cluster, settings, node.version)
        node.refuse(
            f"Check the k3d cluster against its spec ({difference})",
            f"k3d cluster '{settings.cluster}' differs from its spec ({difference}); k3d cannot "
            "change that in place: `harmony up --recreate` deletes and re-creates it (its "
            "workloads are lost), `harmony plan` shows what would change",
        )
        return
    try:
        url = node.k3d_url
    except BadInput as error:
        node.refuse("Check the host can run k3d", str(error))
        return
    if url not in node.resolved.sha256:
        node.refuse("Check the host can run k3d", f"k3d {settings.version} lists no {url.rsplit('/', 1)[1]} "
                    "in its checksums.txt")


@deploy("binary")
def binary(node: K3dHostRun) -> None:
    settings, state = node.settings, node.state
    operations.binary(
        name=f"Install k3d {settings.version}",
        url=node.k3d_url,
        sha256=node.resolved.sha256[node.k3d_url],
        dest=node.paths.k3d,
        current=state.files.get(node.paths.k3d),
        stall_timeout=settings.k3s.download_stall_timeout,
        allow_http=settings.k3s.allow_http,
        watch=runlock.run_process(host),
        **USER,
    )


@deploy("cluster")
def cluster(node: K3dHostRun) -> None:
    settings, paths = node.settings, node.paths
    operations.user_file(name="Write the cluster's k3d config", path=paths.spec, content=node.spec,
                         current=node.state.files.get(paths.spec), **USER)
    command, what = cluster_command(node)
    if command:
        operations.run(name=f"{what} the k3d cluster {settings.cluster}", command=command, **USER)
        node.changed = True


@deploy("kubeconfig")
def kubeconfig(node: K3dHostRun) -> None:
    paths = node.paths
    if node.changed or paths.kubeconfig not in node.state.files:
        write_kubeconfig(paths.k3d, node.settings.cluster, paths.kubeconfig)
    fetch_kubeconfig(paths.kubeconfig, None if node.changed else node.state.files.get(paths.kubeconfig))


PHASES = (preflight, binary, cluster, kubeconfig)


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


def same_spec(node: K3dHostRun) -> bool:
    current = node.state.files.get(node.paths.spec)
    return bool(current and current.sha256 == _sha256(node.spec))


def scalable(node: K3dHostRun) -> bool:
    """The cluster differs from its spec in the number of agents alone (k3d changes that in place)."""
    current, cluster_ = node.state.files.get(node.paths.spec), node.cluster
    return bool(cluster_ and current and not same_spec(node) and current.sha256 == _sha256(
        render.config_yaml(replace(node.settings, agents=cluster_.agents), node.version)))


def cluster_command(node: K3dHostRun) -> tuple[str | None, str]:
    """The k3d command that brings the cluster to its spec, and what it does, in words.

    Only the number of agents changes in place (`k3d node create/delete`); any other change
    re-creates the cluster, which preflight allows only when asked.
    """
    settings, cluster_, version = node.settings, node.cluster, node.version
    k3d_, spec_, name = shlex.quote(node.paths.k3d), shlex.quote(node.paths.spec), shlex.quote(settings.cluster)
    if cluster_ is None:
        return f"{k3d_} cluster create --config {spec_}", "Create"
    if scalable(node) and not settings.recreate:
        image = shlex.quote(render.image(version))
        added = [f"{k3d_} node create {shlex.quote(f'{settings.cluster}-agent-{i}')} --cluster {name}"
                 f" --role agent --image {image} --wait" for i in range(cluster_.agents, settings.agents)]
        removed = [f"{k3d_} node delete {shlex.quote(n)}" for n in cluster_.agent_names[settings.agents:]]
        return " && ".join(added + removed), f"Scale (agents {cluster_.agents} -> {settings.agents})"
    if not same_spec(node):
        difference = spec_difference(cluster_, settings, version)
        return (f"{k3d_} cluster delete {name} && {k3d_} cluster create --config {spec_}",
                f"Re-create ({difference})")
    if cluster_.running < cluster_.servers + cluster_.agents:
        return f"{k3d_} cluster start {name}", "Start"
    return None, ""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_kubeconfig(k3d: str, cluster_name: str, path: str) -> None:
    quoted = shlex.quote(path)
    operations.run(
        name="Write the cluster's kubeconfig",
        command=f"umask 077 && {shlex.quote(k3d)} kubeconfig get {shlex.quote(cluster_name)} > {quoted}.new"
                f" && mv -f {quoted}.new {quoted}",
        **USER,
    )


def fetch_kubeconfig(path: str, current) -> None:
    operations.fetch_kubeconfig(path, current, as_root=False, **USER)
