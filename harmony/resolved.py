"""What a run works out once, before any host is touched: one value every host's deploy reads.

harmony's commands resolve it on the controller (`harmony.k3s.resolve`, `harmony.k3d.resolve`)
and hand it to the deploy as the data key `harmony_resolved`, so that a channel is resolved,
a checksum file fetched and the cluster's shape checked once per run, not once per host, and
the hosts of a run cannot see different answers. A deploy run by the plain `pyinfra` command has
no such key: it works the same value out itself, with the same code, once per run (`of_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from harmony import once

KEY = "harmony_resolved"


@dataclass(frozen=True)
class Resolved:
    runtime: str  # k3s, or k3d
    # The k3s release the cluster runs (k3d: as its image); None for a command that installs
    # nothing (kubeconfig, down).
    version: str | None = None
    # Every download the run may make, each architecture's, as {URL: its published sha256}.
    sha256: Mapping[str, str] = field(default_factory=dict)
    # k3s: the cluster's shape (harmony.k3s.cluster.Cluster: first server, joining servers,
    # agents, where they join), for a command that acts on the whole cluster; else None.
    cluster: Any = None


def of_run(data, state, compute: Callable[[], Resolved]) -> Resolved:
    """The run's value: as the controller handed it in `data`, else (the plain `pyinfra`
    command) computed once for the run's `state`."""
    given = data.get(KEY)
    return given if given is not None else once.get(state, KEY, compute)
