"""What the API does with fields its schema does not know (kubernetes.io/docs/reference/
using-api/api-concepts/#field-validation): it drops them, and with `fieldValidation=Strict`
refuses the write instead; the default, Warn, answers with a warning for each.

One structural schema form serves both kinds of resource: a custom resource's
openAPIV3Schema (`properties`, `items`, `additionalProperties`, `x-kubernetes-preserve-
unknown-fields`, `x-kubernetes-embedded-resource`: apiextensions-apiserver's pruning,
pkg/apiserver/schema/pruning/algorithm.go), and a built-in kind's, its definition in the
OpenAPI of Kubernetes 1.31 (schemas.json, made by generate.py)."""

from __future__ import annotations

from .catalog import SCHEMAS

OBJECT_META = {"$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
TOP = ("apiVersion", "kind", "metadata")


def of(resource) -> dict:
    """A resource's schema: a custom resource's openAPIV3Schema, a built-in kind's definition."""
    return resource.schema if resource.schema is not None else {"$ref": resource.model}


def resolved(schema: dict) -> dict:
    """A schema, its `$ref` (to a built-in definition) followed."""
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"]]
    return schema


def prune(value, schema: dict, path: str = "", top: bool = False) -> tuple[object, list[str]]:
    """`value` without the fields `schema` does not declare, and the paths of those fields
    (`spec.foo`, `spec.containers[0].bar`), as the strict decoder names them. `top`: the
    object itself, whose apiVersion, kind and metadata every schema allows."""
    schema = resolved(schema)
    if isinstance(value, list) and "items" in schema:
        pairs = [prune(item, schema["items"], f"{path}[{index}]") for index, item in enumerate(value)]
        return [item for item, _ in pairs], [p for _, found in pairs for p in found]
    if not isinstance(value, dict):
        return value, []
    properties, extra = schema.get("properties"), schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    embedded = top or schema.get("x-kubernetes-embedded-resource", False)
    kept, unknown = {}, []
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if embedded and key in TOP:
            sub = OBJECT_META if key == "metadata" else {"type": "string"}
        elif properties is not None and key in properties:
            sub = properties[key]
        elif isinstance(extra, dict):
            sub = extra
        elif preserve or extra is True:
            kept[key] = item
            continue
        else:
            unknown.append(child)
            continue
        kept[key], found = prune(item, sub, child)
        unknown += found
    return kept, unknown


def strict_message(kind: str, version: str, unknown: list[str]) -> str:
    """The strict decoder's refusal (apimachinery's json.go `strict decoding error`), as
    kubectl prints it: `Deployment in version "v1" cannot be handled as a Deployment: ...`."""
    fields = ", ".join(f'unknown field "{path}"' for path in unknown)
    return f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {fields}'


def apply_message(obj: dict, unknown: list[str]) -> str:
    """Server-side apply's refusal of a field the schema does not declare (structured-merge-
    diff's typed conversion), which it answers whatever fieldValidation says."""
    meta = obj.get("metadata") or {}
    where = "/".join(filter(None, (meta.get("namespace"), meta.get("name"))))
    return (f"failed to create typed patch object ({where}; {obj.get('apiVersion')}, Kind={obj.get('kind')}): "
            f".{unknown[0]}: field not declared in schema")
