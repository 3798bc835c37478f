"""A workload's objects, read from the files harmony.yaml names (or built by Kustomize from
the directory it names), on the controller and before anything runs: a file that is not YAML,
or a document that is not a Kubernetes object, is bad input (exit 2) naming the file and the
document."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harmony import shown, yamlfiles
from harmony.errors import BadInput
from harmony.workloads import duplicates, helmignore
from harmony.workloads.confine import ProjectFiles

SUFFIXES = (".yaml", ".yml", ".json")
HELM_NAMESPACE = "kube-system"  # where k3s's own HelmCharts are, and their install Jobs
MAX_CHART_CONTENT = 1024 * 1024  # a HelmChart's chartContent, base64 (_refuse_too_large says why)
MAX_HELMCHART = 1536 * 1024  # a whole HelmChart, as JSON


@dataclass(frozen=True)
class Workload:
    name: str
    objects: tuple[dict, ...] = field(default_factory=tuple)
    namespace: str = "default"  # of its namespaced objects that name none
    sources: tuple[str, ...] = ()  # where each object comes from ("FILE, document N[, item I]"), for messages
    image_values: dict[str, str] = field(default_factory=dict)  # a chart's values keys that hold a build: its name

    def source(self, index: int) -> str:
        return self.sources[index] if index < len(self.sources) else f"workload {self.name}"


def load(project, bundle: str | None = None) -> list[Workload]:
    """The project's workloads with their objects, in the file's order, no object given twice;
    with an airgap `bundle`, the charts it holds in place of those from repositories. Every
    file they read is inside the project's directory (`confine`)."""
    workloads, files = [], ProjectFiles(project.path)
    for index, entry in enumerate(project.workloads):
        kind = next(k for k in ("manifests", "kustomize", "helm") if k in entry)
        key = f"workloads[{index}].{kind}"
        if kind == "helm":
            found = [(helm_chart(project, entry, files, key, bundle),
                      f"{project.path}: workload {entry['name']}'s chart")]
        elif kind == "kustomize":
            found = _objects(*_kustomized(entry["kustomize"], files, key, entry["name"]))
        else:
            listed = isinstance(entry["manifests"], list)
            found = []
            for number, path in enumerate(entry["manifests"] if listed else [entry["manifests"]]):
                at = f"{key}[{number}]" if listed else key
                for file in _files(files.named(path, at), files, at, entry["name"], entry.get("recursive", False)):
                    found += _objects(file)
        if not found:
            raise BadInput(f"{project.path}: workload '{entry['name']}': its manifests hold no objects")
        workloads.append(Workload(entry["name"], tuple(o for o, _ in found), entry.get("namespace") or "default",
                                  tuple(s for _, s in found), dict((entry.get("helm") or {}).get("image_values") or {})))
    duplicates.refuse(workloads)
    return workloads


