"""A workload's objects, read from the files harmony.yaml names (or built by Kustomize from
the directory it names), on the controller and before anything runs: a file that is not YAML,
or a document that is not a Kubernetes object, is bad input (exit 2) naming the file and the
document."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harmony.errors import BadInput

SUFFIXES = (".yaml", ".yml", ".json")
BUILT = ("manifests", "kustomize")  # the kinds of workload this harmony applies


@dataclass(frozen=True)
class Workload:
    name: str
    objects: tuple[dict, ...] = field(default_factory=tuple)
    namespace: str = "default"  # of its namespaced objects that name none


def load(project) -> list[Workload]:
    """The project's workloads with their objects, in the file's order."""
    workloads = []
    for entry in project.workloads:
        kind = next(k for k in ("manifests", "kustomize", "helm") if k in entry)
        if kind not in BUILT:
            raise BadInput(f"{project.path}: workload '{entry['name']}': {kind} workloads are not applied by this "
                           "harmony yet (manifests and kustomize are): comment it out")
        if kind == "kustomize":
            objects = _objects(*_kustomized(project.root / entry["kustomize"], project.path, entry["name"]))
        else:
            paths = entry["manifests"] if isinstance(entry["manifests"], list) else [entry["manifests"]]
            objects = []
            for path in paths:
                for file in _files(project.root / path, project.path, entry["name"]):
                    objects += _objects(file, file.read_text())
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


def _kustomized(directory: Path, project_file: Path, name: str) -> tuple[Path, str]:
    """(the directory, the objects Kustomize builds from it), by `kubectl kustomize`: kubectl
    carries Kustomize, and no Python implementation of it exists."""
    if not directory.is_dir():
        raise BadInput(f"{project_file}: workload '{name}': {directory} is not a directory")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise BadInput(f"{project_file}: workload '{name}': building a Kustomize directory needs kubectl on this "
                       "machine (kubectl kustomize): install kubectl, or list the built manifests instead")
    try:
        built = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise BadInput(f"{directory}: kubectl kustomize took over 120 s") from None
    if built.returncode != 0:
        said = (built.stderr.strip().splitlines() or ["no message"])[-1]
        raise BadInput(f"{directory}: kubectl kustomize failed: {said}")
    return directory, built.stdout


def _objects(file: Path, text: str) -> list[dict]:
    """The objects in `text`, read from `file` (or built from it)."""
    try:
        documents = list(yaml.safe_load_all(text))
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
