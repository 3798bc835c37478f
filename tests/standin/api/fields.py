"""Field ownership as server-side apply keeps it (kubernetes.io/docs/reference/using-api/
server-side-apply/): each manager owns the fields it set, written as FieldsV1 in
metadata.managedFields; an apply that sets a field another manager owns to another value is a
conflict unless forced; a field a manager applied before and leaves out now is removed unless
another manager owns it too. Lists are owned whole here (see the package's docstring)."""

from __future__ import annotations

import copy

from .clock import now
from .errors import ApiError

IDENTITY = (("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"))
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")

def leaves(value, prefix=()) -> dict:
    """{path: value} of every leaf: a scalar, a list (owned whole here) or an empty mapping."""
    if isinstance(value, dict) and value:
        found = {}
        for key, item in value.items():
            found.update(leaves(item, (*prefix, key)))
        return found
    return {prefix: value}


def owned(value: dict) -> dict:
    """The leaves a write of `value` owns: all but the object's identity, status and the
    server's own metadata."""
    return {path: item for path, item in leaves(value).items()
            if path not in IDENTITY and path[0] != "status"
            and not (path[0] == "metadata" and len(path) > 1 and path[1] in SERVER_FIELDS)}


def to_fields(paths) -> dict:
    """Paths as FieldsV1: {"f:spec": {"f:replicas": {}}}."""
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def from_fields(tree: dict, prefix=()) -> set:
    paths = set()
    for key, child in tree.items():
        path = (*prefix, key[2:])
        paths |= from_fields(child, path) if child else {path}
    return paths


def get_path(obj, path):
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def set_path(obj: dict, path, value) -> None:
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[path[-1]] = copy.deepcopy(value)


def remove_path(obj: dict, path) -> None:
    """Remove a leaf, and the mappings it leaves empty."""
    parents = []
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            return
        parents.append((obj, part))
        obj = obj[part]
    obj.pop(path[-1], None)
    for parent, part in reversed(parents):
        if parent[part]:
            break
        del parent[part]


def managers(obj: dict) -> dict[tuple[str, str, str], set]:
    """{(manager, operation, subresource): owned paths} from the object's managedFields."""
    return {(entry["manager"], entry["operation"], entry.get("subresource", "")): from_fields(entry.get("fieldsV1") or {})
            for entry in obj.get("metadata", {}).get("managedFields") or []}


def set_managers(obj: dict, owners: dict, api_version: str) -> None:
    """Write `owners` as managedFields; an entry whose fields did not change keeps its time, so
    a write that changes nothing leaves the object as it was."""
    times = {(e["manager"], e["operation"], e.get("subresource", "")): (e.get("fieldsV1"), e.get("time"))
             for e in obj["metadata"].get("managedFields") or []}
    entries = []
    for (manager, operation, subresource), paths in owners.items():
        if paths:
            fields = to_fields(paths)
            old_fields, old_time = times.get((manager, operation, subresource), (None, None))
            entries.append({"manager": manager, "operation": operation, "apiVersion": api_version,
                            "time": old_time if old_fields == fields else now(),
                            "fieldsType": "FieldsV1", "fieldsV1": fields,
                            **({"subresource": subresource} if subresource else {})})
    obj["metadata"]["managedFields"] = entries


def who(key: tuple[str, str, str], api_version: str | None) -> str:
    """A manager as a conflict names it (the apiserver's fieldmanager, printManager): its
    name, its subresource, and for an Update the version it wrote."""
    manager, operation, subresource = key
    text = f'"{manager}"' + (f' with subresource "{subresource}"' if subresource else "")
    return f"{text} using {api_version}" if operation == "Update" else text


def apply(live: dict | None, config: dict, manager: str, force: bool) -> dict:
    """Server-side apply of `config` by `manager` over `live` (None: create)."""
    result = copy.deepcopy(live) if live else {"apiVersion": config["apiVersion"], "kind": config["kind"],
                                                 "metadata": copy.deepcopy(config["metadata"])}
    owners = managers(result)
    wanted = owned(config)
    versions = {(e["manager"], e["operation"], e.get("subresource", "")): e.get("apiVersion")
                for e in result["metadata"].get("managedFields") or []}
    conflicts = [(key, path) for key, paths in owners.items() if key[0] != manager
                 for path in sorted(paths & set(wanted)) if get_path(result, path) != wanted[path]]
    if conflicts and not force:
        causes = [{"type": "FieldManagerConflict", "field": "." + ".".join(path),
                   "message": f"conflict with {who(key, versions[key])}"} for key, path in conflicts]
        plural = "s" if len(causes) > 1 else ""
        raise ApiError(409, "Conflict", f"Apply failed with {len(causes)} conflict{plural}: " + "; ".join(
            f"{c['message']}: {c['field']}" for c in causes), causes)
    me = (manager, "Apply", "")
    before = owners.get(me, set())
    others = set().union(*(paths for key, paths in owners.items() if key != me))
    for path in before - set(wanted) - others:
        remove_path(result, path)
    for path, value in wanted.items():
        set_path(result, path, value)
    for key in owners:  # a field set to the value it had is shared; one forced to another is taken
        if key[0] != manager:
            owners[key] = {p for p in owners[key] if p not in wanted or get_path(live or {}, p) == wanted[p]}
    owners[me] = set(wanted)
    set_managers(result, owners, config["apiVersion"])
    return result


def update(live: dict, new: dict, manager: str, subresource: str = "") -> dict:
    """A write that is not an apply (a merge patch, a replace, a write to `subresource`):
    `manager` owns what it changed."""
    result = copy.deepcopy(new)
    owners = managers(live)
    before, after = owned(live), owned(result)
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    for key in owners:
        owners[key] = {p for p in owners[key] if p not in changed and p in after}
    me = (manager, "Update", subresource)
    owners[me] = owners.get(me, set()) | (changed & set(after))
    result.setdefault("metadata", {})["managedFields"] = live["metadata"].get("managedFields") or []
    set_managers(result, owners, live["apiVersion"])
    return result


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result

