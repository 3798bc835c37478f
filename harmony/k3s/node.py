"""What one host's run of the k3s lifecycle knows, handed from phase to phase.

The lifecycle (`harmony.k3s.lifecycle`) makes one `Node` per host and passes it through the
phases in order; each phase reads what the earlier ones found and adds what the later ones need
(the host's state, the operations whose change means k3s must restart).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harmony import operations, releases
from harmony.k3s.facts import HostState
from harmony.k3s import cluster
from harmony.k3s.cluster import Cluster
from harmony.k3s.service import Service
from harmony.k3s.settings import Settings
from harmony.resolved import Resolved


@dataclass
class Node:
    name: str  # the host's name in the inventory
    settings: Settings
    resolved: Resolved  # what the controller worked out for the run
    state: HostState = field(default_factory=HostState)  # as preflight read it
    refused: bool = False  # a phase failed the host: the later ones add nothing
    restarts: list = field(default_factory=list)  # operations whose change restarts k3s
    config: object = None  # the operation that writes config.yaml
    kept: bool = False  # the running config.yaml is kept, for a restart to put back
    firewall_hook: bool = False  # k3s's service opens its ports itself before it starts

    @property
    def shape(self) -> Cluster:
        """The cluster the inventory makes."""
        return self.resolved.cluster

    @property
    def version(self) -> str:
        """The k3s release this run installs."""
        return self.resolved.version

    @property
    def binary_url(self) -> str:
        """Where the run's release publishes the k3s binary for this host's architecture."""
        return releases.download_url(self.settings.release_url, self.version,
                                     releases.asset_for(self.state.arch).name)

    @property
    def stage(self) -> str:
        return self.shape.stage(self.name)

    @property
    def service(self) -> Service:
        return Service(self.settings.role, self.state.init)

    def file(self, path: str):
        """What the host has at `path` (mode, sha256, mtime), or None."""
        return self.state.files.get(path)

    def write(self, path: str, content: str, mode: str, name: str):
        """The operation that writes one of k3s's files, changing the host only where it differs."""
        return operations.file(name=name, path=path, content=content, mode=mode, current=self.file(path))

    @property
    def first_server(self) -> bool:
        return self.stage == cluster.FIRST_SERVER
