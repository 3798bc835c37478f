"""STAND-IN for what helm does inside the install Job of k3s's helm-controller (klipper-helm's
`helm upgrade --install`), beside the stand-in k3s's helm-controller (helm.py, which makes the
Job), for harmony's tests only. Never shipped, never called by harmony.

What it models:
- when a HelmChart's install Job `helm-install-NAME` has succeeded, helm has installed the
  chart, once per Job (a changed chart's new Job upgrades it): the chart's objects are in its
  target namespace (`spec.targetNamespace`, else the HelmChart's own), the release is named
  after the HelmChart (helm-controller's Job runs helm with NAME = the chart's name and
  TARGET_NAMESPACE: k3s-io/helm-controller pkg/controllers/chart/chart.go, `job`), and the
  namespace is created first where `spec.createNamespace` says so (`--create-namespace`);
- the objects as helm writes them: by the field manager `helm`, as Updates (helm 3 creates
  and patches, it does not apply), each with the label `app.kubernetes.io/managed-by: Helm`
  and the annotations `meta.helm.sh/release-name` and `meta.helm.sh/release-namespace`
  (helm/helm pkg/action/validate.go, set on every object it installs);
- helm's record of the release: a Secret `sh.helm.release.v1.NAME.vN` in the target namespace,
  labelled as helm's Secret storage driver labels it (name, owner=helm, status=deployed,
  version=N), one revision per install Job; the stand-in notes the Job's uid on it
  (INSTALLED_BY), so that each Job installs once;
- rendering, for charts carried in the HelmChart (`chartContent`) whose templates are plain
  YAML with only the substitutions `{{ .Release.Name }}`, `{{ .Release.Namespace }}`,
  `{{ .Chart.Name }}` and `{{ .Values.x }}` / `{{ .Values.x.y }}` (the chart's values.yaml
  merged with the HelmChart's `valuesContent`, as helm merges values), each optionally piped
  to `quote` (the worked example's chart uses it). A missing value renders empty, as helm's.

What it does not model: any other template (functions, conditionals, ranges, `include`,
`_helpers.tpl`, `{{-` trimming), subcharts, hooks, NOTES.txt, a chart from a repository (the stand-in fetches
none): a chart it cannot render installs nothing, as before this module, while its Job still
succeeds; objects of kinds the stand-in does not serve are left out; an upgrade leaves the
objects its chart no longer renders (helm deletes them). Deleting the HelmChart uninstalls its
release (helm.released) at once, where helm-controller runs a helm-delete Job first.

`install_succeeded` runs before the stand-in API answers each request (tests/standin/k3s.py),
so a client that sees the Job succeeded sees what it installed too, as helm writes the objects
before its Job's container exits.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
import threading

import yaml

from . import fields, schema
from .errors import ApiError
from .helm import RELEASE_NAME, RELEASE_NAMESPACE
from .store import JOBS, Store

CHART_LABEL = "helmcharts.helm.cattle.io/chart"  # on helm.install_job's Jobs
MANAGED_BY = "app.kubernetes.io/managed-by"
INSTALLED_BY = "standin.harmony/install-job-uid"
SUBSTITUTION = re.compile(r"{{\s*(.*?)\s*}}")
EXPRESSION = re.compile(r"\.(Release\.Name|Release\.Namespace|Chart\.Name|Values((?:\.\w+)+))(\s*\|\s*quote)?")
LOCK = threading.Lock()  # one install at a time: the API answers requests in threads


def install_succeeded(store: Store) -> None:
    """Install the chart of each install Job that succeeded and has not installed it yet."""
    with LOCK:
        for job in store.list(JOBS, None, CHART_LABEL)["items"]:
            conditions = (job.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Complete" and c["status"] == "True" for c in conditions):
                metadata = job["metadata"]
                try:
                    chart = store.get(store.kind("helm.cattle.io/v1", "HelmChart"), metadata["namespace"],
                                      metadata["labels"][CHART_LABEL])
                    install(store, chart, metadata["uid"])
                except ApiError:
                    continue  # its HelmChart is gone, or the API refused an object: helm's install fails


def install(store: Store, chart: dict, job: str) -> None:
    """helm upgrade --install of the HelmChart's chart, by the install Job of uid `job`."""
    release, spec = chart["metadata"]["name"], chart.get("spec") or {}
    namespace = spec.get("targetNamespace") or chart["metadata"]["namespace"]
    records = store.list(store.kind("v1", "Secret"), namespace, f"owner=helm,name={release}")["items"]
    if any((r["metadata"].get("annotations") or {}).get(INSTALLED_BY) == job for r in records):
        return
    documents = render(spec, release, namespace)
    if documents is None:
        return
    namespaces = store.list(store.kind("v1", "Namespace"), None, "")["items"]
    if not any(n["metadata"]["name"] == namespace for n in namespaces):
        if not spec.get("createNamespace"):
            return  # helm's install fails: the namespace does not exist
        write(store, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, None)
    marks = {"labels": {MANAGED_BY: "Helm"}, "annotations": {RELEASE_NAME: release, RELEASE_NAMESPACE: namespace}}
    for document in documents:
        resource = store.kind(str(document.get("apiVersion")), str(document.get("kind")))
        if resource is not None:
            where = (document["metadata"].get("namespace") or namespace) if resource.namespaced else None
            write(store, fields.merge_patch(document, {"metadata": marks}), where)
    version = str(len(records) + 1)
    write(store, {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                  "metadata": {"name": f"sh.helm.release.v1.{release}.v{version}", "annotations": {INSTALLED_BY: job},
                               "labels": {"name": release, "owner": "helm", "status": "deployed", "version": version}}},
          namespace)


