"""The k3d deploys: a k3s cluster in the host's Docker, run as the login user (no sudo).

`up` installs the k3d executable (checksum verified, atomically), creates the cluster from a
rendered k3d config, and fetches its kubeconfig to the controller; an existing cluster made from
the same spec is left alone, one whose spec changed is re-created only when asked (the phases of
`harmony.k3d.lifecycle`). `images` imports the project's built images into the nodes that lack
them (`harmony.k3d.images`). `down` deletes the cluster (harmony's alone:
`harmony.k3d.spec.foreign`). Each decides from one fact (`K3dHost`).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import deploy

from harmony import operations
from harmony.images import shipping
from harmony.k3d import images as k3d_images
from harmony.k3d import lifecycle, resolve
from harmony.k3d.hostrun import USER, K3dHostRun, as_user, k3d_state, paths_of
from harmony.k3d.phases.p4_kubeconfig import fetch_kubeconfig, write_kubeconfig
from harmony.k3d.settings import from_data
from harmony.k3d.spec import foreign


@deploy("k3d up")
def up() -> None:
    settings = from_data(host.data, host.name)
    lifecycle.up(K3dHostRun(settings, resolve.of_run(settings)))


@deploy("k3d images")
def images() -> None:
    """The images the run ships (`harmony.images.shipping`), each imported into the cluster's
    nodes where any of them lacks it; a cluster whose nodes hold them all is sent nothing.
    Every image shipped is for this cluster: the controller built it for the architecture its
    Node objects report, and every node is a container of this host's Docker."""
    settings = from_data(host.data, host.name)
    state = k3d_state(settings, "Find the images")
    if state is None:
        return
    paths = paths_of(state, settings)
    problem = k3d_images.problem(state.docker, settings.cluster in state.clusters, paths.k3d in state.files,
                                 state.nodes, settings.cluster)
    if problem:
        operations.fail(name="Find the images", message=problem, **USER)
        return
    for image in host.data.get(shipping.DATA_KEY) or ():
        if k3d_images.lacking(state.nodes, image.reference):
            k3d_images.import_image(name=shipping.operation_name(image), image=image, k3d=paths.k3d,
                                    cluster=settings.cluster, nodes=tuple(sorted(state.nodes)),
                                    staging=k3d_images.staging_dir(state.home), **as_user(state))


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
    write_kubeconfig(paths.k3d, settings.cluster, paths.kubeconfig, as_user(state))
    fetch_kubeconfig(paths.kubeconfig, None)


@deploy("k3d down")
def down() -> None:
    settings = from_data(host.data, host.name)
    state = k3d_state(settings, "Delete the k3d cluster")
    if state is None:
        return
    paths = paths_of(state, settings)
    not_ours = foreign(state, paths, settings.cluster)
    if not_ours:
        operations.fail(name="Delete the k3d cluster", message=not_ours, **USER)
        return
    if settings.cluster in state.clusters:
        operations.run(name=f"Delete the k3d cluster {settings.cluster}",
                       command=f"{shlex.quote(paths.k3d)} cluster delete {shlex.quote(settings.cluster)}",
                       **as_user(state))
    removed = [p for p in (paths.spec, paths.kubeconfig, paths.creating) if p in state.files]
    if settings.purge and paths.k3d in state.files:
        removed.append(paths.k3d)
    operations.remove(name="Remove the cluster's files", targets=removed, **USER)
