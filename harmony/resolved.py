"""What a run works out once, before any host is touched: one value every host's deploy reads.

harmony's commands resolve it on the controller (`harmony.k3s.resolve`, `harmony.k3d.resolve`)
and hand it to the deploy as the data key `harmony_resolved`, so that a channel is resolved,
a checksum file fetched and the cluster's shape checked once per run, not once per host, and
the hosts of a run cannot see different answers. A deploy run by the plain `pyinfra` command has
no such key: it works the same value out itself, with the same code, once per run (`of_run`).

Offline, `plan` and `check` resolve what can be known (`known`): a pinned version is known, a
channel's current release is not, nor a release's checksums (unless the controller keeps them
from an earlier run). What could not be known is named, with why, in `Resolved.unknown`; such a
value never reaches a deploy that changes a host (`up` resolves with no unknowns, or stops).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from harmony import once
from harmony.errors import Unreachable

KEY = "harmony_resolved"
VERSION = "VERSION"  # a version not known, where a download URL or an image names it
T = TypeVar("T")


@dataclass(frozen=True)
class Unknown:
    """What a run could not know offline, why, and what the user can do about it."""

    what: str  # "VERSION: the stable channel's current k3s release"
    why: str  # "cannot reach https://update.k3s.io/v1-release/channels/stable: [Errno -2] ..."
    fix: str  # "check --channel-url, or pin --version"

    def __str__(self) -> str:
        return f"{self.what} ({self.why}): {self.fix}"


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
    # Offline (plan, check): what could not be known; then `version` (None: unknown) and
    # `sha256` hold only what is known.
    unknown: tuple[Unknown, ...] = ()


def of_run(data, state, compute: Callable[[], Resolved]) -> Resolved:
    """The run's value: as the controller handed it in `data`, else (the plain `pyinfra`
    command) computed once for the run's `state`."""
    given = data.get(KEY)
    return given if given is not None else once.get(state, KEY, compute)


def current(channel: str) -> str:
    """What an offline run names the release a channel gives, where it could not ask."""
    return f"{VERSION}: the {channel} channel's current k3s release"


def known(offline: bool, unknown: list[Unknown], what: str, ask: Callable[[], T]) -> T | None:
    """`ask()`'s answer; `offline`, where a site it needs cannot be reached, None instead, with
    `what` it would have told and why added to `unknown`."""
    if not offline:
        return ask()
    try:
        return ask()
    except Unreachable as error:
        unknown.append(Unknown(what, error.cause, error.fix))
        return None
