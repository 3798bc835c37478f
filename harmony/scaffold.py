"""`harmony init`: a commented harmony.yaml for the current directory.

Written from the options given, with the workloads found in the directory (a `k8s/`, `deploy/`,
`manifests/` or `chart/` directory, any `Chart.yaml` or `kustomization.yaml`) and the images it
builds (each `Dockerfile` or `Containerfile`) listed but commented out, for the user to confirm. The text is checked as `harmony up` would check it
before it is written, and an existing file is kept unless `force`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from harmony import project
from harmony.errors import BadInput

MANIFEST_DIRS = ("k8s", "deploy", "manifests")
KUSTOMIZATION = ("kustomization.yaml", "kustomization.yml", "Kustomization")
DOCKERFILES = ("Dockerfile", "Containerfile")  # as docker build and podman build look for one
SKIPPED = {"node_modules", "venv", "vendor"}
PLAIN = re.compile(r"^[A-Za-z0-9_./~-][A-Za-z0-9_./@:+~-]*$")
DEPTH = 3  # how deep a Chart.yaml or kustomization.yaml is looked for


def init(directory: Path, target: str | None = None, version: str | None = None, channel: str | None = None,
         name: str | None = None, runtime: str = "auto", force: bool = False) -> Path:
    """Write `directory`/harmony.yaml; returns its path."""
    path = directory / project.FILENAME
    if path.exists() and not force:
        raise BadInput(f"{path} exists: edit it, or add --force to write a new one over it")
    if version and channel:
        raise BadInput("give --version or --channel, not both: a pinned version has no channel")
    text = render(project.default_name(directory.resolve().name), name or cluster_name(directory.resolve().name),
                  target or "local", version, channel, runtime, find_workloads(directory), find_images(directory))
    try:  # what `up` would refuse is refused here, before writing
        project.parse(text, path, environ={})
    except BadInput as error:
        raise BadInput(f"{error} (from the options given; nothing written)") from None
    staged = path.with_name(f".{path.name}.harmony-init")
    staged.write_text(text)
    os.replace(staged, path)
    return path


def cluster_name(directory_name: str) -> str:
    """The directory's name as a cluster name k3d takes too (lowercase, '-', at most 32)."""
    name = re.sub(r"[^a-z0-9]+", "-", directory_name.lower()).strip("-")[:32].strip("-")
    return name or "harmony"


def find_workloads(directory: Path) -> list[dict]:
    """The workloads `directory` seems to hold, in the order they are best applied: those that
    make a Namespace first (the others' objects go in it), then charts, Kustomize directories (an
    overlay, not the bases it includes: it applies them itself), and plain manifest directories
    that are neither. A chart is installed into the one namespace the others make, else its own."""
    charts = sorted(p.parent for p in _within(directory) if p.name == "Chart.yaml")
    kustomized = _not_included(sorted(p for p in _within(directory) if p.name in KUSTOMIZATION))
    taken = set(charts) | set(kustomized)
    plain = [directory / d for d in MANIFEST_DIRS
             if (directory / d).is_dir() and directory / d not in taken
             and not any(t.is_relative_to(directory / d) for t in taken)
             and any(f.suffix in (".yaml", ".yml") for f in (directory / d).iterdir())]
    made = {path: _namespaces_made(path) for path in kustomized + plain}
    namespaces = set().union(*made.values())
    found, names, makers = [], set(), set()
    for kind, paths in (("helm", charts), ("kustomize", kustomized), ("manifests", plain)):
        for path in paths:
            relative = path.relative_to(directory).as_posix() + "/"
            workload = {"name": _unique(cluster_name(path.name), names)}
            if made.get(path):
                makers.add(workload["name"])
            if kind == "helm":
                workload["namespace"] = next(iter(namespaces)) if len(namespaces) == 1 else workload["name"]
            workload[kind] = {"chart": "./" + relative} if kind == "helm" else relative
            found.append(workload)
    return sorted(found, key=lambda workload: workload["name"] not in makers)


def _not_included(kustomizations: list[Path]) -> list[Path]:
    """The directories of these kustomization files that no other one includes as a resource
    (a base, included by its overlays)."""
    included = set()
    for file in kustomizations:
        entries = (_yaml_documents(file) or [{}])[0]
        for key in ("resources", "bases", "components"):
            included |= {(file.parent / str(entry)).resolve() for entry in entries.get(key) or []}
    return [file.parent for file in kustomizations if file.parent.resolve() not in included]


def _namespaces_made(path: Path) -> set[str]:
    """The names of the Namespace objects in the YAML files under `path`."""
    return {str(document["metadata"]["name"]) for file in sorted(path.rglob("*.y*ml"))
            for document in _yaml_documents(file)
            if document.get("kind") == "Namespace" and (document.get("metadata") or {}).get("name")}


