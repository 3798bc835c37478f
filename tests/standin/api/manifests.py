"""k3s's deploy controller on its manifests directory (docs.k3s.io, packaged components)."""

from __future__ import annotations

import copy
import hashlib
import os

import yaml

from .errors import ApiError
from .fields import merge_patch, update
from .schema import of
from .store import Store

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def track(store: Store, path: str, content: str) -> None:
    """The Addon (k3s.cattle.io/v1, in kube-system) that tracks a manifest file, named after its
    base name: a name that is no lowercase RFC 1123 subdomain (an underscore) is refused, and
    k3s then applies nothing of the file."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = {"source": path, "checksum": hashlib.sha256(content.encode()).hexdigest()}
    addon = {"apiVersion": "k3s.cattle.io/v1", "kind": "Addon", "metadata": {"name": name, "namespace": "kube-system"},
             "spec": spec}
    addons = store.kind("k3s.cattle.io/v1", "Addon")
    store.write(addons, "kube-system", name, lambda live: update(live, {**live, "spec": spec}, "k3s", of(addons))
                if live else addon)


def deploy_manifests(store: Store, directory: str, seen: dict[str, float]) -> None:
    """One pass: each manifest file in `directory` is applied when it first appears and again
    whenever its mtime changes (its content alone is not looked at: k3s-io/k3s#3711); a file
    removed leaves its objects where they are ("Deleting files out of this directory will not
    delete the corresponding resources"). `seen` keeps each file's mtime between passes. Its
    writes are Updates by the manager `k3s`, after the file's Addon (`track`)."""
    if not os.path.isdir(directory):
        return
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not name.endswith(MANIFEST_SUFFIXES) or not os.path.isfile(path) or seen.get(path) == os.stat(path).st_mtime:
            continue
        seen[path] = os.stat(path).st_mtime
        with open(path) as f:
            content = f.read()
        try:
            documents = [d for d in yaml.safe_load_all(content) if isinstance(d, dict)]
            track(store, path, content)
        except (yaml.YAMLError, ApiError):
            continue  # k3s logs the error and tries again at the next change
        for document in documents:
            resource = store.kind(document.get("apiVersion"), document.get("kind"))
            object_name = (document.get("metadata") or {}).get("name")
            if resource is None or not object_name:
                continue
            namespace = (document["metadata"].get("namespace") or "default") if resource.namespaced else None
            try:
                store.write(resource, namespace, object_name,
                            lambda live, d=document: update(live, merge_patch(live, d), "k3s", of(resource))
                            if live else copy.deepcopy(d))
            except ApiError:
                continue  # a missing namespace, say: as k3s, tried again at the file's next change
