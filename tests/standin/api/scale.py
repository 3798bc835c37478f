"""The `scale` subresource (autoscaling/v1 Scale) of Deployments, StatefulSets, ReplicaSets,
ReplicationControllers and custom resources that declare one: what `kubectl scale` and the
HorizontalPodAutoscaler read and write (pkg/registry/apps/deployment/storage/storage.go,
ScaleREST): spec.replicas, and the status' replicas and label selector."""

from __future__ import annotations

import json

import yaml

from . import fields, schema
from .errors import ApiError, not_found


def _selector(obj: dict) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {})
    labels = labels.get("matchLabels", labels) if isinstance(labels, dict) else {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def of(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 1))},
            "status": {"replicas": int((obj.get("status") or {}).get("replicas", 0)), "selector": _selector(obj)}}


def handle(store, resource, namespace, name, method, query, headers, body, dry):
    if method == "GET":
        return 200, of(store.get(resource, namespace, name))
    doc = yaml.safe_load(body or b"{}") or {}
    manager = query.get("fieldManager") or str(headers.get("User-Agent", "unknown")).split("/")[0]

    def change(live):
        if live is None:
            raise not_found(resource.qualified, name)
        scale = fields.merge_patch(of(live), doc) if method == "PATCH" else doc
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                                           f"{json.dumps(replicas)}: must be greater than or equal to 0")
        new = json.loads(json.dumps(live))
        new.setdefault("spec", {})["replicas"] = replicas
        return fields.update(live, new, manager, schema.of(resource), subresource="scale")

    code, obj = store.write(resource, namespace, name, change, dry)
    return code, of(obj)