def _yaml_documents(file: Path) -> list[dict]:
    """The mappings a YAML file holds; none where it is no YAML (a template, say)."""
    try:
        return [d for d in yaml.safe_load_all(file.read_text(errors="replace")) if isinstance(d, dict)]
    except (yaml.YAMLError, OSError):
        return []


def find_images(directory: Path) -> list[dict]:
    """An image for each Dockerfile (or Containerfile) in `directory`, named after its directory
    (the project's own name at the top), its context that directory."""
    found, names = [], set()
    for path in sorted(p for p in _within(directory) if p.name in DOCKERFILES):
        context = path.parent.relative_to(directory)
        named = project.default_name(directory.resolve().name if not context.parts else context.name)
        image = {"name": _unique(named, names), "context": "./" + (context.as_posix() + "/" if context.parts else "")}
        if path.name != "Dockerfile":
            image["dockerfile"] = path.name
        found.append(image)
    return found


def _within(directory: Path):
    """The files in `directory`, to DEPTH; not inside a chart (its own subcharts, templates)."""
    for root, dirs, files in os.walk(directory):
        depth = len(Path(root).relative_to(directory).parts)
        inside_chart = "Chart.yaml" in files
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.startswith(".") and depth < DEPTH
                         and not inside_chart)
        for name in files:
            yield Path(root) / name


def _unique(name: str, taken: set) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}-{number}", number + 1
    taken.add(candidate)
    return candidate


def _scalar(value: str) -> str:
    """The value as YAML reads it back as the same string: bare where it can be, else quoted (a
    version like 1.31 would read as a number)."""
    return value if PLAIN.fullmatch(value) and isinstance(yaml.safe_load(value), str) else json.dumps(value)


def render(project_name: str, name: str, target: str, version: str | None, channel: str | None, runtime: str,
           workloads: list[dict], images: list[dict] = ()) -> str:
    release = (f"  version: {_scalar(version)}\n" if version else
               f"  channel: {_scalar(channel or 'stable')}        # or pin a release: version: v1.31.4+k3s1\n")
    lines = [
        "# harmony.yaml: this repository's Kubernetes runtime. `harmony up` (and plan, check, status,",
        "# kubeconfig, down) anywhere in the repository act on it; options given on the command line",
        "# win over it. `harmony schema` prints its JSON Schema, for your editor.",
        "# ${VAR} is the environment variable VAR: the way to give a secret (never write one here).",
        f"name: {_scalar(project_name)}        # this project on the cluster: keep it if the directory moves",
        "cluster:",
        f"  name: {_scalar(name)}        # the kubeconfig context",
        f"  runtime: {runtime}        # auto (chosen from the host), k3s, or k3d (k3s in Docker)",
        release.rstrip("\n"),
        "  # k3s:                   # k3s's settings, for example:",
        "  #   config: {disable: [traefik]}",
        "  #   token: ${CLUSTER_TOKEN}",
        "  # k3d:                   # where the runtime is k3d:",
        "  #   agents: 1",
        "  #   ports: [\"8080:80@loadbalancer\"]",
        "# Where the cluster runs: local, an inventory (inventories/edge.py), one host (root@10.0.0.5),",
        "# a list of hosts, or {servers: [...], agents: [...]}.",
        f"target: {_scalar(target)}",
        "# ssh: {user: ubuntu, key: ~/.ssh/id_ed25519}",
    ]
    if images:
        lines += ["# Images built from this directory's Dockerfiles: uncomment the ones to build; a workload",
                  "# container whose image is the name (any tag) runs the build. See docs/images.md.", "# images:"]
        for image in images:
            lines.append(f"#   - name: {image['name']}")
            lines += [f"#     {key}: {_scalar(image[key])}" for key in ("context", "dockerfile") if key in image]
    if workloads:
        lines += ["# Workloads found in this directory: uncomment the ones to run, in order, once the",
                  "# cluster is Ready.", "# workloads:"]
        for workload in workloads:
            (kind,) = set(workload) - {"name", "namespace"}
            value = workload[kind]
            lines.append(f"#   - name: {workload['name']}")
            if kind == "helm":
                lines += [f"#     namespace: {_scalar(workload['namespace'])}",
                          "#     helm:", f"#       chart: {_scalar(value['chart'])}",
                          "#     # images: [...]   # the images the chart runs, for an airgap bundle (harmony bundle)"]
            else:
                lines.append(f"#     {kind}: {_scalar(value)}")
    else:
        lines += ["# workloads:               # what runs on the cluster, in order, once it is Ready:",
                  "#   - name: web",
                  "#     manifests: k8s/"]
    return "\n".join(lines) + "\n"
