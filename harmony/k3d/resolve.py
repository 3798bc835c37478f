"""A k3d run's resolved value (`harmony.resolved`): the k3s release the cluster runs, and the
sha256 of every k3d executable of the k3d release; worked out by the same code on the controller
and, for the plain `pyinfra` command, in the deploy."""

from __future__ import annotations

from pyinfra import host

from harmony import releases, resolved
from harmony.k3d.settings import K3dSettings
from harmony.resolved import Resolved


def resolve(settings: K3dSettings, pin: bool = True, offline: bool = False) -> Resolved:
    """With `pin`, the version and the downloads; else (the command installs nothing) neither;
    `offline`, what a site that cannot be reached would have told is left unknown."""
    if not pin:
        return Resolved("k3d")
    k3s, unknown = settings.k3s, []  # k3s: the release the cluster's nodes run: asked for, or its channel's
    version = k3s.version or resolved.known(offline, unknown, resolved.current(k3s.channel),
                                            lambda: releases.resolve_channel(k3s.channel_url, k3s.channel))
    sha256 = resolved.known(offline, unknown, f"the sha256 of k3d {settings.version}'s executables",
                            lambda: releases.k3d_downloads(settings.release_url, settings.version, k3s.allow_http))
    return Resolved("k3d", version, sha256 or {}, unknown=tuple(unknown))


def of_run(settings: K3dSettings) -> Resolved:
    """This run's value, in the deploy: the controller's, or (plain `pyinfra`) the host's."""
    return resolved.of_run(host.data, host.state, lambda: resolve(settings))
