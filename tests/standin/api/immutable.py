"""Updates the API refuses, with its messages (422 Invalid): the fields users hit.

- a Job's spec.template and spec.selector (pkg/apis/batch/validation ValidateJobSpecUpdate);
- the label selector of a Deployment, ReplicaSet or DaemonSet at apps/v1
  (pkg/apis/apps/validation: ValidateImmutableField on spec.selector);
- a StatefulSet's spec other than the fields ValidateStatefulSetUpdate lets change (its
  selector, serviceName, volumeClaimTemplates, podManagementPolicy...);
- a Service's cluster IP, once set (pkg/apis/core/validation
  validateServiceClusterIPsRelatedFieldsOnUpdate: "may not change once set");
- a PersistentVolumeClaim's spec, but for its volumeName set once and, once bound, its storage
  request (ValidatePersistentVolumeClaimUpdate); no claim is ever bound here, so a pending
  claim's request is as fixed as a real pending claim's."""

from __future__ import annotations

import json

from .catalog import Resource
from .errors import invalid

IMMUTABLE = "field is immutable"  # apimachinery's FieldImmutableErrorMsg
SELECTOR_KINDS = ("Deployment", "ReplicaSet", "DaemonSet", "Job")
STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds")
PVC_FORBIDDEN = ("spec is immutable after creation except resources.requests and volumeAttributesClassName for "
                 "bound claims")
STATEFULSET_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                         "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def go_selector(selector) -> str:
    """A label selector as Go's %#v prints a v1.LabelSelector in a validation error."""
    labels = (selector or {}).get("matchLabels") or {}
    pairs = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(labels.items()))
    expressions = "[]v1.LabelSelectorRequirement{...}" if (selector or {}).get("matchExpressions") \
        else "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:map[string]string{{{pairs}}}, MatchExpressions:{expressions}}}"


def problems(kind: str, live: dict, new: dict) -> list[tuple[str, str, str]]:
    old_spec, spec = live.get("spec") or {}, new.get("spec") or {}
    found = []
    if kind == "Job" and old_spec.get("template") != spec.get("template"):
        found.append(("spec.template", "Invalid value: core.PodTemplateSpec{...}", IMMUTABLE))
    if kind in SELECTOR_KINDS and old_spec.get("selector") != spec.get("selector"):
        found.append(("spec.selector", f"Invalid value: {go_selector(spec.get('selector'))}", IMMUTABLE))
    if kind == "StatefulSet" and any(old_spec.get(k) != spec.get(k) for k in set(old_spec) | set(spec)
                                     if k not in STATEFULSET_MUTABLE):
        found.append(("spec", "Forbidden", STATEFULSET_FORBIDDEN))
    if kind == "PersistentVolumeClaim" and old_spec != {**spec, **({} if old_spec.get("volumeName") else {
            "volumeName": old_spec.get("volumeName")})}:
        found.append(("spec", "Forbidden", PVC_FORBIDDEN))
    if kind == "Service" and old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec["clusterIP"]:
        ips = ", ".join(json.dumps(ip) for ip in spec.get("clusterIPs") or [spec.get("clusterIP")])
        found.append(("spec.clusterIPs[0]", f"Invalid value: []string{{{ips}}}", "may not change once set"))
    return found


def check(resource: Resource, live: dict, new: dict) -> None:
    found = problems(resource.kind, live, new)
    if found:
        raise invalid(resource.kind, resource.group, live["metadata"]["name"], found)
