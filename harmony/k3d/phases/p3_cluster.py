"""The cluster: the rendered k3d config kept beside it, and the cluster created, scaled, started
or re-created from it. Passed where the config kept is the one rendered and every node runs."""

from __future__ import annotations

import shlex

from harmony import operations
from harmony.facts import same_file, text_sha256
from harmony.k3d import health, render, unfinished
from harmony.k3d.hostrun import USER, K3dHostRun, as_user
from harmony.k3d.spec import same_spec, scalable, spec_difference
from harmony.phase import Phase


def should_run(node: K3dHostRun) -> bool:
    return not same_file(node.state.files.get(node.paths.spec), text_sha256(node.spec), "600") or \
        cluster_command(node)[0] is not None


def run(node: K3dHostRun) -> None:
    settings, paths = node.settings, node.paths
    operations.user_file(name="Write the cluster's k3d config", path=paths.spec, content=node.spec,
                         current=node.state.files.get(paths.spec), **USER)
    command, what = cluster_command(node)
    if command:
        # For a new cluster, the step says where Ingresses are served (why, where not on 80 and 443).
        note = node.published.note if node.published and node.cluster is None else ""
        operations.run(name=f"{what} the k3d cluster {settings.cluster}" + (f" ({note})" if note else ""),
                       command=command, **as_user(node.state))
        node.changed = True


def cluster_command(node: K3dHostRun) -> tuple[str | None, str]:
    """The k3d command that brings the cluster to its spec, and what it does, in words.

    Only the number of agents changes in place (`k3d node create/delete`); any other change
    re-creates the cluster, which preflight allows only when asked. A cluster of its spec that
    is stopped, partly running or lost host.k3d.internal is brought back (`harmony.k3d.health`);
    one whose create was stopped midway is created again (`harmony.k3d.unfinished`: every
    create runs under its mark).
    """
    settings, cluster, version = node.settings, node.cluster, node.version
    k3d, spec, name = shlex.quote(node.paths.k3d), shlex.quote(node.paths.spec), shlex.quote(settings.cluster)
    create, delete = f"{k3d} cluster create --config {spec}", f"{k3d} cluster delete {name}"
    if cluster is None:
        return unfinished.marked(node.paths.creating, create), "Create"
    if cluster.unfinished:
        return unfinished.marked(node.paths.creating, delete, create), f"Re-create ({health.UNFINISHED_WHY})"
    if scalable(node) and not settings.recreate:
        image = shlex.quote(render.image(version))
        added = [f"{k3d} node create {shlex.quote(f'{settings.cluster}-agent-{i}')} --cluster {name}"
                 f" --role agent --image {image} --wait" for i in range(cluster.agents, settings.agents)]
        removed = [f"{k3d} node delete {shlex.quote(n)}" for n in cluster.agent_names[settings.agents:]]
        return " && ".join(added + removed), f"Scale (agents {cluster.agents} -> {settings.agents})"
    if not same_spec(node):
        difference = spec_difference(cluster, settings, version)
        return unfinished.marked(node.paths.creating, delete, create), f"Re-create ({difference})"
    return health.recovery(k3d, name, cluster)


PHASE = Phase("cluster", run, should_run)
