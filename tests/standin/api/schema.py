"""What the API does with fields its schema does not know (kubernetes.io/docs/reference/
using-api/api-concepts/#field-validation): it drops them, and with `fieldValidation=Strict`
refuses the write instead; the default, Warn, answers with a warning for each.

One structural schema form serves both kinds of resource: a custom resource's
openAPIV3Schema (`properties`, `items`, `additionalProperties`, `x-kubernetes-preserve-
unknown-fields`, `x-kubernetes-embedded-resource`: apiextensions-apiserver's pruning,
pkg/apiserver/schema/pruning/algorithm.go), and a built-in kind's, made from the official
Python client's models (schemas.json: each model's fields and their types)."""

from __future__ import annotations

from .catalog import SCHEMAS

ANY = {"x-kubernetes-preserve-unknown-fields": True}
OBJECT_META = {"$model": "V1ObjectMeta"}
TOP = ("apiVersion", "kind", "metadata")


def model_schema(type_name: str) -> dict:
    """The schema of a client model type: `list[V1Container]`, `dict(str, str)`, `V1PodSpec`,
    `object` (any value: the client's name for a free-form field, as RawExtension)."""
    if type_name.startswith("list["):
        return {"type": "array", "items": model_schema(type_name[5:-1])}
    if type_name.startswith("dict("):
        return {"type": "object", "additionalProperties": model_schema(type_name[5:-1].split(", ", 1)[1])}
    if type_name in SCHEMAS:
        return {"$model": type_name}
    return ANY if type_name == "object" else {"type": type_name}


def _resolved(schema: dict) -> dict:
    if "$model" in schema:
        fields = SCHEMAS[schema["$model"]]
        return {"type": "object", "properties": {name: model_schema(t) for name, t in fields.items()}}
    return schema


def prune(value, schema: dict, path: str = "", top: bool = False) -> tuple[object, list[str]]:
    """`value` without the fields `schema` does not declare, and the paths of those fields
    (`spec.foo`, `spec.containers[0].bar`), as the strict decoder names them. `top`: the
    object itself, whose apiVersion, kind and metadata every schema allows."""
    schema = _resolved(schema)
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
