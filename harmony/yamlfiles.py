"""Every YAML file harmony reads from a project (harmony.yaml, manifests, what Kustomize builds,
values files, Chart.yaml), read within bounds: a file too large, an alias bomb, a nesting deeper
than any Kubernetes object or a key given twice is bad input (exit 2) naming the file, the line
and the fix, instead of memory exhausted, a RecursionError, or a value silently dropped.

The bounds, and why:

- MAX_BYTES (16 MiB) a file: over three times the largest manifests file projects apply whole
  (prometheus-operator's bundle.yaml, every one of its CRDs: 4.6 MB); the API server takes no
  object over 3 MiB (k8s.io/apiserver, pkg/server/config.go: MaxRequestBodyBytes), so a file
  much larger is a mistake, or data that is not a manifest.
- Aliases are expanded as far as kubectl's decoder expands them: `kubectl apply -f` reads a
  manifest with k8s.io/apimachinery's YAMLToJSONDecoder (pkg/util/yaml/decoder.go), that is
  sigs.k8s.io/yaml on go-yaml v2, whose decoder (decode.go, `allowedAliasRatio`) refuses a
  document with over 100 nodes from aliases, over 1000 in all, and more of them from aliases than
  99% (up to 400,000 nodes) tapering to 10% (from 4,000,000). The same rule is applied here to
  the nodes a document would have with its aliases expanded, counted without expanding them, so a
  "billion laughs" is refused after reading its few lines, while the few anchors of a real
  manifest (shared labels, resources) pass.
- MAX_DEPTH (100) levels of nesting: the deepest objects are CRDs' openAPIV3Schema (those of
  prometheus-operator, Prometheus's and Alertmanager's among them, reach 27 levels); harmony's own
  walks of an object (and copy.deepcopy, the kubernetes client's serialization) recurse in Python,
  whose default limit of 1000 frames a few frames a level would reach at a few hundred. go-yaml's
  own limit is 10,000 (scannerc.go: max_flow_level, max_indents): a parser's bound, not an
  object's. The nodes are built here without recursion, so even 5,000 levels are refused cleanly.
- A key given twice in one mapping: YAML forbids it (YAML 1.2, 3.2.1.1: a mapping's keys are
  unique), and go-yaml v3, which Kustomize (`kubectl kustomize`, `apply -k`) reads with, refuses
  it ("mapping key "x" already defined at line 6", decode.go; so does `kubectl kustomize` of
  kubectl v1.32.4, Kustomize v5.5.0, and `kubectl apply -k` in olix0r/l2-k3d-multi#6). `kubectl
  apply -f` keeps the last value instead (sigs.k8s.io/yaml.Unmarshal: "Duplicate fields ... are
  ignored"), which silently drops the first: kubernetes/kubernetes#67477 (a lost volumeMount),
  #125885.

PyYAML's C parser is used where it is built: a 1.1 MB manifest of 1,200 Deployments reads in
0.5 to 1.3 s on a busy 2-core machine, where the pure Python one takes 3 to 9 s, nearly all of it
in PyYAML's own scanner. The checks are made on the parser's events, the same with either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from harmony.errors import BadInput, not_yaml

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 100
PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    node: yaml.Node  # its nodes, to name the line of any value
    value: Any


def read(path: Path) -> str:
    """The text of the file at `path`, once it is known to be within MAX_BYTES."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _too_large(path, size)
        return path.read_text()
    except OSError as error:
        raise BadInput(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not text (UTF-8): name a YAML file") from None


def documents(path: Path, text: str | None = None) -> list[Document]:
    """The documents of the YAML file at `path` (or of `text`, read or built from it)."""
    if text is None:
        text = read(path)
    elif len(text) > MAX_BYTES:
        raise _too_large(path, len(text.encode()))
    try:
        nodes = _Composer(path).documents(yaml.parse(text, Loader=PARSER))
        return [Document(node, SafeConstructor().construct_document(node)) for node in nodes]
    except yaml.YAMLError as error:
        raise not_yaml(path, error, "fix the file's syntax") from None


def document(path: Path, text: str | None = None) -> Document | None:
    """The one document of the YAML file at `path` (None for an empty file)."""
    found = documents(path, text)
    if len(found) > 1:
        line = found[1].node.start_mark.line + 1
        raise BadInput(f"{path}:{line}: a second YAML document (after ---): this file holds one, remove the rest")
    return found[0] if found else None


def load(path: Path, text: str | None = None) -> Any:
    """The value of the one document of the YAML file at `path` (None for an empty file)."""
    found = document(path, text)
    return found.value if found else None


def _too_large(path: Path, size: int) -> BadInput:
    return BadInput(f"{path}: {size:,} bytes, over harmony's limit of {MAX_BYTES:,} for a YAML file: is it the "
                    "file meant? Split it into smaller files")


def _allowed_alias_ratio(nodes: int) -> float:
    """go-yaml v2's share of a document's nodes that may come from aliases (decode.go)."""
    low, high = 400_000, 4_000_000
    if nodes <= low:
        return 0.99
    if nodes >= high:
        return 0.10
    return 0.99 - 0.89 * (nodes - low) / (high - low)


class _Resolver(Resolver):
    """PyYAML's YAML 1.1 tags, but a plain `=` is the string "=", as go-yaml (and so kubectl)
    reads it: PyYAML makes it its 1.1 "value" type, which no safe constructor takes, so a real CRD
    (prometheus-operator's AlertmanagerConfig: `enum: ['!=', =, =~, '!~']`) failed to load."""

    yaml_implicit_resolvers = {first: resolvers for first, resolvers in Resolver.yaml_implicit_resolvers.items()
                               if first != "="}


class _Frame:
    """A collection being built: its node and anchor, its size with aliases expanded, and (a
    mapping's) the key waiting for its value and the keys it has, with their lines."""

    def __init__(self, node: yaml.CollectionNode, anchor: str | None):
        self.node, self.anchor, self.size, self.key, self.keys = node, anchor, 1, None, {}


class _Composer:
    """PyYAML's composer (events to nodes) without its recursion, refusing what is out of bounds."""

    def __init__(self, path: Path):
        self.path, self.resolver = path, _Resolver()

    def documents(self, events) -> list[yaml.Node]:
        found: list[yaml.Node] = []
        for event in events:  # the commonest first: this loop is most of the time the checks take
            if isinstance(event, yaml.ScalarEvent):
                self.written += 1
                node = yaml.ScalarNode(self._tag(event, yaml.ScalarNode, event.value), event.value,
                                       event.start_mark, event.end_mark, event.style)
                self._add(node, 1, event.anchor, event)
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(self.stack) >= MAX_DEPTH:
                    raise BadInput(f"{self.path}:{event.start_mark.line + 1}: nested deeper than {MAX_DEPTH} "
                                   "levels, deeper than any Kubernetes object: is it the file meant? Nest it less deeply")
                self.written += 1
                kind = yaml.MappingNode if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceNode
                node = kind(self._tag(event, kind, None), [], event.start_mark, None, event.flow_style)
                self.stack.append(_Frame(node, event.anchor))
            elif isinstance(event, yaml.CollectionEndEvent):
                frame = self.stack.pop()
                frame.node.end_mark = event.end_mark
                self._add(frame.node, frame.size, frame.anchor, event)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event)
            elif isinstance(event, yaml.DocumentStartEvent):
                self.stack: list[_Frame] = []
                self.anchors: dict[str, tuple[yaml.Node, int]] = {}  # node, size with aliases expanded
                self.written = self.aliased = 0  # nodes as written, and those its aliases add
            elif isinstance(event, yaml.DocumentEndEvent):
                found.append(self.root)
        return found

    def _tag(self, event: yaml.NodeEvent, kind: type, value: str | None) -> str:
        if event.tag is None or event.tag == "!":
            return self.resolver.resolve(kind, value, event.implicit)
        return event.tag

    def _alias(self, event: yaml.AliasEvent) -> None:
        """An alias: its anchor's node again, counted as go-yaml's decoder counts it expanded."""
        if event.anchor not in self.anchors:
            raise self._error(event, f"*{event.anchor} is the alias of no anchor before it: &{event.anchor} "
                                     "must come first (and not around it)")
        node, size = self.anchors[event.anchor]
        self.written += 1
        self.aliased += size
        total = self.written + self.aliased
        if self.aliased > 100 and total > 1000 and self.aliased / total > _allowed_alias_ratio(total):
            raise self._error(event, f"its aliases expand it to over {total:,} values, more than kubectl's YAML "
                                     "decoder allows: write the values out, or use fewer aliases")
        self._add(node, 1 + size, None, event)

    def _add(self, node: yaml.Node, size: int, anchor: str | None, event: yaml.Event) -> None:
        """Put a finished node (of `size` nodes with its aliases expanded) in its collection."""
        if anchor is not None:
            self.anchors[anchor] = (node, size)
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        frame.size += size
        if isinstance(frame.node, yaml.SequenceNode):
            frame.node.value.append(node)
        elif frame.key is not None:
            frame.node.value.append((frame.key, node))
            frame.key = None
        else:
            if isinstance(node, yaml.ScalarNode):
                if node.value in frame.keys:
                    raise self._error(event, f"'{node.value}' is given twice (first on line "
                                             f"{frame.keys[node.value]}): keep one")
                frame.keys[node.value] = node.start_mark.line + 1
            frame.key = node

    def _error(self, event: yaml.Event, problem: str) -> BadInput:
        """BadInput naming the file, the line of `event`, and where in its document it is."""
        path = ""
        for frame in self.stack:
            if isinstance(frame.node, yaml.SequenceNode):
                path += f"[{len(frame.node.value)}]"
            elif frame.key is not None:
                path += f".{frame.key.value}" if isinstance(frame.key, yaml.ScalarNode) else ".?"
        path = path.lstrip(".")
        return BadInput(f"{self.path}:{event.start_mark.line + 1}: {path + ': ' if path else ''}{problem}")
