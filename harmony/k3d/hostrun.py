"""What the host's run of the k3d lifecycle knows, handed from phase to phase, and where k3d's
files are on that host.

The lifecycle (`harmony.k3d.lifecycle`) makes one `K3dHostRun` and passes it through the phases
in order; each reads what the earlier ones found (the host's state, whether the cluster changed).
Everything runs as the login user, whose Docker it is (`USER`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pyinfra import host

from harmony import operations, releases, runlock, windowslock
from harmony.errors import BadInput
from harmony.images.shipping import DATA_KEY as IMAGES_KEY
from harmony.k3d import bindir, ports, render, unfinished
from harmony.k3d.facts import K3dCluster, K3dHost, K3dHostState, k3d_state_dir
from harmony.k3d.settings import K3dSettings
from harmony.resolved import Resolved
from harmony.runtime import Platform

ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}
USER = {"_sudo": False}  # k3d and Docker are the login user's


def as_user(state: K3dHostState) -> dict:
    """The arguments of an operation that runs k3d or docker on the host: as the login user, at
    the engine the fact found there (`harmony.engine`: its endpoint, passed explicitly)."""
    env = state.engine.env
    return {**USER, "_env": env} if env else USER


@dataclass
class K3dHostRun:
    settings: K3dSettings
    resolved: Resolved  # what the controller worked out for the run
    state: K3dHostState = field(default_factory=K3dHostState)
    refused: bool = False  # a phase failed the host: the later ones add nothing
    changed: bool = False  # the cluster phase changes the cluster (its kubeconfig with it)
    published: ports.Published | None = None  # the cluster's port mappings, once preflight read the host

    @property
    def effective(self) -> K3dSettings:
        """The settings the cluster is rendered from: the data's, with the port mappings in effect
        and whether the host's engine is rootless."""
        changes = {"rootless": True} if self.state.engine.rootless else {}
        if self.published:
            changes["ports"] = self.published.mappings
        return replace(self.settings, **changes) if changes else self.settings

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
    def k3d_sha256(self) -> str | None:
        """The published sha256 of the host's k3d. Offline (`Resolved.unknown`: a plan or a
        check) it may not be known: the host's own k3d, where it has one, stands in (the unknown
        checksum is named all the same); else None, which `operations.binary` downloads nothing for."""
        if self.k3d_url in self.resolved.sha256 or not self.resolved.unknown:
            return self.resolved.sha256[self.k3d_url]
        current = self.state.files.get(self.paths.k3d)
        return current.sha256 if current else None

    @property
    def paths(self) -> "Paths":
        return paths_of(self.state, self.settings)

    @property
    def cluster(self) -> K3dCluster | None:
        return self.state.clusters.get(self.settings.cluster)

    @property
    def spec(self) -> str:
        return render.config_yaml(self.effective, self.version)

    def refuse(self, name: str, message: str) -> None:
        operations.fail(name=name, message=message, **USER)
        self.refused = True


@dataclass(frozen=True)
class Paths:
    k3d: str
    spec: str
    kubeconfig: str
    creating: str  # there while harmony's create of the cluster has not ended (`harmony.k3d.unfinished`)


def paths_of(state: K3dHostState, settings: K3dSettings) -> Paths:
    directory = k3d_state_dir(state.home)
    return Paths(f"{state.bin_dir}/{bindir.executable(state.system)}", f"{directory}/{settings.cluster}.yaml",
                 f"{directory}/{settings.cluster}.kubeconfig", unfinished.marker(directory, settings.cluster))


def asset(system: str, machine: str) -> releases.Asset:
    """k3d's release asset for a host (`uname -s`, `uname -m`), listed in `checksums.txt`."""
    os_name = Platform(system, "none", "none", "absent").os
    if os_name not in ("linux", "macos", "windows") or machine not in ARCHES:
        raise BadInput(f"k3d has no release for {system} on {machine}")
    name = f"k3d-{'darwin' if os_name == 'macos' else os_name}-{ARCHES[machine]}"
    return releases.Asset(name + (".exe" if os_name == "windows" else ""), "checksums.txt")


def k3d_state(settings: K3dSettings, check_name: str, published: bool = False) -> K3dHostState | None:
    """The host's state for k3d, read under the login user's run lock (`harmony.runlock`); None
    after adding an operation that fails the host, where another run holds it. With `published`
    (up), also what the cluster's ports 80 and 443 are decided from (`harmony.k3d.ports`) and
    what the cluster lost since k3d started it (`harmony.k3d.health`)."""
    taken, held_here = runlock.take(host), windowslock.of(host)
    asked = {"cluster": settings.cluster, "health": True,
             **({"ports": True} if ports.unmapped(settings) else {})} if published else {}
    state = host.get_fact(K3dHost, bin_dir=settings.bin_dir or "", **taken, **{**shipped(settings), **asked},
                          **USER)
    state.lock = held_here or state.lock
    runlock.keep(host, taken, state.lock)
    problem = state.lock.problem(host)
    if problem:
        operations.fail(name=check_name, message=problem, **USER)
        return None
    return state


def shipped(settings: K3dSettings) -> dict[str, str]:
    """The images the run ships (`harmony.k3d.images`), as the fact looks for them in the
    cluster's nodes; nothing where the run ships none (the fact then asks no node)."""
    images = host.data.get(IMAGES_KEY)
    if not images:
        return {}
    return {"cluster": settings.cluster, "images": " ".join(sorted({i.reference for i in images}))}
