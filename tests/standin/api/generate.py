#!/usr/bin/env python3
"""Writes resources.json and schemas.json beside this file: the built-in resources of
Kubernetes 1.31 (the minor of k3s v1.31.4, the default the tests install) and their fields, as
the stand-in API serves them. Run it again for another minor:

    pip download --no-deps kubernetes==31.0.0 kubernetes-validate==1.31.0 -d /tmp/k8s
    python3 tests/standin/api/generate.py /tmp/k8s/kubernetes-31.0.0-py2.py3-none-any.whl \
        /tmp/k8s/kubernetes_validate-1.31.0-py3-none-any.whl

Sources:
- the official Python client kubernetes==31.0.0 (generated from the OpenAPI of Kubernetes
  1.31): every REST path and method of its `kubernetes/client/api/*_api.py` gives a resource's
  group, version, plural, scope, verbs and subresources, the model of its response its kind;
- the OpenAPI definitions of Kubernetes v1.31.0 as kubernetes-validate==1.31.0 ships them
  (kubernetes-json-schema/v1.31.0-local/_definitions.json, converted from the release's
  api/openapi-spec/swagger.json by openapi2jsonschema): each kind's fields, with the
  extensions the API server's schema has (`x-kubernetes-list-type`, `-list-map-keys`,
  `-embedded-resource`, `-preserve-unknown-fields`), found by `x-kubernetes-group-version-kind`;
- which versions a server serves by default: kubernetes/kubernetes
  pkg/controlplane/instance.go (1.31), `DefaultAPIResourceConfigSource`: every stable (vN)
  version, no alpha or beta one, but for the legacy beta resources flowcontrol v1beta3
  flowschemas and prioritylevelconfigurations (removed in 1.32);
- what the client does not carry, from the API server's registries
  (pkg/registry/*/*/storage/storage.go): short names (`ShortNames()`), the category `all`
  (`Categories()`), the kinds of the connect subresources (pkg/registry/core/*/rest) and of the
  subresources whose kind lives in another group (`GroupVersionKind()` of ScaleREST,
  EvictionREST, TokenREST);
- the preferred version of a group: the highest by Kubernetes' version priority (GA over beta
  over alpha, then the larger number), as apimachinery's `version.CompareKubeAwareVersionStrings`
  orders them.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
DEFINITIONS = "kubernetes_validate/kubernetes-json-schema/v1.31.0-local/_definitions.json"
LEGACY_BETA = {("flowcontrol.apiserver.k8s.io", "v1beta3", "flowschemas"),
               ("flowcontrol.apiserver.k8s.io", "v1beta3", "prioritylevelconfigurations")}
SHORT_NAMES = {
    "componentstatuses": ["cs"], "configmaps": ["cm"], "endpoints": ["ep"], "events": ["ev"],
    "limitranges": ["limits"], "namespaces": ["ns"], "nodes": ["no"], "persistentvolumeclaims": ["pvc"],
    "persistentvolumes": ["pv"], "pods": ["po"], "replicationcontrollers": ["rc"], "resourcequotas": ["quota"],
    "serviceaccounts": ["sa"], "services": ["svc"], "customresourcedefinitions": ["crd", "crds"],
    "daemonsets": ["ds"], "deployments": ["deploy"], "replicasets": ["rs"], "statefulsets": ["sts"],
    "horizontalpodautoscalers": ["hpa"], "cronjobs": ["cj"], "certificatesigningrequests": ["csr"],
    "ingresses": ["ing"], "networkpolicies": ["netpol"], "poddisruptionbudgets": ["pdb"],
    "priorityclasses": ["pc"], "storageclasses": ["sc"],
}
CATEGORY_ALL = {"pods", "replicationcontrollers", "services", "daemonsets", "deployments", "replicasets",
                "statefulsets", "horizontalpodautoscalers", "cronjobs", "jobs"}
CONNECT_KINDS = {"attach": "PodAttachOptions", "exec": "PodExecOptions", "portforward": "PodPortForwardOptions"}
OTHER_GROUP_KINDS = {"Scale": ("autoscaling", "v1"), "Eviction": ("policy", "v1"),
                     "TokenRequest": ("authentication.k8s.io", "v1")}
VERBS = {("collection", "GET"): "list", ("collection", "POST"): "create",
         ("collection", "DELETE"): "deletecollection", ("item", "GET"): "get", ("item", "PUT"): "update",
         ("item", "PATCH"): "patch", ("item", "DELETE"): "delete", ("item", "POST"): "create"}
CALL = re.compile(r"def (\w+)_with_http_info\(self.*?all_params = \[(.*?)\].*?"
                  r"call_api\(\s*'([^']+)', '(\w+)'.*?response_type=(\S+?),", re.S)


def version_priority(version: str) -> tuple:
    """apimachinery's kube-aware order, highest first: v2 > v1 > v2beta1 > v1beta2 > v1alpha1."""
    major, level, minor = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version).groups()
    return ({None: 2, "beta": 1, "alpha": 0}[level], int(major), int(minor or 0))


def kind_of(model: str) -> str:
    """The kind of a client model: V1Deployment, and CoreV1Event (the client's name where two
    groups have a kind of that name), are Deployment and Event."""
    return re.sub(r"^(?:[A-Z][a-z]+)?V\d+(?:alpha\d+|beta\d+)?", "", model.strip("'"))


def served(group: str, version: str, plural: str) -> bool:
    return re.fullmatch(r"v\d+", version) is not None or (group, version, plural) in LEGACY_BETA


