"""Fields an update may not change, with the API's refusal: 422 Invalid, "field is immutable"
(apimachinery's ValidateImmutableField, used by pkg/apis/batch/validation for a Job's
template, as harmony's tests rely on)."""

from __future__ import annotations

from .catalog import Resource
from .errors import invalid

IMMUTABLE = {  # kind: [(path, how the error prints the old value)]
    "Job": [(("spec", "template"), "core.PodTemplateSpec{...}")],
}


def _get(obj: dict, path: tuple[str, ...]):
    for part in path:
        obj = (obj or {}).get(part) if isinstance(obj, dict) else None
    return obj


def check(resource: Resource, live: dict, new: dict) -> None:
    problems = [(".".join(path), f"Invalid value: {shown}", "field is immutable")
                for path, shown in IMMUTABLE.get(resource.kind, []) if _get(live, path) != _get(new, path)]
    if problems:
        raise invalid(resource.kind, resource.group, live["metadata"]["name"], problems)