def _files(path: Path, files: ProjectFiles, key: str, name: str, recursive: bool) -> list[Path]:
    """The manifest files at `path` (at `key` in the project file) as `kubectl apply -f` takes
    them (k8s.io/cli-runtime, pkg/resource/visitor.go, ExpandPathsToFileVisitors): a file as
    named; a directory's .yaml, .yml and .json files directly in it, in name order, and with
    `recursive` (`kubectl apply -R`) those of its subdirectories too, each where its name sorts
    (filepath.Walk's order); each inside the project."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BadInput(f"{files.project_file}: workload '{name}': {shown.value(files.relative(path))} does not exist")
    found, entries = [], sorted(path.iterdir(), key=lambda p: p.name)
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            if recursive:
                found += _files(entry, files, key, name, recursive)
        elif entry.suffix in SUFFIXES:
            found.append(files.found(entry, key))
    if not found and not recursive and any(entry.is_dir() for entry in entries):
        raise BadInput(f"{files.project_file}: workload '{name}': {shown.value(files.relative(path))} has no "
                       "manifests directly in it, only in its subdirectories: add recursive: true to read them (as "
                       "kubectl apply -R)")
    return found


def _kustomized(given: str, files: ProjectFiles, key: str, name: str) -> tuple[Path, str]:
    """(the directory, the objects Kustomize builds from it), by `kubectl kustomize`: kubectl
    carries Kustomize, and no Python implementation of it exists. Its load restrictor is named,
    though it is the default, so that no configuration of kubectl can lift it (`confine`)."""
    directory = files.named(given, key)
    if not directory.is_dir():
        raise BadInput(f"{files.project_file}: workload '{name}': {shown.value(files.relative(directory))} "
                       "is not a directory")
    files.kustomization(directory, key)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise BadInput(f"{files.project_file}: workload '{name}': building a Kustomize directory needs kubectl on this "
                       "machine (kubectl kustomize): install kubectl, or list the built manifests instead")
    try:
        built = subprocess.run([kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsRootOnly", str(directory)],
                               capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise BadInput(f"{directory}: kubectl kustomize took over 120 s") from None
    if built.returncode != 0:
        said = (built.stderr.strip().splitlines() or ["no message"])[-1]
        raise BadInput(f"{directory}: kubectl kustomize failed: {said}")
    return directory, built.stdout


def _objects(file: Path, text: str | None = None) -> list[tuple[dict, str]]:
    """The objects in `file` (or in `text`, built from it), each with where it is."""
    objects = []
    for number, document in enumerate((d.value for d in yamlfiles.documents(file, text)), 1):
        if document is None:
            continue
        if isinstance(document, dict) and str(document.get("kind", "")).endswith("List") \
                and isinstance(document.get("items"), list):
            items = [(item, f"document {number}, item {index}") for index, item in enumerate(document["items"], 1)]
        else:
            items = [(document, f"document {number}")]
        for item, where in items:
            problem = _not_an_object(item)
            if problem:
                raise BadInput(f"{file}: {where}: {problem}")
            objects.append((item, f"{file}, {where}"))
    return objects


def _not_an_object(item) -> str | None:
    if not isinstance(item, dict):
        return "not a Kubernetes object (a mapping with apiVersion, kind and metadata.name)"
    missing = [key for key in ("apiVersion", "kind") if not isinstance(item.get(key), str) or not item[key]]
    if not isinstance(item.get("metadata"), dict) or not item["metadata"].get("name"):
        missing.append("metadata.name")
    return f"a Kubernetes object needs {', '.join(missing)}" if missing else None


def remote(helm: dict) -> bool:
    """Whether a workload's chart comes from a repository or an OCI registry."""
    return "repo" in helm or str(helm.get("chart", "")).startswith("oci://")


def bundled_chart(helm: dict) -> str:
    """Where an airgap bundle keeps a chart from a repository (a path in the bundle): its name
    and version, and a hash of where it comes from, so two sources never share a file."""
    source = f"{helm.get('repo', '')} {helm['chart']} {helm['version']}"
    name = helm["chart"].rstrip("/").rsplit("/", 1)[-1]
    return f"charts/{name}-{helm['version']}-{hashlib.sha256(source.encode()).hexdigest()[:12]}.tgz"


def helm_chart(project, entry: dict, files: ProjectFiles, key: str, bundle: str | None = None) -> dict:
    """The workload's HelmChart for k3s's helm-controller (helm.cattle.io/v1), which installs
    the chart in the cluster and keeps it installed: a local chart travels inside it, as
    `chartContent` (so the cluster needs no access to this machine, or to the internet), and so
    does one from a repository or an OCI registry that an airgap `bundle` holds; otherwise that
    one is named, at its pinned version. Its local chart and values files are inside the
    project (`key`: where harmony.yaml gives them)."""
    helm, where = entry["helm"], f"{project.path}: workload '{entry['name']}'"
    spec = {"targetNamespace": entry.get("namespace") or "default", "createNamespace": True}
    chart = helm["chart"]
    if remote(helm):
        if not helm.get("version"):
            raise BadInput(f"{where}: a chart from a repository or an OCI registry needs its version pinned: "
                           "add helm.version")
        if bundle:
            path = Path(bundle) / bundled_chart(helm)
            if not path.is_file():
                raise BadInput(f"{where}: the airgap bundle {bundle} lacks its chart ({chart} {helm['version']}): "
                               f"make it again (harmony bundle {bundle})")
            spec["chartContent"] = base64.b64encode(path.read_bytes()).decode()
        else:
            spec.update(chart=chart, version=str(helm["version"]), **({"repo": helm["repo"]} if "repo" in helm else {}))
    else:
        spec["chartContent"] = chart_archive(files.named(chart, f"{key}.chart"), where, files, f"{key}.chart")
    values = {}
    for index, name in enumerate(helm.get("values_files") or []):
        values = _merged(values, _values_file(files.named(name, f"{key}.values_files[{index}]"), name, where))
    values = _merged(values, helm.get("values") or {})
    if values:
        spec["valuesContent"] = yaml.safe_dump(values, sort_keys=True)
    resource = {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
                "metadata": {"name": entry["name"], "namespace": HELM_NAMESPACE}, "spec": spec}
    _refuse_too_large(resource, where, local=not remote(helm))
    return resource


