"""The k3d deploys: a k3s cluster in the host's Docker, run as the login user (no sudo).

`up` installs the k3d executable (checksum verified, atomically), creates the cluster from a
rendered k3d config, and fetches its kubeconfig to the controller; an existing cluster made from
the same spec is left alone, one whose spec changed is re-created only when asked (the phases of
`harmony.k3d.lifecycle`). `down` deletes the cluster. Both decide from one fact (`K3dHost`).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import deploy

from harmony import operations
from harmony.k3d import lifecycle, resolve
from harmony.k3d.hostrun import USER, K3dHostRun, k3d_state, paths_of
from harmony.k3d.phases.p4_kubeconfig import fetch_kubeconfig, write_kubeconfig
from harmony.k3d.settings import from_data


@deploy("k3d up")
def up() -> None:
    settings = from_data(host.data, host.name)
    lifecycle.up(K3dHostRun(settings, resolve.of_run(settings)))


@deploy("k3d kubeconfig")
def kubeconfig() -> None:
    settings = from_data(host.data, host.name)
    state = k3d_state(settings, "Find the k3d cluster")
    if state is None:
        return
    paths = paths_of(state, settings)
    if settings.cluster not in state.clusters:
        operations.fail(name="Find the k3d cluster", message=f"no k3d cluster '{settings.cluster}': "
                        "run harmony up", **USER)
        return
    write_kubeconfig(paths.k3d, settings.cluster, paths.kubeconfig)
    fetch_kubeconfig(paths.kubeconfig, None)


@deploy("k3d down")
def down() -> None:
    settings = from_data(host.data, host.name)
    state = k3d_state(settings, "Delete the k3d cluster")
    if state is None:
        return
    paths = paths_of(state, settings)
    if settings.cluster in state.clusters:
        operations.run(name=f"Delete the k3d cluster {settings.cluster}",
                       command=f"{shlex.quote(paths.k3d)} cluster delete {shlex.quote(settings.cluster)}", **USER)
    removed = [p for p in (paths.spec, paths.kubeconfig) if p in state.files]
    if settings.purge and paths.k3d in state.files:
        removed.append(paths.k3d)
    operations.remove(name="Remove the cluster's files", targets=removed, **USER)
