"""The discovery documents kubectl and the clients read (kubernetes.io/docs/concepts/overview/
kubernetes-api/#discovery-api): /api/v1, /apis (every group with all its versions and the
preferred one), /apis/GROUP and /apis/GROUP/VERSION, from what the server serves now; and the
OpenAPI v3 index and documents, through which kubectl learns that the server validates fields
itself (each object path's PATCH takes `fieldValidation`). Aggregated discovery (the v2
APIGroupDiscoveryList) is not served: clients fall back to these."""

from __future__ import annotations

from .catalog import Resource, groups


def _group(name: str, versions: list[str]) -> dict:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def document(path: str, resources: list[Resource]) -> dict | None:
    """The discovery document at `path`, or None where it is not one."""
    served = groups(resources)
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [_group(g, v) for g, v in served.items() if g]}
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) == 2 and parts[1] in served:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], served[parts[1]])}
    group, version = ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else \
        (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else (None, None)
    if group is None or version not in served.get(group, ()):
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [e for r in resources if (r.group, r.version) == (group, version) for e in r.discovery()]}


def _prefix(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


# OpenAPI v2 as kubectl reads it (protobuf, gnostic's Document): an empty document, no
# definitions. kubectl reads v2 only for a kind that OpenAPI v3 does not list and no CRD names
# (a CRD in the same file as its resource), to validate it client-side, and skips a kind v2
# does not define, as the real v2 (which defines the built-ins only) makes it skip such a kind.
OPENAPI_V2 = b""
OPENAPI_V2_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # kube-openapi answers so


def openapi(path: str, resources: list[Resource]) -> dict | None:
    """OpenAPI v3 as kubectl reads it before it writes: the index of group versions, and per
    group version each kind (any fields here: the server checks them, see schema.py) and its
    object paths, whose PATCH takes `fieldValidation`, so kubectl leaves the check to the server."""
    versions = {(r.group, r.version) for r in resources}
    if path == "/openapi/v3":
        return {"paths": {_prefix(g, v): {"serverRelativeURL": f"/openapi/v3/{_prefix(g, v)}"}
                          for g, v in sorted(versions)}}
    for group, version in versions:
        if path != f"/openapi/v3/{_prefix(group, version)}":
            continue
        schemas, paths = {}, {}
        for r in resources:
            if (r.group, r.version) != (group, version):
                continue
            gvk = {"group": group, "version": version, "kind": r.kind}
            schemas[f"standin.{r.group_version}.{r.kind}"] = {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True, "x-kubernetes-group-version-kind": [gvk]}
            scope = "namespaces/{namespace}/" if r.namespaced else ""
            paths[f"/{_prefix(group, version)}/{scope}{r.name}/{{name}}"] = {"patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes (stand-in)", "version": "unversioned"},
                "paths": paths, "components": {"schemas": schemas}}
    return None
