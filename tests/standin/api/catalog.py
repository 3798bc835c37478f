"""The resources the API serves: the built-in ones of Kubernetes 1.31, from resources.json
(generate.py says where it comes from), and those of the CustomResourceDefinitions that are
Established (crds.py)."""

from __future__ import annotations

import json
import pkgutil
import re
from dataclasses import dataclass, field

WRITES = ("create", "update", "patch", "delete", "deletecollection")


@dataclass(frozen=True, eq=False)
class Resource:
    group: str
    version: str
    name: str  # plural, as in the path
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[dict, ...] = ()  # {name, kind, group, version, verbs}
    model: str | None = None  # a built-in kind's definition in schemas.json
    schema: dict | None = field(default=None)  # a custom resource's openAPIV3Schema at this version
    crd: str | None = None  # the name of the CustomResourceDefinition that defines it

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name errors use: `deployments.apps`, `configmaps`."""
        return f"{self.name}.{self.group}" if self.group else self.name

    def subresource(self, name: str) -> dict | None:
        return next((s for s in self.subresources if s["name"] == name), None)

    def discovery(self) -> list[dict]:
        """Its entries in an APIResourceList: itself, then each subresource as `plural/sub`,
        with its group and version where they differ (deployments/scale is autoscaling/v1)."""
        entry = {"name": self.name, "singularName": self.singular or self.kind.lower(),
                 "namespaced": self.namespaced, "kind": self.kind, "verbs": list(self.verbs)}
        entry.update({k: list(v) for k, v in (("shortNames", self.short_names), ("categories", self.categories)) if v})
        subs = [{"name": f"{self.name}/{s['name']}", "singularName": "", "namespaced": self.namespaced,
                 "kind": s["kind"], "verbs": s["verbs"],
                 **({"group": s["group"], "version": s["version"]}
                    if (s["group"], s["version"]) != (self.group, self.version) else {})}
                for s in self.subresources]
        return [entry, *subs]


def _builtins() -> tuple[Resource, ...]:
    table = json.loads(pkgutil.get_data(__name__, "resources.json"))["resources"]
    return tuple(Resource(group=r["group"], version=r["version"], name=r["name"], kind=r["kind"],
                          namespaced=r["namespaced"], verbs=tuple(r["verbs"]), singular=r["singularName"],
                          short_names=tuple(r["shortNames"]), categories=tuple(r["categories"]),
                          subresources=tuple(r["subresources"]), model=r["model"]) for r in table)


BUILTINS = _builtins()
SCHEMAS: dict[str, dict] = json.loads(pkgutil.get_data(__name__, "schemas.json"))["definitions"]


def version_priority(version: str) -> tuple:
    """Kubernetes' version order (apimachinery's CompareKubeAwareVersionStrings), as a sort key
    that puts the preferred first: v2, v1, v1beta2, v1beta1, v1alpha1, then other names."""
    found = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not found:
        return (1, version)
    major, level, minor = found.groups()
    return (0, -{None: 2, "beta": 1, "alpha": 0}[level], -int(major), -int(minor or 0))


def find(resources, group: str, version: str, plural: str) -> Resource | None:
    return next((r for r in resources if (r.group, r.version, r.name) == (group, version, plural)), None)


def by_kind(resources, api_version: str, kind: str) -> Resource | None:
    return next((r for r in resources if (r.group_version, r.kind) == (api_version, kind)), None)


def groups(resources) -> dict[str, list[str]]:
    """{group: its versions, the preferred first}, in the order the resources come."""
    found: dict[str, list[str]] = {}
    for r in resources:
        if r.version not in found.setdefault(r.group, []):
            found[r.group].append(r.version)
    return {g: sorted(v, key=version_priority) for g, v in found.items()}
