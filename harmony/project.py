"""A project's `harmony.yaml`: found from the current directory, checked, and turned into what
the command line would have said.

The file is the whole spec (the cluster, where it runs, the workloads), so that `harmony up`
with no arguments does what the repository needs. It is found as git finds its directory: in the
current directory or the nearest one above it, up to the repository's root (a directory with
`.git`) or the file system's. Its shape is the JSON Schema shipped beside this module
(project.schema.json), which editors can use too; it is checked before anything runs, and an
error names the file, the line and what the value must be, with a "did you mean" for a
misspelt key.

`${VAR}` in a string is the environment variable VAR, and `$$` a literal `$`: the only way a
secret (a join token) enters the file, so the file itself can be committed. Such a value never
appears in a message, since it may be a secret: its key does (`harmony.shown`).

The cluster's settings become the inventory data keys they name (`cluster.k3s.drain` is
`k3s_drain`): the layer between the inventory and the command line's options, which win.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harmony import releases, shown, targets, yamlfiles
from harmony.errors import BadInput

FILENAME = "harmony.yaml"
SCHEMA = Path(__file__).with_name("project.schema.json")
VARIABLE = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{[^}]*\}?)")
# cluster.<key> -> its data key; cluster.k3s.<key> is k3s_<key>, cluster.k3d.<key> k3d_<key>.
CLUSTER_KEYS = {"name": "harmony_cluster", "runtime": "harmony_runtime", "version": "k3s_version",
                "channel": "k3s_channel", "kubeconfig_server": "harmony_kubeconfig_server",
                "allow_http": "harmony_allow_http"}
# Paths in the file are relative to it, wherever harmony runs from.
PATH_KEYS = {"k3s_airgap_dir", "k3s_token_file"}


@dataclass(frozen=True)
class Project:
    """A checked project file: the data keys it sets, its target and the SSH login to it, and
    its workloads (their paths relative to `root`)."""

    path: Path
    name: str = "harmony"  # the project's identity on the cluster (harmony.workloads.ownership)
    data: dict = field(default_factory=dict)
    target: str | list | dict | None = None
    ssh: dict = field(default_factory=dict)
    wait_timeout: float | None = None
    workloads: tuple[dict, ...] = ()
    images: tuple[dict, ...] = ()  # what it builds from its own code (harmony.images.builds)
    builder: str | None = None  # what builds them; None: the first found

    @property
    def root(self) -> Path:
        return self.path.parent

    def target_of(self, ssh_user: str | None) -> targets.Target:
        """The file's target: a name or path (relative to the file), or its list of hosts."""
        spec = self.target
        if isinstance(spec, str):
            return targets.resolve(spec, ssh_user, cwd=self.root)
        if isinstance(spec, list):
            return targets.of_hosts(spec, [], ssh_user)
        return targets.of_hosts(spec["servers"], spec.get("agents") or [], ssh_user)


def find_and_load(path: str | None = None) -> Project | None:
    """The project in `path` (the -f option), else the one `find` finds, else None."""
    if path is not None:
        if not Path(path).is_file():
            raise BadInput(f"--file {path}: no such file (harmony init writes one)")
        return load(Path(path))
    found = find()
    return load(found) if found else None


def find(start: Path | None = None) -> Path | None:
    """The nearest harmony.yaml from `start` (the current directory) up to the repository's root."""
    directory = (start or Path.cwd()).resolve()
    for candidate in (directory, *directory.parents):
        if (candidate / FILENAME).is_file():
            return candidate / FILENAME
        if (candidate / ".git").exists():
            return None
    return None


def load(path: Path, environ: dict | None = None) -> Project:
    """The project in `path`, checked against the schema; BadInput (exit 2) for anything wrong."""
    path = Path(path).absolute()
    return parse(yamlfiles.read(path), path, environ)


def parse(text: str, path: Path, environ: dict | None = None) -> Project:
    """The project in `text`, the content of `path`."""
    where = _Where(path, text)
    raw = where.load()
    spec = _expand(raw, environ if environ is not None else os.environ, where, ())
    _check(spec, where)
    return _project(path, spec, where)


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The project file's JSON Schema."""
    return json.loads(SCHEMA.read_text())


