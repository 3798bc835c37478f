"""The images a run ships to the nodes, as the controller hands them to each host's deploy (in
the data key DATA_KEY): each build, for one architecture, as a docker-archive on the
controller, gzip-compressed where it crosses a network. A host takes those of its architecture that its containerd lacks
(`harmony.k3s.deploy.images`); one that holds them all is sent nothing."""

from __future__ import annotations

from dataclasses import dataclass

DATA_KEY = "harmony_images"


@dataclass(frozen=True)
class Shipped:
    name: str  # as harmony.yaml names it
    reference: str  # normalized and content-tagged: the name containerd holds it by
    arch: str  # what it was built for, as Go names architectures (amd64, arm64, arm, s390x)
    archive: str  # the gzip-compressed docker-archive, on the controller
    sha256: str  # of `archive`, checked on the host before it is imported
    size: int  # of `archive`, in bytes: what sending it costs
    compressed: bool = True  # `archive` is gzip'd; a copy on this machine is not (gzip would only cost)


def for_arch(shipped, arch: str) -> list[Shipped]:
    return [image for image in shipped or () if image.arch == arch]


def operation_name(image: Shipped) -> str:
    """The name of the operation that sends `image` to a host: what a run's result says it did."""
    return f"Import {image.name} ({image.size / 1e6:.1f} MB)"
