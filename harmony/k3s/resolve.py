"""A k3s run's resolved value (`harmony.resolved`): the cluster's one version, every download's
sha256, and the cluster's shape; worked out by the same code on the controller and, for the
plain `pyinfra` command, in the deploy."""

from __future__ import annotations

from typing import Sequence

from pyinfra import host, inventory

from harmony import releases, resolved
from harmony.errors import BadInput
from harmony.k3s import airgap, cluster
from harmony.k3s.settings import Settings, from_data
from harmony.resolved import Resolved, Unknown


def pin_version(hosts: Sequence[Settings]) -> str:
    """The one k3s version of this run: an airgap bundle's, or the one asked for, with channels
    resolved."""
    bundles = {s.airgap_dir for s in hosts}
    if bundles != {None}:
        if len(bundles) > 1:
            raise BadInput("give all hosts the same airgap bundle (k3s_airgap_dir, --airgap), or none")
        bundled = airgap.version(bundles.pop())
        asked = sorted({s.version for s in hosts if s.version} - {bundled})
        if asked:
            raise BadInput(f"the airgap bundle holds k3s {bundled}, not {', '.join(asked)}")
        return bundled
    wanted = {s.version or releases.resolve_channel(s.channel_url, s.channel) for s in hosts}
    if len(wanted) > 1:
        raise BadInput(
            f"the hosts ask for different k3s versions ({', '.join(sorted(wanted))}); "
            "a cluster runs one version: set k3s_version or k3s_channel alike for all hosts"
        )
    return wanted.pop()


def resolve(hosts: Sequence[tuple[str, Settings]], pin: bool = True, whole: bool = True,
            offline: bool = False) -> Resolved:
    """The run's value for these (name, settings) in inventory order: with `pin`, the version
    and the sha256 of every binary the hosts may download (none from an airgap bundle, checked
    on its own); with `whole`, the cluster they make (BadInput where they make none); with
    `offline`, what a site that cannot be reached would have told is left unknown."""
    settings = [s for _, s in hosts]
    unknown: list[Unknown] = []
    version = resolved.known(offline, unknown, resolved.current(settings[0].channel),
                             lambda: pin_version(settings)) if pin else None
    sha256: dict[str, str] = {}
    if version and not settings[0].airgap_dir:
        for url, allow_http in sorted({(s.release_url, s.allow_http) for s in settings}):
            sha256.update(resolved.known(offline, unknown, f"the sha256 of k3s {version}'s downloads",
                                         lambda: releases.k3s_downloads(url, version, allow_http)) or {})
    return Resolved("k3s", version, sha256, cluster.plan(hosts) if whole else None, tuple(unknown))


def of_run() -> Resolved:
    """This run's value, in the deploy: the controller's, or (plain `pyinfra`) the inventory's."""
    return resolved.of_run(host.data, host.state, lambda: resolve(
        [(h.name, from_data(h.data, h.name, h.groups)) for h in inventory]))
