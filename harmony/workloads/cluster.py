"""The cluster's API as the workloads meet it, through the official client's dynamic client.

- Kinds are found by discovery, read afresh by each run (lazily: a group's resources when a
  kind of it is first looked for): a cache kept between runs would still serve a kind whose CRD
  was deleted since, and plan a write the API cannot take. The client asks the API again when a
  kind is missing (LazyDiscoverer.search invalidates on a miss), and `refresh` does the same
  after this run made CRDs, whose kinds appear only once they are Established.
- A group-kind served at several versions (autoscaling/v1 and v2, a CRD's versions) is
  listed once, at its preferred version (`listable`): the same objects are behind each.
- Writes are server-side applies with `fieldValidation=Strict`, so the API refuses an unknown
  or duplicated field instead of dropping it with a warning (what `kubectl apply
  --validate=strict` asks for).
- Every answer the API refuses with becomes one line (`refusal`), never a traceback.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from harmony import localstate
from harmony.errors import RunFailed

FIELD_MANAGER = "harmony"
STRICT = [("fieldValidation", "Strict")]
MESSAGE_LIMIT = 300  # characters of an API message said in a line
CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
POLL_SECONDS = 0.5


def refusal(error: Exception) -> str:
    """What the API said when it refused a request: its status's message, cut to a line."""
    from kubernetes.dynamic.exceptions import DynamicApiError

    if isinstance(error, DynamicApiError):
        said = " ".join(error.summary().split()) if error.body else f"{error.status} {error.reason}"
    else:
        said = f"{type(error).__name__}: {error}"
    return said if len(said) <= MESSAGE_LIMIT else f"{said[:MESSAGE_LIMIT]}... ({len(said)} characters)"


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def group_kind(group: str, kind: str) -> str:
    """As the ApplySet KEP writes it: Kind.group, or Kind for the core group."""
    return f"{kind}.{group}" if group else kind


class Cluster:
    """The cluster's API."""

    def __init__(self, kubeconfig: dict, cache: Path):
        from kubernetes import config, dynamic

        cache.parent.mkdir(parents=True, exist_ok=True)
        self.client = dynamic.DynamicClient(config.new_client_from_config_dict(kubeconfig), cache_file=str(cache))
        self.refresh()  # what an earlier run read may be gone

    def resource(self, api_version: str, kind: str):
        """The resource serving `kind` at `api_version`, or None where the API serves none."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return None

    def required(self, api_version: str, kind: str):
        """The resource of a kind every cluster serves, which harmony's own bookkeeping uses."""
        resource = self.resource(api_version, kind)
        if resource is None:
            raise RunFailed(f"the cluster serves no {kind} in {api_version}, which every Kubernetes API serves: "
                            "check that the kubeconfig points at a Kubernetes API server")
        return resource

    def refresh(self) -> None:
        """Forget the discovery kept so far: CRDs changed."""
        self.client.resources.invalidate_cache()

    def listable(self, group_kinds: set[str] | None = None, namespaced: bool | None = None) -> list:
        """Each resource that can be listed, once per group-kind (its preferred version), of
        `group_kinds` where given, namespaced or not where asked."""
        from kubernetes.dynamic.resource import ResourceList

        chosen = {}
        for resource in self.client.resources.search():
            if isinstance(resource, ResourceList) or "/" in resource.name or "list" not in (resource.verbs or []):
                continue  # the client's own entry for a kind's list, or a subresource
            if namespaced is not None and resource.namespaced != namespaced:
                continue
            key = group_kind(resource.group, resource.kind)
            if group_kinds is not None and key not in group_kinds:
                continue
            if key not in chosen or (resource.preferred and not chosen[key].preferred):
                chosen[key] = resource
        return list(chosen.values())

    def get(self, resource, name: str, namespace: str | None) -> dict | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            return resource.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def list(self, resource, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        """The objects of a resource, each with its kind and apiVersion (a list's items carry
        neither); none where it is gone (a CRD deleted since discovery)."""
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            items = resource.get(namespace=namespace, label_selector=selector).items
        except NotFoundError:
            return []
        return [{**item.to_dict(), "kind": resource.kind, "apiVersion": resource.group_version} for item in items]

    def apply(self, resource, body: dict, dry: bool = False, manager: str = FIELD_MANAGER) -> dict:
        """Server-side apply of `body`, forced (harmony owns what its manifests say), strictly
        validated; with `dry`, as a dry run (dryRun=All: admission and validation run, nothing
        is stored)."""
        metadata = body["metadata"]
        return resource.server_side_apply(
            body=body, name=metadata["name"], namespace=metadata.get("namespace"), field_manager=manager,
            force_conflicts=True, query_params=list(STRICT), **({"dry_run": "All"} if dry else {})).to_dict()

    def delete(self, resource, name: str, namespace: str | None) -> None:
        """Delete the object, and (in the background) what it owns: a Job's pods, say."""
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            resource.delete(name=name, namespace=namespace, propagation_policy="Background")
        except NotFoundError:
            pass  # gone already (its namespace was pruned first, say)

    def established(self, names: list[str], timeout: float, check=lambda doing: None) -> None:
        """Wait until each named CRD is Established (its kinds served), at most `timeout` s."""
        crds = self.required("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        deadline = time.monotonic() + timeout
        waiting = list(names)
        while waiting:
            check("waiting for the project's CRDs to be established")
            waiting = [name for name in waiting if not _established(self.get(crds, name, None))]
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise RunFailed(f"CustomResourceDefinition/{waiting[0]} is not Established after {timeout:g} s: "
                                f"see its conditions (kubectl get crd {waiting[0]} -o yaml)")
            time.sleep(POLL_SECONDS)
        self.refresh()

    def install_job(self, step) -> dict | None:
        """A HelmChart's install Job, as k3s's helm-controller names it, or None."""
        jobs = self.client.resources.get(api_version="batch/v1", kind="Job")
        return self.get(jobs, f"helm-install-{step.name}", step.namespace)

    def pods(self, namespace: str, selector: str) -> list[dict]:
        pods = self.client.resources.get(api_version="v1", kind="Pod")
        return [item.to_dict() for item in pods.get(namespace=namespace, label_selector=selector).items]

    def log(self, namespace: str, pod: str, container: str, lines: int, previous: bool) -> str:
        """The last `lines` of a container's log; with `previous`, of its run before the last
        restart (a crashing container's own is empty while it waits to start again)."""
        api = self.client.client
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        query = [("container", container), ("tailLines", lines), *([("previous", "true")] if previous else [])]
        request = api.param_serialize("GET", path, query_params=query,
                                      header_params={"Accept": "text/plain"}, auth_settings=["BearerToken"])
        response = api.call_api(*request, _request_timeout=10)
        response.read()
        return response.data.decode(errors="replace") if 200 <= response.status < 300 else ""


@contextlib.contextmanager
def answered():
    """Whatever the API answers, or fails to, in the block: one line (RunFailed), no traceback."""
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except DynamicApiError as error:
        raise RunFailed(f"the cluster's API refused a request: {refusal(error)}") from None
    except (HTTPError, OSError) as error:
        raise RunFailed(f"the cluster's API stopped answering: {refusal(error)}") from None


def _established(crd: dict | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def discovery_cache(cluster_name: str) -> Path:
    """Where the client keeps the cluster's discovery between runs."""
    return localstate.cache_dir() / f"discovery-{cluster_name}.json"
