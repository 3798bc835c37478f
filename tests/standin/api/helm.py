"""k3s's helm-controller (K3S-CONTRACT, and k3s-io/helm-controller#22, #334): the install Job
`helm-install-NAME` it keeps beside each HelmChart (its CRD: crds.K3S_CRDS), owned by it
(ownerReferences), so that deleting the chart removes the Job through garbage collection."""

from __future__ import annotations

import hashlib
import json

from .workloads import FAIL_MARKER, HELM_JOB_IMAGE

CHART_HASH = "helmcharts.helm.cattle.io/configHash"
RELEASE_NAME = "meta.helm.sh/release-name"  # what helm marks each object of a release with
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def install_job(chart: dict, old: dict | None) -> dict | None:
    """The Job that runs `helm upgrade --install` for `chart`; None where `old` is already the
    one for the chart's spec (it is replaced, with a new uid, only when the spec changes). As
    helm-controller's, it retries a failed install (backoffLimit 1000)."""
    metadata = chart["metadata"]
    digest = "SHA256=" + hashlib.sha256(json.dumps(chart.get("spec"), sort_keys=True).encode()).hexdigest().upper()
    if old and old["metadata"].get("annotations", {}).get(CHART_HASH) == digest:
        return None
    spec = chart.get("spec") or {}
    script = f"helm_v3 upgrade --install {metadata['name']} --namespace {spec.get('targetNamespace', 'default')}"
    if FAIL_MARKER in str(spec.get("valuesContent", "")):
        script += "; exit 1"
    labels = {"helmcharts.helm.cattle.io/chart": metadata["name"]}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"helm-install-{metadata['name']}", "namespace": metadata["namespace"],
                         "labels": labels, "annotations": {CHART_HASH: digest},
                         "ownerReferences": [{"apiVersion": chart["apiVersion"], "kind": "HelmChart",
                                              "name": metadata["name"], "uid": metadata["uid"]}]},
            "spec": {"backoffLimit": 1000, "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "OnFailure", "serviceAccountName": f"helm-{metadata['name']}",
                         "containers": [{"name": "helm", "image": HELM_JOB_IMAGE, "args": ["install"],
                                         "command": ["sh", "-c", script]}]}}}}


def released(stored: dict, chart: dict) -> list[str]:
    """The keys, among the store's objects, of what the HelmChart's release holds (what
    helmrelease.py installed: the objects annotated with the release, and its records, Secrets
    labelled owner=helm), which its deletion uninstalls."""
    release, spec = chart["metadata"]["name"], chart.get("spec") or {}
    namespace = spec.get("targetNamespace") or chart["metadata"]["namespace"]
    found = []
    for key, obj in stored.items():
        metadata = obj.get("metadata") or {}
        notes, labels = metadata.get("annotations") or {}, metadata.get("labels") or {}
        if (notes.get(RELEASE_NAME), notes.get(RELEASE_NAMESPACE)) == (release, namespace) or \
                (obj.get("kind") == "Secret" and metadata.get("namespace") == namespace
                 and (labels.get("owner"), labels.get("name")) == ("helm", release)):
            found.append(key)
    return found