class _Where:
    """The file's text as YAML nodes, to name the line of any value in it."""

    def __init__(self, path: Path, text: str):
        self.path, self.text, self.root = path, text, None

    def load(self) -> Any:
        found = yamlfiles.document(self.path, self.text)
        self.root = found.node if found else None
        return {} if found is None or found.value is None else found.value

    def node(self, path, key: bool = False):
        """The node at `path` (its key's node, for a mapping's entry with `key`), or the nearest
        one above it that exists."""
        node = self.root
        for index, part in enumerate(path):
            if isinstance(node, yaml.MappingNode):
                entry = next(((k, v) for k, v in node.value if k.value == str(part)), None)
                if entry is None:
                    return node
                node = entry[0] if key and index == len(path) - 1 else entry[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                return node
        return node

    def error(self, path, problem: str, node=None) -> BadInput:
        node = node or self.node(path)
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        name = key_of(path)
        return BadInput(f"{self.path}{line}: {name + ': ' if name else ''}{problem}")


def key_of(path) -> str:
    """A value's place in the file as messages name it: `workloads[2].helm.values_files[0]`."""
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")


def _expand(value, environ, where: _Where, path):
    """The value with ${VAR} in its strings replaced from `environ`."""
    if isinstance(value, dict):
        return {key: _expand(item, environ, where, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, environ, where, (*path, index)) for index, item in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match) -> str:
        if match[1] == "$":
            return "$"
        if not match[2]:
            raise where.error(path, f"'{match[0]}' is not a variable: write ${{NAME}} (or $$ for a $)")
        if match[2] not in environ:
            raise where.error(path, f"the environment variable {match[2]} is not set: set it, or "
                                    f"give the value another way")
        shown.from_environment(environ[match[2]], match[2], key_of(path))
        return environ[match[2]]

    return VARIABLE.sub(replace, value)


def _check(spec, where: _Where) -> None:
    """BadInput for the first thing in `spec`, by line, that the schema refuses."""
    from jsonschema import Draft202012Validator

    found = [_explain(error, where) for error in Draft202012Validator(schema()).iter_errors(spec)]
    if found:
        raise min(found, key=lambda line_error: line_error[0])[1]


def _explain(error, where: _Where) -> tuple[int, BadInput]:
    """(line, BadInput) for one schema error: what is wrong, and what the value must be."""
    path, schema_, kind = tuple(error.absolute_path), error.schema, error.validator
    if kind in ("oneOf", "anyOf") and not _choice_of_keys(error):
        # A value of a type one of the choices takes: that choice's own error says more.
        inner = [e for e in error.context if e.validator != "type"]
        if inner:
            return _explain(min(inner, key=lambda e: -len(e.absolute_path)), where)
    typo = _misspelt_choice(error)
    if kind == "additionalProperties" or typo:
        known = sorted(schema_.get("properties", {}))
        unknown = typo or next(key for key in error.instance if key not in known)
        close = difflib.get_close_matches(str(unknown), known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(known)}"
        if path == ("ssh",) and re.sub(r"[^a-z]", "", str(unknown).lower()) == "proxycommand":
            hint = ("a project file never gives a command to run on this machine (a cloned repository "
                    "must not): put the ProxyCommand in your own ~/.ssh/config")
        node = where.node((*path, unknown), key=True)
        return node.start_mark.line, where.error(path, f"unknown key '{unknown}': {hint}", node=node)
    return _line(where, path), where.error(path, _problem(error))


def _problem(error) -> str:
    kind, rule, schema_ = error.validator, error.validator_value, error.schema
    if kind == "required":
        return f"'{next(key for key in rule if key not in error.instance)}' is missing: add it"
    if _choice_of_keys(error):
        choices = [choice["required"][0] for choice in rule]
        given = [key for key in choices if key in error.instance]
        listed = f"{', '.join(choices[:-1])} or {choices[-1]}"
        return f"give one of {listed}" + (f", not {' and '.join(given)}" if given else "")
    if kind == "dependentRequired":
        key = next(key for key, needs in rule.items()
                   if key in error.instance and not set(needs) <= set(error.instance))
        return f"'{key}' is only for {' and '.join(rule[key])}: remove it"
    if kind == "type":
        value = error.instance
        if rule == "string" and isinstance(value, (bool, int, float)):  # YAML read a bare word as another type
            read = "true or false" if isinstance(value, bool) else "a number"
            return f"must be a string: YAML reads {json.dumps(value)} as {read}, so put it in quotes"
        return f"must be {TYPES.get(rule, rule)}"
    if kind == "enum":
        return f"must be one of {', '.join(map(str, rule))}"
    if kind == "pattern":
        example = f"like {schema_['examples'][0]}" if schema_.get("examples") else ""
        said = f"must be {', '.join(filter(None, [ALLOWED[rule], example]))}" if rule in ALLOWED else \
            f"must look {example}" if example else f"must match {rule}"
        return said + (releases.channel_meant(error.instance) if error.absolute_path[-1] == "version" else "")
    if kind in BOUNDS:
        return f"must be {BOUNDS[kind].format(rule)}"
    return f"is not valid here: {schema_.get('description', 'see harmony/project.schema.json')}"


def _misspelt_choice(error) -> str | None:
    """The key that misspells one of the keys to choose from (`manifest:` for `manifests:`),
    where that is why none was given: it is said as an unknown key, not as "give one of"."""
    if not _choice_of_keys(error):
        return None
    known = error.schema.get("properties", {})
    return next((key for key in error.instance
                 if key not in known and difflib.get_close_matches(str(key), known)), None)


def _choice_of_keys(error) -> bool:
    """Whether the error is of a rule "one of these keys" (a workload's kind)."""
    return error.validator == "oneOf" and all(set(choice) == {"required"} for choice in error.validator_value)


# What a pattern of the schema allows, in words, where an example alone does not say it.
ALLOWED = {
    "^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$": "lowercase letters, digits and '-' (at most 40), starting and ending with "
                                           "a letter or digit",
    "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$": "lowercase letters, digits and '-' (at most 63), starting and ending with "
                                           "a letter or digit",
    "^[A-Za-z0-9_.-]+$": "letters, digits, '_', '.' and '-' only",
    "^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable's name: letters, digits and '_', not starting with a digit",
    "^https://": "an https:// URL",
    "^https?://": "an http:// or https:// URL",
    "^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$":
        "an image name without a tag: lowercase letters, digits, '.', '_', '-' and '/'",
}

TYPES = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
         "object": "a mapping (key: value)", "array": "a list"}
