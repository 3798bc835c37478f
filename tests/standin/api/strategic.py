"""Strategic merge patches (kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-
object-kubectl-patch/; apimachinery's pkg/util/strategicpatch), what `kubectl patch` sends by
default and `kubectl apply` (client-side) computes: a JSON merge patch whose lists of type map
merge by their keys (items matched, `$patch: delete` removing one) and whose sets take the
union, with the directives kubectl writes: `$patch: replace` and `delete`, `$retainKeys`,
`$deleteFromPrimitiveList/FIELD`, and `$setElementOrder/FIELD` (read and dropped: where merged
items go is not modelled). Lists are matched by the schema's x-kubernetes-list-map-keys, where
the real patch uses x-kubernetes-patch-merge-key: the same field for all but a few lists (a
container's ports by containerPort, not containerPort and protocol)."""

from __future__ import annotations

import copy

from .fields import child, list_kind
from .schema import resolved

ORDER, DELETE_FROM = "$setElementOrder/", "$deleteFromPrimitiveList/"


def is_directive(key: str) -> bool:
    return key in ("$patch", "$retainKeys") or key.startswith((ORDER, DELETE_FROM))


def _merge_list(target: list, patch: list, schema: dict) -> list:
    if list_kind(schema) == "set":
        return target + [item for item in patch if item not in target]
    keys = schema.get("x-kubernetes-list-map-keys") or []
    result = copy.deepcopy(target)
    for item in patch:
        key = {k: item.get(k) for k in keys if isinstance(item, dict) and k in item}
        found = next((i for i, old in enumerate(result)
                      if isinstance(old, dict) and all(old.get(k) == v for k, v in key.items())), None)
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if found is not None:
                del result[found]
        elif found is None:
            result.append(merge(None, item, schema.get("items") or {}))
        else:
            result[found] = merge(result[found], item, schema.get("items") or {})
    return result


def merge(target, patch, schema: dict):
    """`target` with the strategic merge patch `patch` applied, by `schema`."""
    schema = resolved(schema)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not is_directive(k)}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith(DELETE_FROM):
            field = key[len(DELETE_FROM):]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif is_directive(key):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list) and list_kind(child(schema, key)):
            result[key] = _merge_list(result[key], value, resolved(child(schema, key)))
        else:
            result[key] = merge(result.get(key), value, child(schema, key))
    if "$retainKeys" in patch:
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def without_directives(patch):
    """The patch as a schema sees it: its directives left out."""
    if isinstance(patch, list):
        return [without_directives(item) for item in patch]
    if isinstance(patch, dict):
        return {k: without_directives(v) for k, v in patch.items() if not is_directive(k)}
    return patch