def _refuse_too_large(resource: dict, where: str, local: bool) -> None:
    """BadInput for a HelmChart the cluster would refuse, or store and then fail to install.

    Its `chartContent` is at most MAX_CHART_CONTENT: helm-controller copies it into the ConfigMap
    chart-content-NAME for the install Job (k3s-io/helm-controller, pkg/controllers/chart/chart.go,
    contentConfigMap), and a ConfigMap's data may total 1 MiB (kubernetes, ValidateConfigMap:
    core.MaxSecretSize), the tightest of the limits on its way. The whole object is at most
    MAX_HELMCHART as JSON, how the API server stores a custom resource: etcd's default request limit
    (1.5 MiB, --max-request-bytes: DefaultMaxRequestBytes), which k3s's embedded etcd keeps, below
    the API server's 3 MiB for a request (k8s.io/apiserver, MaxRequestBodyBytes)."""
    content, whole = len(resource["spec"].get("chartContent", "")), len(json.dumps(resource))
    publish = "publish the chart to a repository or OCI registry and name it with helm.repo and helm.version"
    if content > MAX_CHART_CONTENT:
        raise BadInput(f"{where}: its chart is {content:,} bytes as chartContent, over the {MAX_CHART_CONTENT:,} k3s "
                       f"can install: {publish}{', or leave files out of it with a .helmignore' if local else ''}")
    if whole > MAX_HELMCHART:
        raise BadInput(f"{where}: its HelmChart is {whole:,} bytes, over the {MAX_HELMCHART:,} the cluster stores: "
                       f"make its values smaller, or {publish}")


def chart_archive(directory: Path, where: str, files: ProjectFiles, key: str) -> str:
    """A local chart as `helm package` packs it (a .tgz holding CHART/..., without what its
    .helmignore leaves out), base64: the same bytes for the same files (sorted, no times, no
    owners), so an unchanged chart leaves its HelmChart unchanged. Every file it reads or packs
    is inside the project (a symlink in a chart may point anywhere)."""
    chart_file = directory / "Chart.yaml"
    if not chart_file.is_file():
        raise BadInput(f"{where}: {shown.value(files.relative(directory))} is not a Helm chart (no Chart.yaml)")
    for read_first in (chart_file, directory / helmignore.HELMIGNORE):
        if read_first.exists():
            files.found(read_first, key)
    try:
        name = str((yamlfiles.load(chart_file) or {})["name"])
    except (KeyError, TypeError):
        raise BadInput(f"{chart_file}: a Chart.yaml needs a name") from None
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in helmignore.chart_files(directory):
            files.found(path, key)
            info = tarfile.TarInfo(f"{name}/{path.relative_to(directory).as_posix()}")
            info.size, info.mode = path.stat().st_size, 0o644
            with path.open("rb") as data:
                archive.addfile(info, data)
    return base64.b64encode(buffer.getvalue()).decode()


def _values_file(path: Path, given: str, where: str) -> dict:
    if not path.is_file():
        raise BadInput(f"{where}: the values file {shown.value(given)} does not exist")
    values = yamlfiles.load(path) or {}
    if not isinstance(values, dict):
        raise BadInput(f"{path}: a values file must be a mapping")
    return values


def _merged(base: dict, over: dict) -> dict:
    """Helm's merge of values: mappings merged key by key, anything else replaced."""
    result = dict(base)
    for key, value in over.items():
        result[key] = _merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else value
    return result
