"""The REST paths of the API (kubernetes.io/docs/reference/using-api/api-concepts/): which
resource, namespace, name and subresource a path names; which verbs the resource allows; and
what each method does with its body (create, replace, server-side apply, merge, strategic and
JSON patches, delete),
after the checks the API server makes first: the request body's size, the kind and name, and
fields the schema does not declare (schema.py)."""

from __future__ import annotations

import json
import time

import yaml

from . import fields, jsonpatch, scale, schema, strategic
from .catalog import Resource, find
from .discovery import OPENAPI_V2, document, openapi
from .errors import ApiError, not_found, status
from .names import generate
from .store import Store, precondition
from .workloads import log_of

MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's limit on a request body (3 MiB)
NOT_SERVED = status(404, "NotFound", "the server could not find the requested resource", {})
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
CUSTOM_PATCHES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
GO_TRUE = ("1", "t", "T", "true", "TRUE", "True")  # Go's strconv.ParseBool
SERVED_ELSEWHERE = {"pods", "nodes"}  # pods are made from workloads, nodes by k3s.py
WATCH_SECONDS = 1.0  # how long a watch stays open; the real API server's ends after minutes


def route(path: str, resources: list[Resource]):
    """(resource, namespace, name, subresource) of an object or collection path; None where the
    path is no resource's."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = find(resources, group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    resource = find(resources, group, version, rest[0])
    if resource is None or len(rest) > 3 or (resource.namespaced and len(rest) > 1 and namespace is None):
        return None
    return resource, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None


def verb_of(method: str, name: str | None) -> str:
    return {("GET", True): "get", ("GET", False): "list", ("POST", False): "create", ("PUT", True): "update",
            ("PATCH", True): "patch", ("DELETE", True): "delete", ("DELETE", False): "deletecollection",
            }.get((method, name is not None), "unknown")


def pods(store: Store, namespace: str, name: str | None, sub: str | None, query: dict):
    """GET of a namespace's pods, a pod, or its log (text)."""
    if name is None:
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": store.pods(
            namespace, query.get("labelSelector", ""))}
    pod = store.pod(namespace, name)
    if sub is None:
        return 200, pod
    if sub == "log":
        lines = log_of(pod).splitlines()
        tail = int(query.get("tailLines", len(lines)))
        return 200, "".join(line + "\n" for line in lines[-tail:] if tail)
    raise ApiError(405, "MethodNotAllowed", "the stand-in does not serve this subresource of pods")


def handle(store: Store, method: str, path: str, query: dict, headers, body: bytes):
    """Answer a request for discovery, an object, a collection or a subresource: (code, JSON
    body, a watch's events, a log's text or OpenAPI v2's protobuf, warnings), or None where the path is no API path (the caller answers it)."""
    if method == "GET" and path == "/openapi/v2":
        return 200, OPENAPI_V2, []
    if method == "GET" and query.get("watch", [""])[0] in GO_TRUE:
        return watch(query)
    resources = store.resources()
    found = (document(path, resources) or openapi(path, resources)) if method == "GET" else None
    if found:
        return 200, found, []
    target = route(path, resources)
    if target is None:
        return (404, NOT_SERVED, []) if path.startswith(("/api/", "/apis/")) else None
    resource, namespace, name, sub = target
    first = {key: values[0] for key, values in query.items()}
    warnings: list[str] = []
    try:
        verb = verb_of(method, name)
        allowed = (resource.subresource(sub) or {}).get("verbs", ()) if sub else resource.verbs
        if verb not in allowed and not (sub and method == "POST" and "create" in allowed):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if resource.name in SERVED_ELSEWHERE:
            if resource.name == "pods" and method == "GET":
                return (*pods(store, namespace, name, sub, first), [])
            raise ApiError(405, "MethodNotAllowed", f"the stand-in does not take writes of {resource.name} here")
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY_BYTES}")
        return (*_answer(store, resource, namespace, name, sub, method, first, headers, body, warnings), warnings)
    except ApiError as error:
        return error.body["code"], error.body, warnings


def watch(query: dict):
    """A watch, as a client meets one on a server whose history is short: open for
    WATCH_SECONDS, then ended with the error a compacted resource version gets (410 Expired),
    on which the client (kubectl wait, an informer's reflector) lists again and watches again.
    So a change is seen within WATCH_SECONDS, by a list, never as an event."""
    time.sleep(min(WATCH_SECONDS, float(query.get("timeoutSeconds", [WATCH_SECONDS])[0])))
    version = query.get("resourceVersion", ["0"])[0]
    return 200, [{"type": "ERROR", "object": status(410, "Expired", f"too old resource version: {version}", {})}], []


