"""The user's kubeconfig: a cluster's entries, renamed and re-addressed, merged in safely.

A server's /etc/rancher/k3s/k3s.yaml names everything `default` and points at 127.0.0.1. Before it
is merged, its cluster, user and context are renamed after the cluster and its server address is
replaced with one the controller can reach. Merging replaces the cluster's old entries instead of
keeping stale ones beside them (the x509 errors of k3sup #95, #316), leaves every other entry as
it was, and writes the file atomically with mode 0600.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from harmony.errors import RunFailed

SECTIONS = ("clusters", "users", "contexts")


def default_path() -> Path:
    """Where kubectl looks: the first file of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first) if first else Path.home() / ".kube" / "config"


def load(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise RunFailed(f"cannot read kubeconfig {path}: {error}") from None
    if not isinstance(data, dict):
        raise RunFailed(f"cannot read kubeconfig {path}: not a mapping")
    return data


def for_cluster(fetched: dict, name: str, server: str) -> dict:
    """A k3s kubeconfig with its single cluster, user and context renamed to `name`."""
    try:
        cluster = dict(fetched["clusters"][0]["cluster"])
        user = dict(fetched["users"][0]["user"])
    except (KeyError, IndexError, TypeError):
        raise RunFailed("the kubeconfig fetched from the server has no cluster or user") from None
    cluster["server"] = server
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def merged(existing: dict, new: dict, name: str, switch: bool) -> dict:
    """`existing` with every entry called `name` replaced by `new`'s."""
    result = dict(existing) or {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for section in SECTIONS:
        kept = [e for e in existing.get(section) or [] if e.get("name") != name]
        result[section] = kept + new[section]
    if switch or not result.get("current-context"):
        result["current-context"] = name
    return result


def without(existing: dict, name: str) -> dict:
    """`existing` with the cluster's entries removed (its current context too)."""
    result = dict(existing)
    for section in SECTIONS:
        result[section] = [e for e in existing.get(section) or [] if e.get("name") != name]
    if result.get("current-context") == name:
        result["current-context"] = ""
    return result


def write(path: Path, data: dict) -> None:
    """Write atomically, mode 0600: the file holds cluster admin credentials."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