def calls(source: str):
    """(group, version, path after the version, method, response model, takes `watch`) per call."""
    for _name, params, path, method, response in CALL.findall(source):
        found = re.fullmatch(r"/api/(v1)/(.+)|/apis/([^/]+)/([^/]+)/(.+)", path)
        if found and method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            version, rest = (found[1], found[2]) if found[1] else (found[4], found[5])
            yield found[3] or "", version, rest.split("/"), method, response.strip("'"), "'watch'" in params


def resources(api_dir: Path) -> list[dict]:
    table: dict[tuple, dict] = {}
    for module in sorted(api_dir.glob("*_api.py")):
        for group, version, parts, method, response, watch in calls(module.read_text()):
            namespaced = parts[:2] == ["namespaces", "{namespace}"] and len(parts) > 2
            rest = parts[2:] if namespaced else parts
            if rest[0] == "watch" or (len(rest) > 1 and rest[1] != "{name}") or len(rest) > 3:
                continue
            if not served(group, version, rest[0]):
                continue
            entry = table.setdefault((group, version, rest[0]), {
                "group": group, "version": version, "name": rest[0], "namespaced": False, "verbs": set(),
                "subresources": {}})
            if len(rest) == 3:
                sub = entry["subresources"].setdefault(rest[2], {"verbs": set(), "response": response})
                sub["verbs"].add(VERBS[("item", method)])
                continue
            entry["namespaced"] |= namespaced
            verb = VERBS[("item" if len(rest) == 2 else "collection", method)]
            entry["verbs"] |= {verb, "watch"} if verb == "list" and watch else {verb}
            if verb in ("get", "create") and response != "V1Status":
                entry.setdefault("model", response)
    out = []
    for entry in table.values():
        kind = kind_of(entry["model"])
        subresources = []
        for name, sub in sorted(entry.pop("subresources").items()):
            sub_kind = CONNECT_KINDS.get(name) or (f"{kind}ProxyOptions" if name == "proxy" else
                                                   kind if sub["response"] == "str" else kind_of(sub["response"]))
            group, version = OTHER_GROUP_KINDS.get(sub_kind, (entry["group"], entry["version"]))
            subresources.append({"name": name, "kind": sub_kind, "group": group, "version": version,
                                 "verbs": sorted(sub["verbs"])})
        out.append({**entry, "kind": kind, "singularName": kind.lower(), "verbs": sorted(entry["verbs"]),
                    "shortNames": SHORT_NAMES.get(entry["name"], []),
                    "categories": ["all"] if entry["name"] in CATEGORY_ALL else [],
                    "subresources": subresources})
    out.sort(key=lambda r: (r["group"], tuple(-p for p in version_priority(r["version"])), r["name"]))
    return out


KEPT = ("properties", "items", "additionalProperties", "$ref", "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys", "x-kubernetes-embedded-resource", "x-kubernetes-preserve-unknown-fields")


def trimmed(schema):
    """What the stand-in reads of a schema: its structure and list types. A definition that
    declares no structure and no scalar type (RawExtension, JSON) takes any value, as the API
    server's decoder takes it."""
    if not isinstance(schema, dict):
        return schema
    kept = {k: v for k, v in schema.items() if k in KEPT}
    for key in ("properties", "additionalProperties"):
        if isinstance(kept.get(key), dict) and key == "properties":
            kept[key] = {name: trimmed(sub) for name, sub in kept[key].items()}
        elif isinstance(kept.get(key), dict):
            kept[key] = trimmed(kept[key])
    if isinstance(kept.get("items"), dict):
        kept["items"] = trimmed(kept["items"])
    if "$ref" in kept:
        kept["$ref"] = kept["$ref"].rsplit("/", 1)[1]
    types = schema.get("type") or []
    scalar = set(types if isinstance(types, list) else [types]) - {"null", "object"} or "oneOf" in schema
    if not (set(kept) & {"properties", "items", "additionalProperties", "$ref"}) and not scalar:
        kept["x-kubernetes-preserve-unknown-fields"] = True
    return kept


def schemas(definitions: dict, table: list[dict]) -> dict[str, dict]:
    """{definition: its trimmed schema} of the definitions the served kinds reach; each
    resource of `table` gets its kind's definition as "model"."""
    by_kind = {(g["group"], g["version"], g["kind"]): name for name, d in definitions.items()
               for g in d.get("x-kubernetes-group-version-kind") or []}
    found: dict[str, dict] = {}
    todo = []
    for r in table:
        r["model"] = by_kind[(r["group"], r["version"], r["kind"])]
        todo.append(r["model"])
    while todo:
        name = todo.pop()
        if name not in found:
            found[name] = trimmed(definitions[name])
            todo += re.findall(r'"\$ref": "([^"]+)"', json.dumps(found[name]))
    return found


def main(client_wheel: str, validate_wheel: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(client_wheel) as archive:
            archive.extractall(tmp, [n for n in archive.namelist() if n.startswith("kubernetes/client/api/")])
        table = resources(Path(tmp) / "kubernetes/client/api")
    with zipfile.ZipFile(validate_wheel) as archive:
        definitions = json.loads(archive.read(DEFINITIONS))["$defs"]
    fields = schemas(definitions, table)
    origin = (f"generated by tests/standin/api/generate.py from {Path(client_wheel).name} and "
              f"{Path(validate_wheel).name}:{DEFINITIONS} (Kubernetes 1.31)")
    (HERE / "resources.json").write_text(json.dumps({"origin": origin, "resources": table}, indent=1) + "\n")
    (HERE / "schemas.json").write_text(json.dumps({"origin": origin, "definitions": fields}, indent=0,
                                                  sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
