"""A k3d cluster against its spec (the k3d config harmony renders, whose hash is kept beside the
cluster: k3d cannot say everything a cluster was created with): the same, different in its
number of agents alone (which k3d changes in place), or different otherwise, and how, in words."""

from __future__ import annotations

from dataclasses import replace

from harmony.facts import text_sha256
from harmony.k3d import render
from harmony.k3d.facts import K3dCluster, K3dHostState
from harmony.k3d.hostrun import K3dHostRun, Paths
from harmony.k3d.settings import K3dSettings


def same_spec(node: K3dHostRun) -> bool:
    current = node.state.files.get(node.paths.spec)
    return bool(current and current.sha256 == text_sha256(node.spec))


def scalable(node: K3dHostRun) -> bool:
    """The cluster differs from its spec in the number of agents alone (k3d changes that in place)."""
    current, cluster = node.state.files.get(node.paths.spec), node.cluster
    return bool(cluster and current and not same_spec(node) and current.sha256 == text_sha256(
        render.config_yaml(replace(node.effective, agents=cluster.agents), node.version)))


def spec_difference(cluster: K3dCluster, settings: K3dSettings, version: str) -> str:
    """What differs between a running cluster and its spec, in words, as far as k3d shows it."""
    wanted = {"servers": settings.servers, "agents": settings.agents, "image": render.image(version)}
    actual = {"servers": cluster.servers, "agents": cluster.agents, "image": cluster.image}
    changes = [f"{key} {actual[key]} -> {wanted[key]}" for key in wanted if actual[key] != wanted[key]]
    return ", ".join(changes) or "other settings"


def foreign(state: K3dHostState, paths: Paths, name: str) -> str | None:
    """Why harmony leaves alone the cluster k3d lists under its name, where it keeps no spec of it:
    harmony writes the spec before every create, so it did not create this one (another tool did,
    or harmony's files were removed) and neither changes nor deletes it."""
    if name not in state.clusters or paths.spec in state.files:
        return None
    return (f"k3d cluster '{name}' is not harmony's (harmony keeps no spec of it at {paths.spec}): harmony "
            f"neither changes nor deletes it; give another name (--name), or delete it yourself "
            f"(k3d cluster delete {name})")
