"""Field ownership as server-side apply keeps it (kubernetes.io/docs/reference/using-api/
server-side-apply/): each manager owns the fields it set, written as FieldsV1 in
metadata.managedFields; an apply that sets a field another manager owns to another value is a
conflict unless forced; a field a manager applied before and leaves out now is removed unless
another manager owns it too. Lists merge as structured-merge-diff merges them, by the schema's
`x-kubernetes-list-type`: a list of type map by its items' keys (`x-kubernetes-list-map-keys`:
containers and env by name, container ports by containerPort and protocol...), a set by value,
each item owned on its own (`k:{"name":"web"}` in FieldsV1, as the API server writes it); other
lists are atomic, owned and replaced whole."""

from __future__ import annotations

import copy
import json

from .clock import now
from .errors import ApiError
from .schema import resolved

IDENTITY = (("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"))
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")

class Item(str):
    """A list item in a path, as FieldsV1 names it: `k:{"name":"web"}` (an item of a list of
    type map, by its keys) or `v:"a"` (an item of a set)."""

    def value(self):
        return json.loads(self[2:])

    def matches(self, item) -> bool:
        if self.startswith("v:"):
            return item == self.value()
        return isinstance(item, dict) and all(item.get(k) == v for k, v in self.value().items())

    def new(self):
        """The item as its key alone makes it."""
        return copy.deepcopy(self.value())


DOT = "."  # after an Item in a path: the item itself, which its owner keeps in the list
ITEM = object()  # what a path ending in DOT holds while its item is there


def list_kind(schema: dict) -> str | None:
    """How server-side apply merges a list of this schema: "map" (items by their keys),
    "set", or None (atomic: replaced whole)."""
    kind = schema.get("x-kubernetes-list-type")
    return kind if kind in ("map", "set") else None


def item_of(schema: dict, item) -> Item:
    if list_kind(schema) == "set":
        return Item("v:" + json.dumps(item, separators=(",", ":")))
    keys = {k: item.get(k) for k in schema.get("x-kubernetes-list-map-keys") or [] if isinstance(item, dict) and k in item}
    return Item("k:" + json.dumps(keys, sort_keys=True, separators=(",", ":")))


def child(schema: dict, key: str) -> dict:
    schema = resolved(schema)
    properties, extra = schema.get("properties") or {}, schema.get("additionalProperties")
    return properties.get(key) or (extra if isinstance(extra, dict) else {})


def leaves(value, schema: dict, prefix=()) -> dict:
    """{path: value} of every leaf: a scalar, an atomic list or an empty mapping; a list of
    type map or set has a leaf per item (with DOT: the item itself) and the leaves inside it."""
    schema = resolved(schema)
    if isinstance(value, dict) and value:
        found = {}
        for key, item in value.items():
            found.update(leaves(item, child(schema, key), (*prefix, key)))
        return found
    if isinstance(value, list) and list_kind(schema):  # an empty one: no items of this manager's
        found = {}
        for item in value:
            part = item_of(schema, item)
            if list_kind(schema) == "set":
                found[(*prefix, part)] = item
            else:
                found[(*prefix, part, DOT)] = ITEM
                found.update(leaves(item, schema.get("items") or {}, (*prefix, part)))
        return found
    return {prefix: value}


def owned(value: dict, schema: dict) -> dict:
    """The leaves a write of `value` owns: all but the object's identity, status and the
    server's own metadata."""
    return {path: item for path, item in leaves(value, schema).items()
            if path not in IDENTITY and path[0] != "status"
            and not (path[0] == "metadata" and len(path) > 1 and path[1] in SERVER_FIELDS)}


def to_fields(paths) -> dict:
    """Paths as FieldsV1: {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}}}."""
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part if isinstance(part, Item) or part == DOT else f"f:{part}", {})
    return tree


def from_fields(tree: dict, prefix=()) -> set:
    paths = set()
    for key, sub in tree.items():
        part = key[2:] if key.startswith("f:") else key if key == DOT else Item(key)
        path = (*prefix, part)
        paths |= from_fields(sub, path) if sub else {path}
    return paths


def _find(items, part: Item):
    return next((item for item in items if part.matches(item)), None) if isinstance(items, list) else None


def get_path(obj, path):
    """The value at `path`; ITEM for an item that is there (DOT)."""
    for part in path:
        if part == DOT:
            return ITEM if obj is not None else None
        obj = _find(obj, part) if isinstance(part, Item) else obj.get(part) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


