"""What the API validates in the specs projects write most, with its messages (422 Invalid):
pkg/apis/apps/validation (ValidateDeploymentSpec and its kin) and pkg/apis/core/validation
(validateContainers, ValidateService). A workload needs a selector that matches its pod
template's labels, and containers each with a name (a DNS-1123 label, unique) and an image;
a Service other than headless or ExternalName needs ports. A ConfigMap's data, and a Secret's,
hold at most 1 MiB (core.MaxSecretSize; ValidateConfigMap, ValidateSecret)."""

from __future__ import annotations

import base64
import binascii
import json
import re

from .names import LABEL

WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
SELECTOR_MISMATCH = "`selector` does not match template `labels`"
MAX_DATA_BYTES = 1024 * 1024  # core.MaxSecretSize, for a ConfigMap's data too


def go_map(labels: dict) -> str:
    """Labels as Go's %#v prints a map[string]string."""
    return "map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


def _selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) selects `labels`."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for rule in selector.get("matchExpressions") or []:
        key, values, operator = rule.get("key"), rule.get("values") or [], rule.get("operator")
        if operator == "In" and labels.get(key) not in values or operator == "NotIn" and labels.get(key) in values \
                or operator == "Exists" and key not in labels or operator == "DoesNotExist" and key in labels:
            return False
    return True


def containers(pod_spec: dict, path: str) -> list[tuple[str, str, str]]:
    found = []
    listed = pod_spec.get("containers") or []
    if not listed:
        found.append((f"{path}.containers", "Required value", ""))
    seen = set()
    for index, container in enumerate(listed):
        here = f"{path}.containers[{index}]"
        name = container.get("name") or ""
        if not name:
            found.append((f"{here}.name", "Required value", ""))
        elif not re.fullmatch(LABEL, name) or len(name) > 63:
            found.append((f"{here}.name", f'Invalid value: "{name}"', "a lowercase RFC 1123 label must consist of "
                          "lower case alphanumeric characters or '-', and must start and end with an alphanumeric "
                          f"character (e.g. 'my-name',  or '123-abc', regex used for validation is '{LABEL}')"))
        elif name in seen:
            found.append((f"{here}.name", f'Duplicate value: "{name}"', ""))
        seen.add(name)
        if not container.get("image"):
            found.append((f"{here}.image", "Required value", ""))
    return found


def problems(kind: str, obj: dict) -> list[tuple[str, str, str]]:
    spec = obj.get("spec") or {}
    found = []
    if kind in WORKLOADS:
        selector = spec.get("selector")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector:
            found.append(("spec.selector", "Required value", ""))
        elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
            found.append(("spec.selector", "Invalid value: v1.LabelSelector{...}",
                          f"empty selector is invalid for {kind.lower()}"))
        if not selector or not _selects(selector, labels):
            found.append(("spec.template.metadata.labels", f"Invalid value: {go_map(labels)}", SELECTOR_MISMATCH))
        found += containers((spec.get("template") or {}).get("spec") or {}, "spec.template.spec")
    if kind in ("Job", "CronJob"):
        template = spec.get("template") if kind == "Job" else ((spec.get("jobTemplate") or {}).get("spec") or {}).get(
            "template")
        prefix = "spec.template.spec" if kind == "Job" else "spec.jobTemplate.spec.template.spec"
        found += containers((template or {}).get("spec") or {}, prefix)
    if kind in ("ConfigMap", "Secret") and _data_bytes(kind, obj) > MAX_DATA_BYTES:
        found.append(("[]" if kind == "ConfigMap" else "data", "Too long", f"must have at most {MAX_DATA_BYTES} bytes"))
    if kind == "Service" and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None" \
            and not spec.get("ports"):
        found.append(("spec.ports", "Required value", ""))
    return found


def _data_bytes(kind: str, obj: dict) -> int:
    """The bytes a ConfigMap's data and binaryData, or a Secret's data (decoded), hold."""
    def decoded(value) -> int:
        try:
            return len(base64.b64decode(str(value), validate=True))
        except (binascii.Error, ValueError):
            return len(str(value))
    if kind == "Secret":
        return sum(decoded(v) for v in (obj.get("data") or {}).values()) + \
            sum(len(str(v).encode()) for v in (obj.get("stringData") or {}).values())
    return sum(len(str(v).encode()) for v in (obj.get("data") or {}).values()) + \
        sum(decoded(v) for v in (obj.get("binaryData") or {}).values())
