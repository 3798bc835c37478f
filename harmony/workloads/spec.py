"""A workload's objects, read from the files harmony.yaml names, on the controller and before
anything runs: a file that is not YAML, or a document that is not a Kubernetes object, is bad
input (exit 2) naming the file and the document."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harmony.errors import BadInput

SUFFIXES = (".yaml", ".yml", ".json")
BUILT = ("manifests",)  # the kinds of workload this harmony applies


@dataclass(frozen=True)
class Workload:
    name: str
    objects: tuple[dict, ...] = field(default_factory=tuple)
    namespace: str = "default"  # of its namespaced objects that name none


def load(project) -> list[Workload]:
    """The project's workloads with their objects, in the file's order."""
    workloads = []
    for index, entry in enumerate(project.workloads):
        kind = next(k for k in ("manifests", "kustomize", "helm") if k in entry)
        if kind not in BUILT:
            raise BadInput(f"{project.path}: workload '{entry['name']}': {kind} workloads are not applied by this "
                           "harmony yet (manifests are): comment it out")
        paths = entry["manifests"] if isinstance(entry["manifests"], list) else [entry["manifests"]]
        objects = []
        for path in paths:
            for file in _files(project.root / path, project.path, entry["name"]):
                objects += _objects(file)
        if not objects:
            raise BadInput(f"{project.path}: workload '{entry['name']}': its manifests hold no objects")
        workloads.append(Workload(entry["name"], tuple(objects), entry.get("namespace") or "default"))
    return workloads


def _files(path: Path, project_file: Path, name: str) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    raise BadInput(f"{project_file}: workload '{name}': {path} does not exist")


def _objects(file: Path) -> list[dict]:
    try:
        documents = list(yaml.safe_load_all(file.read_text()))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise BadInput(f"{file}{where}: not valid YAML ({problem}): fix the manifest") from None
    objects = []
    for number, document in enumerate(documents, 1):
        if document is None:
            continue
        if isinstance(document, dict) and str(document.get("kind", "")).endswith("List") \
                and isinstance(document.get("items"), list):
            items = document["items"]
        else:
            items = [document]
        for item in items:
            problem = _not_an_object(item)
            if problem:
                raise BadInput(f"{file}: document {number}: {problem}")
            objects.append(item)
    return objects


def _not_an_object(item) -> str | None:
    if not isinstance(item, dict):
        return "not a Kubernetes object (a mapping with apiVersion, kind and metadata.name)"
    missing = [key for key in ("apiVersion", "kind") if not isinstance(item.get(key), str) or not item[key]]
    if not isinstance(item.get("metadata"), dict) or not item["metadata"].get("name"):
        missing.append("metadata.name")
    return f"a Kubernetes object needs {', '.join(missing)}" if missing else None
