"""What one host's run of the k3s lifecycle knows, handed from phase to phase.

The lifecycle (`harmony.k3s.lifecycle`) makes one `K3sHostRun` per host and passes it through the
phases in order; each phase reads what the earlier ones found and adds what the later ones need
(the host's state, the files k3s runs on that its turn puts in place).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harmony import operations, releases
from harmony.facts import same_file, text_sha256
from harmony.k3s.facts import HostState
from harmony.k3s import cluster, paths
from harmony.k3s.cluster import Cluster
from harmony.k3s.service import Service
from harmony.k3s.settings import Settings
from harmony.resolved import Resolved


@dataclass
class K3sHostRun:
    name: str  # the host's name in the inventory
    settings: Settings
    resolved: Resolved  # what the controller worked out for the run
    state: HostState = field(default_factory=HostState)  # as preflight read it
    refused: bool = False  # a phase failed the host: the later ones add nothing
    placed: list[str] = field(default_factory=list)  # files k3s runs on, staged new: put in place at its turn
    removed: list[str] = field(default_factory=list)  # files k3s runs on, removed at its turn
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
    def binary_sha256(self) -> str | None:
        """The published sha256 of the host's binary. Offline (`Resolved.unknown`: a plan or a
        check) it may not be known: where the host's k3s reports the release asked for, its own
        binary's stands in, so that the dry run plans no install of it (the unknown checksum is
        named all the same); else None, which `operations.binary` downloads nothing for."""
        if self.binary_url in self.resolved.sha256 or not self.resolved.unknown:
            return self.resolved.sha256[self.binary_url]
        current = self.file(paths.BINARY)
        return current.sha256 if current and self.state.k3s_version == self.version else None

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

    def staging(self, path: str, sha256: str | None) -> dict:
        """The arguments that make an operation stage a new version of `path`, a file k3s runs
        on (`paths.RUN_FILES`), beside it; where the live one is not `sha256` (None: not known
        until the run), it is put in place at this node's turn (`harmony.k3s.phases.p6_start`)."""
        current = self.file(path)
        if not (current and current.sha256 == sha256):
            self.placed.append(path)
        return {"current": current, "staged_path": paths.staged(path), "staged": self.file(paths.staged(path))}

    def stage_file(self, path: str, content: str, mode: str, name: str):
        """The operation that stages a new version of `path`, a file k3s runs on, where it differs."""
        return operations.file(name=name, path=path, content=content, mode=mode,
                               **self.staging(path, text_sha256(content)))

    def settled(self, path: str, sha256: str | None, mode: str, staged: bool = True) -> bool:
        """Whether `path` is as wanted (its sha256 and mode) and, for a file k3s runs on
        (`staged`), no new version of it is staged beside it: then the operation that writes or
        stages it changes nothing, and leaves nothing for the node's turn."""
        return same_file(self.file(path), sha256, mode) and not (staged and self.file(paths.staged(path)))

    @property
    def first_server(self) -> bool:
        return self.stage == cluster.FIRST_SERVER
