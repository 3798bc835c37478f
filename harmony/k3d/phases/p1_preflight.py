"""Preflight: the host's state read (under its run lock), Docker there and answering (installed
first, if asked), the cluster's port mappings (`harmony.k3d.ports`: a new cluster's 80 and 443
on free host ports), the cluster harmony's (it keeps its spec: another tool's cluster of the
name is refused), its spec one k3d can reach from the running cluster (or its create left
unfinished: `harmony.k3d.unfinished`), and a k3d release for the host. Never passed: it is
the checks, and reads the state the others decide from."""

from __future__ import annotations

from pyinfra import host

from harmony import operations, runcontext
from harmony.errors import BadInput
from harmony.k3d import ports
from harmony.k3d.facts import K3dHostState
from harmony.k3d.hostrun import K3dHostRun, k3d_state
from harmony.k3d.spec import foreign, same_spec, scalable, spec_difference
from harmony.urls import insecure_urls
from harmony.phase import Phase
from harmony.runtime import docker_fix

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


def run(node: K3dHostRun) -> None:
    settings = node.settings
    refused = insecure_urls(host.data, host.name)
    if refused:
        node.refuse("Check the download URLs", refused)
        return
    state = k3d_state(settings, "Check Docker", published=True)
    if state is None:
        node.refused = True
        return
    node.state = state
    node.published = ports.in_effect(settings, state)
    runcontext.of(host.state).published[host.name] = node.published.mappings
    problem = docker_problem(state)
    if problem and state.docker == "absent" and settings.install_docker:
        # As root (sudo per the host's data), unlike the rest: then Docker answers this run's
        # commands as root, or, for another user, from the next login (the docker group).
        operations.run(name="Install Docker from the distribution's packages", command=INSTALL_DOCKER)
    elif problem:
        node.refuse("Check Docker", problem)
        return
    not_ours = foreign(state, node.paths, settings.cluster)
    if not_ours:
        node.refuse(f"Check the k3d cluster {settings.cluster} is harmony's", not_ours)
        return
    if node.cluster and not node.cluster.unfinished and not same_spec(node) and not scalable(node) \
            and not settings.recreate:
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
    if url not in node.resolved.sha256 and not node.resolved.unknown:
        node.refuse("Check the host can run k3d", f"k3d {settings.version} lists no {url.rsplit('/', 1)[1]} "
                    "in its checksums.txt")


def docker_problem(state: K3dHostState) -> str | None:
    """Why the k3d run cannot use the host's Docker, with the fix: the engine's own
    (`harmony.engine`: a context that is not there, another engine's socket, Rancher Desktop
    on containerd, Podman short of what k3d needs), else the platform's."""
    return state.engine.problem or docker_fix(state.system, state.docker)


PHASE = Phase("preflight", run)