def _answer(store, resource, namespace, name, sub, method, query, headers, body, warnings):
    dry = query.get("dryRun") == "All"
    if sub == "scale":
        return scale.handle(store, resource, namespace, name, method, query, headers, body, dry)
    if method == "GET":
        return 200, store.get(resource, namespace, name) if name else \
            store.list(resource, namespace, query.get("labelSelector", ""))
    if method == "DELETE":
        options = json.loads(body) if body else {}
        orphan = (options.get("propagationPolicy") or query.get("propagationPolicy")) == "Orphan"
        version = (options.get("preconditions") or {}).get("resourceVersion")
        if name:
            return 200, store.delete(resource, namespace, name, version, orphan, dry)
        for item in store.list(resource, namespace, query.get("labelSelector", ""))["items"]:
            store.delete(resource, namespace, item["metadata"]["name"], None, orphan, dry)
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200}
    agent = str(headers.get("User-Agent", "unknown")).split("/")[0]
    content = str(headers.get("Content-Type", "")).split(";")[0]
    manager = query.get("fieldManager") or agent
    if content == JSON_PATCH and sub is None:
        operations = json.loads(body or b"[]")
        return store.write(resource, namespace, name, lambda live: _json_patch(live, operations, manager, resource,
                                                                               name, query, warnings), dry)
    doc = yaml.safe_load(body or b"{}") or {}
    if not isinstance(doc, dict):
        raise ApiError(400, "BadRequest", "the request body is not an object")
    if method == "POST":
        meta = doc.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate(meta["generateName"])
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f'{resource.kind} "" is invalid: metadata.name: Required value: '
                                           "name or generateName is required")
    whole = method in ("POST", "PUT") or content == "application/apply-patch+yaml"
    if whole:  # a patch other than an apply names no kind
        _check_kind(resource, doc, name)
    if sub == "status":
        return store.write(resource, namespace, name, lambda live: _status_write(live, doc, method, resource, name), dry,
                           subresource="status")
    doc = _validated(resource, doc, query.get("fieldValidation", "Warn"), content, warnings)
    if method == "POST":
        return store.write(resource, namespace, name, lambda live: fields.created(doc, manager, schema.of(resource)),
                           dry, create_only=True)
    if method == "PUT":
        return store.write(resource, namespace, name, lambda live: _replace(live, doc, manager, resource, name), dry)
    if content == "application/apply-patch+yaml":
        if not query.get("fieldManager"):
            raise ApiError(400, "BadRequest", "PATCH requests with apply content type must have fieldManager")
        force = query.get("force") in GO_TRUE
        return store.write(resource, namespace, name,
                           lambda live: fields.apply(live, doc, manager, force, schema.of(resource)), dry)
    if content == STRATEGIC and resource.crd:
        raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                       f"media types include: {', '.join(CUSTOM_PATCHES)}")
    if content in ("application/merge-patch+json", STRATEGIC):
        return store.write(resource, namespace, name, lambda live: _patch(live, doc, manager, resource, name,
                                                                          content), dry)
    raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content}")


def _validated(resource: Resource, doc: dict, mode: str, content: str, warnings: list[str]) -> dict:
    """The body without the fields the schema does not declare: refused where the request says
    Strict, or is a server-side apply; a warning each where it says Warn (the default)."""
    checked = strategic.without_directives(doc) if content == STRATEGIC else doc
    kept, unknown = schema.prune(checked, schema.of(resource), top=True)
    if not unknown:
        return doc
    if content == "application/apply-patch+yaml":
        raise ApiError(400, "BadRequest", schema.apply_message(doc, unknown))
    if mode == "Strict":
        raise ApiError(400, "BadRequest", schema.strict_message(resource.kind, resource.version, unknown))
    if mode == "Warn":
        warnings += [f'unknown field "{path}"' for path in unknown]
    return kept


def _check_kind(resource: Resource, document: dict, name: str | None) -> None:
    if document.get("kind") != resource.kind or document.get("apiVersion") != resource.group_version:
        raise ApiError(400, "BadRequest", f"the object's kind and apiVersion must be {resource.kind} "
                                          f"{resource.group_version}")
    if (document.get("metadata") or {}).get("name") not in (None, name):
        raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")


def _status_write(live, doc, method, resource, name):
    """A write to the status subresource changes the status only."""
    if live is None:
        raise not_found(resource.qualified, name)
    new = fields.merge_patch(live, doc) if method == "PATCH" else dict(live, status=doc.get("status"))
    live["status"] = new.get("status")
    return live


def _patch(live, patch, manager, resource, name, content):
    if live is None:
        raise not_found(resource.qualified, name)
    kind_schema = schema.of(resource)
    merged = strategic.merge(live, patch, kind_schema) if content == STRATEGIC else fields.merge_patch(live, patch)
    return fields.update(live, merged, manager, kind_schema)


def _json_patch(live, operations, manager, resource, name, query, warnings):
    """A JSON patch, then the fields it made checked as a merge patch's would be."""
    if live is None:
        raise not_found(resource.qualified, name)
    patched = _validated(resource, jsonpatch.apply(live, operations), query.get("fieldValidation", "Warn"),
                         JSON_PATCH, warnings)
    return fields.update(live, patched, manager, schema.of(resource))


def _replace(live, document, manager, resource, name):
    if live is None:
        raise not_found(resource.qualified, name)
    precondition(live, (document.get("metadata") or {}).get("resourceVersion"), resource)
    return fields.update(live, document, manager, schema.of(resource))
