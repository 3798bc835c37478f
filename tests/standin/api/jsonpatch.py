"""JSON patches (RFC 6902: add, remove, replace, move, copy, test; paths as RFC 6901 JSON
pointers), what `kubectl patch --type=json` sends. A patch that cannot apply is refused with
422, as the API server refuses it (apiserver's patch handler: "the server rejected our
request due to an error in our request")."""

from __future__ import annotations

import copy

from .errors import ApiError


def _refused(why: str) -> ApiError:
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {why}")


def _parts(pointer: str) -> list[str]:
    if pointer and not pointer.startswith("/"):
        raise _refused(f"invalid JSON pointer {pointer!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _parent(doc, pointer: str):
    parts = _parts(pointer)
    if not parts:
        raise _refused("the whole document cannot be patched")
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _refused(f"path {pointer} does not exist") from None
    return node, parts[-1]


def _get(doc, pointer: str):
    node, last = _parent(doc, pointer)
    try:
        return node[int(last)] if isinstance(node, list) else node[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise _refused(f"path {pointer} does not exist") from None


def _add(doc, pointer: str, value) -> None:
    node, last = _parent(doc, pointer)
    if isinstance(node, list):
        node.insert(len(node) if last == "-" else int(last), value)
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise _refused(f"path {pointer} does not exist")


def _remove(doc, pointer: str):
    value = _get(doc, pointer)
    node, last = _parent(doc, pointer)
    del node[int(last) if isinstance(node, list) else last]
    return value


def apply(target: dict, operations) -> dict:
    if not isinstance(operations, list):
        raise _refused("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _remove(doc, path)
            _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            _add(doc, path, _remove(doc, op.get("from", "")))
        elif kind == "copy":
            _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _refused(f"testing value {path} failed")
        else:
            raise _refused(f"unexpected kind of operation {kind!r}")
    return doc
