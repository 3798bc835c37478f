"""CustomResourceDefinitions (apiextensions.k8s.io/v1) as apiextensions-apiserver treats them
(kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/):
a CRD is validated as pkg/apis/apiextensions/validation/validation.go does; its naming
controller then accepts its names (condition NamesAccepted) and its establishing controller
marks it Established (ESTABLISH_SECONDS later, where the real one takes a moment), and only
then are its custom resources served, at each served version (the same object at every
version: no conversion), with its scope, its subresources and its schema."""

from __future__ import annotations

import time

from .catalog import Resource
from .clock import now
from .errors import invalid

ESTABLISH_SECONDS = 1.0
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ["get", "patch", "update"]


def loose(group: str, kind: str, plural: str, scope: str = "Namespaced") -> dict:
    """A CRD whose spec and status take any fields: the stand-in's copy of a CRD k3s registers,
    whose own schema declares every field of its Go types (not copied here)."""
    anything = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": scope, "names": {"plural": plural, "kind": kind},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": anything, "status": anything}}}}]}}


# The CRDs k3s registers as it starts, Established before it is ready: helm-controller's
# HelmChart and HelmChartConfig, the deploy controller's Addon, and ETCDSnapshotFile. The CRDs
# of its packaged charts (Traefik's) are not there: the stand-in renders no chart.
K3S_CRDS = (loose("helm.cattle.io", "HelmChart", "helmcharts"),
            loose("helm.cattle.io", "HelmChartConfig", "helmchartconfigs"),
            loose("k3s.cattle.io", "Addon", "addons"),
            loose("k3s.cattle.io", "ETCDSnapshotFile", "etcdsnapshotfiles", "Cluster"))


def validate(crd: dict) -> None:
    """The refusals users meet most: a name that is not `<plural>.<group>`, a group without a
    dot, a scope other than Namespaced or Cluster, no schema, not exactly one storage version."""
    name = crd["metadata"]["name"]
    spec = crd.get("spec") or {}
    names, group = spec.get("names") or {}, spec.get("group", "")
    problems = []
    if name != f"{names.get('plural', '')}.{group}":
        problems.append(("metadata.name", f'Invalid value: "{name}"', 'must be spec.names.plural+"."+spec.group'))
    if "." not in group:
        problems.append(("spec.group", f'Invalid value: "{group}"', "should be a domain with at least one dot"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(("spec.scope", f'Unsupported value: "{spec.get("scope", "")}"',
                         'supported values: "Cluster", "Namespaced"'))
    for field in ("plural", "kind"):
        if not names.get(field):
            problems.append((f"spec.names.{field}", "Required value", ""))
    versions = spec.get("versions") or []
    for index, version in enumerate(versions):
        if not ((version.get("schema") or {}).get("openAPIV3Schema")):
            problems.append((f"spec.versions[{index}].schema.openAPIV3Schema", "Required value", "schemas are required"))
    if sum(bool(v.get("storage")) for v in versions) != 1:
        problems.append(("spec.versions", "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}",
                         "must have exactly one version marked as storage version"))
    if problems:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, problems)


def accepted_names(crd: dict) -> dict:
    names = dict(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    return names


def status(crd: dict, established_at: float) -> dict:
    """The status its controllers write: nothing yet, then (once established) its accepted
    names, NamesAccepted and Established, and its stored version."""
    stored = [v["name"] for v in crd["spec"].get("versions") or [] if v.get("storage")]
    if time.time() < established_at:
        return {"acceptedNames": {"kind": "", "plural": ""}, "conditions": [], "storedVersions": stored}
    when = now()
    return {"acceptedNames": accepted_names(crd), "storedVersions": stored, "conditions": [
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
         "lastTransitionTime": when},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
         "message": "the initial names have been accepted", "lastTransitionTime": when}]}


def resources(crd: dict) -> list[Resource]:
    """The resources an Established CRD serves: one per served version."""
    spec, names = crd["spec"], accepted_names(crd)
    found = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        declared = version.get("subresources") or {}
        subs = [{"name": sub, "kind": "Scale" if sub == "scale" else names["kind"],
                 "group": "autoscaling" if sub == "scale" else spec["group"],
                 "version": "v1" if sub == "scale" else version["name"], "verbs": SUBRESOURCE_VERBS}
                for sub in ("scale", "status") if sub in declared]
        found.append(Resource(group=spec["group"], version=version["name"], name=names["plural"], kind=names["kind"],
                              namespaced=spec["scope"] == "Namespaced", verbs=ALL_VERBS, singular=names["singular"],
                              short_names=tuple(names.get("shortNames") or ()),
                              categories=tuple(names.get("categories") or ()), subresources=tuple(subs),
                              schema=version["schema"]["openAPIV3Schema"], crd=crd["metadata"]["name"]))
    return found
