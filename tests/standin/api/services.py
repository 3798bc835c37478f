"""What the API allocates for a Service (pkg/registry/core/service/storage/storage.go): a
cluster IP from the service CIDR (k3s's default 10.43.0.0/16) unless the Service is headless
(`clusterIP: None`) or an ExternalName, and a node port (30000-32767) for each port of a NodePort
or LoadBalancer Service that names none; an update that leaves them out keeps the allocated
ones (`patchAllocatedValues`), and clusterIPs follows a changed clusterIP
(`normalizeClusterIPs`). Here each is the same every time, from the Service's name."""

from __future__ import annotations

import hashlib


# The Service every cluster has for its API server (the apiserver's kubernetes service
# controller, pkg/controlplane/controller/kubernetesservice), on the first address of k3s's
# service CIDR.
KUBERNETES = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "kubernetes", "namespace": "default",
                           "labels": {"component": "apiserver", "provider": "kubernetes"}},
              "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"],
                       "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                       "internalTrafficPolicy": "Cluster",
                       "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}


def _pick(seed: str, size: int) -> int:
    return int(hashlib.sha256(seed.encode()).hexdigest(), 16) % size


def allocate(obj: dict, live: dict | None) -> None:
    if obj["kind"] != "Service":
        return
    spec = obj.setdefault("spec", {})
    old = (live or {}).get("spec") or {}
    where = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
    if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
        seed = _pick(where, 65534 - 10) + 10  # .0.1 is the API's own, .0.10 the DNS service's
        spec["clusterIP"] = old.get("clusterIP") or f"10.43.{seed // 256}.{seed % 256}"
    changed = spec.get("clusterIP") != old.get("clusterIP") and spec.get("clusterIPs") == old.get("clusterIPs")
    if spec.get("clusterIP") and (not spec.get("clusterIPs") or changed):  # normalizeClusterIPs
        spec["clusterIPs"] = [spec["clusterIP"]]
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and "nodePort" not in port:
            port["nodePort"] = 30000 + _pick(f"{where}/{port.get('port')}", 2768)