def write(store: Store, document: dict, namespace: str | None) -> None:
    """Create or patch an object as helm does: an Update by the manager `helm`."""
    resource = store.kind(document["apiVersion"], document["kind"])
    kind = schema.of(resource)
    store.write(resource, namespace, document["metadata"]["name"],
                lambda live: fields.update(live, fields.merge_patch(live, document), "helm", kind) if live
                else fields.created(document, "helm", kind))


def render(spec: dict, release: str, namespace: str) -> list[dict] | None:
    """The objects of the chart in `chartContent`, rendered with its values; None where the
    stand-in cannot render it (see the module's docstring), or it is not a chart."""
    if not spec.get("chartContent"):
        return None
    try:
        files = chart_files(spec["chartContent"])
        chart = yaml.safe_load(files.get("Chart.yaml", "")) or {}
        values = merged(yaml.safe_load(files.get("values.yaml", "")) or {}, yaml.safe_load(spec.get("valuesContent", "")) or {})
        scope = {"Release.Name": release, "Release.Namespace": namespace, "Chart.Name": chart.get("name", "")}
        documents = []
        for path in sorted(files):
            name = path.rsplit("/", 1)[-1]
            if path.startswith("templates/") and name.endswith((".yaml", ".yml")) and not name.startswith("_"):
                text = substituted(files[path], scope, values)
                if text is None:
                    return None
                documents += [d for d in yaml.safe_load_all(text) if d is not None]
    except (tarfile.TarError, ValueError, yaml.YAMLError):  # not a .tgz, not text, not YAML
        return None
    return documents if all(isinstance(d, dict) and (d.get("metadata") or {}).get("name") for d in documents) else None


def chart_files(content: str) -> dict[str, str]:
    """{path in the chart: text} of a chart's .tgz (base64), laid out as `helm package` does (CHART/path)."""
    files = {}
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(content))) as archive:
        for member in archive.getmembers():
            if member.isfile():
                files[member.name.split("/", 1)[-1]] = archive.extractfile(member).read().decode()
    return files


def substituted(template: str, scope: dict, values: dict) -> str | None:
    """The template with each `{{ ... }}` replaced by its value; None if one is not a
    substitution the stand-in renders."""
    unrendered = []

    def value(match: re.Match) -> str:
        expression = EXPRESSION.fullmatch(match.group(1))
        if expression is None:
            unrendered.append(match.group(1))
            return ""
        found = scope.get(expression.group(1)) if not expression.group(2) else values
        for key in (expression.group(2) or "").split(".")[1:]:
            found = found.get(key) if isinstance(found, dict) else None
        if isinstance(found, (dict, list)):
            unrendered.append(match.group(1))
            return ""
        text = "" if found is None else json.dumps(found) if isinstance(found, bool) else str(found)
        return json.dumps(text) if expression.group(3) else text

    text = SUBSTITUTION.sub(value, template)
    return None if unrendered else text


def merged(base: dict, over: dict) -> dict:
    """Helm's merge of values: mappings merged key by key, anything else replaced. (harmony's
    own, in harmony.workloads.spec, is what the stand-in checks: it shares no code with it.)"""
    result = dict(base)
    for key, value in over.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else value
    return result