def set_path(obj: dict, path, value) -> None:
    """Set a leaf, making the mappings, lists and list items on the way to it."""
    node = obj
    for index, part in enumerate(path):
        last = index == len(path) - 1
        if part == DOT:
            return
        if isinstance(part, Item):
            item = _find(node, part)
            if item is None:
                item = part.new()
                node.append(item)
            node = item
            continue
        if last:
            node[part] = copy.deepcopy(value)
            return
        kind = list if isinstance(path[index + 1], Item) else dict
        if not isinstance(node.get(part), kind):
            node[part] = kind()
        node = node[part]


def remove_path(obj: dict, path) -> None:
    """Remove a leaf (a DOT: its item, from its list), and the mappings and lists it leaves empty."""
    parents, node = [], obj
    for part in path[:-1] if path[-1] != DOT else path[:-2]:
        child_node = _find(node, part) if isinstance(part, Item) else node.get(part) if isinstance(node, dict) else None
        if child_node is None:
            return
        parents.append((node, part))
        node = child_node
    last = path[-2] if path[-1] == DOT else path[-1]
    if isinstance(last, Item):
        item = _find(node, last)
        if item is not None:
            node.remove(item)
    elif isinstance(node, dict):
        node.pop(last, None)
    for parent, part in reversed(parents):
        here = _find(parent, part) if isinstance(part, Item) else parent[part]
        if here or isinstance(part, Item):
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


def path_text(path) -> str:
    """A path as structured-merge-diff prints it: `.spec.containers[name="web"].image`."""
    text = ""
    for part in path:
        if isinstance(part, Item):
            value = part.value()
            text += "[" + (",".join(f"{k}={json.dumps(v)}" for k, v in value.items()) if part.startswith("k:")
                           else f"={json.dumps(value)}") + "]"
        elif part != DOT:
            text += f".{part}"
    return text


def who(key: tuple[str, str, str], api_version: str | None) -> str:
    """A manager as a conflict names it (the apiserver's fieldmanager, printManager): its
    name, its subresource, and for an Update the version it wrote."""
    manager, operation, subresource = key
    text = f'"{manager}"' + (f' with subresource "{subresource}"' if subresource else "")
    return f"{text} using {api_version}" if operation == "Update" else text


def apply(live: dict | None, config: dict, manager: str, force: bool, schema: dict) -> dict:
    """Server-side apply of `config` by `manager` over `live` (None: create); `schema`: the
    kind's, whose list types say how lists merge."""
    result = copy.deepcopy(live) if live else {"apiVersion": config["apiVersion"], "kind": config["kind"],
                                                 "metadata": copy.deepcopy(config["metadata"])}
    owners = managers(result)
    wanted = owned(config, schema)
    versions = {(e["manager"], e["operation"], e.get("subresource", "")): e.get("apiVersion")
                for e in result["metadata"].get("managedFields") or []}
    conflicts = [(key, path) for key, paths in owners.items() if key[0] != manager
                 for path in sorted(paths & set(wanted)) if wanted[path] is not ITEM and get_path(result, path) != wanted[path]]
    if conflicts and not force:
        causes = [{"type": "FieldManagerConflict", "field": path_text(path),
                   "message": f"conflict with {who(key, versions[key])}"} for key, path in conflicts]
        plural = "s" if len(causes) > 1 else ""
        raise ApiError(409, "Conflict", f"Apply failed with {len(causes)} conflict{plural}: " + "; ".join(
            f"{c['message']}: {c['field']}" for c in causes), causes)
    me = (manager, "Apply", "")
    before = owners.get(me, set())
    others = set().union(*(paths for key, paths in owners.items() if key != me))
    for path in sorted(before - set(wanted) - others, key=lambda p: (p[-1] == DOT, p), reverse=True):
        remove_path(result, path)  # an item whole before its fields (its keys among them)
    for path, value in wanted.items():
        set_path(result, path, value)
    for key in owners:  # a field set to the value it had is shared; one forced to another is taken
        if key[0] != manager:
            owners[key] = {p for p in owners[key] if p not in wanted or get_path(live or {}, p) == wanted[p]}
    owners[me] = set(wanted)
    set_managers(result, owners, config["apiVersion"])
    return result


def created(obj: dict, manager: str, schema: dict) -> dict:
    """A create (POST): `manager` owns every field it set, as an Update (so that `kubectl
    create` then `kubectl apply --server-side` of another value conflicts with kubectl-create)."""
    result = copy.deepcopy(obj)
    result["metadata"]["managedFields"] = []
    set_managers(result, {(manager, "Update", ""): set(owned(obj, schema))}, obj["apiVersion"])
    return result


def update(live: dict, new: dict, manager: str, schema: dict, subresource: str = "") -> dict:
    """A write that is not an apply (a merge patch, a replace, a write to `subresource`):
    `manager` owns what it changed."""
    result = copy.deepcopy(new)
    owners = managers(live)
    before, after = owned(live, schema), owned(result, schema)
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