BOUNDS = {"minimum": "at least {}", "maximum": "at most {}", "minItems": "a list of at least {} item(s)",
          "minLength": "at least {} character(s)"}


def _line(where: _Where, path) -> int:
    node = where.node(path)
    return node.start_mark.line if node is not None else 0


def _project(path: Path, spec: dict, where: _Where) -> Project:
    cluster = spec.get("cluster") or {}
    data = {CLUSTER_KEYS[key]: value for key, value in cluster.items() if key in CLUSTER_KEYS}
    if data.get("harmony_runtime") == "auto":
        del data["harmony_runtime"]
    for runtime in ("k3s", "k3d"):
        data.update({f"{runtime}_{key}": value for key, value in (cluster.get(runtime) or {}).items()})
    for key in PATH_KEYS & set(data):
        data[key] = _resolve(path.parent, data[key])
    ssh = dict(spec.get("ssh") or {})
    if "key" in ssh:
        ssh["key"] = _resolve(path.parent, ssh["key"])
    workloads, images = tuple(spec.get("workloads") or ()), tuple(spec.get("images") or ())
    for key, entries, what in (("workloads", workloads, "workload"), ("images", images, "image")):
        names = [entry["name"] for entry in entries]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise where.error((key, index, "name"), f"a second {what} named '{name}': give each its own name")
    builder = spec.get("builder")
    return Project(path, spec.get("name") or default_name(path.parent.name), data, spec.get("target"), ssh,
                   cluster.get("wait_timeout"), workloads, images, None if builder in (None, "auto") else builder)


def default_name(directory_name: str) -> str:
    """A project's name where its file gives none: its directory's, as the schema's `name`
    takes it (lowercase letters, digits and '-', at most 40)."""
    name = re.sub(r"[^a-z0-9]+", "-", directory_name.lower()).strip("-")[:40].strip("-")
    return name or "project"


def _resolve(root: Path, path: str) -> str:
    """A path the file gives, relative to the file, as an absolute one (~ expanded)."""
    return str(root / os.path.expanduser(path))
