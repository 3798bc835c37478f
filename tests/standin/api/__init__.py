"""STAND-IN for the Kubernetes API inside the stand-in k3s's server (tests/standin/k3s.py), for
harmony's tests only. Never shipped, never called by harmony. It models the API of Kubernetes
1.31 (k3s v1.31.4, the default the tests install) as clients meet it; where the real API is
less kind, so is this one. Each module says what it models and where that comes from:

- catalog.py, resources.json (made by generate.py from the official Python client 31.0.0 and
  the API server's default-enabled versions): every built-in resource, with its group,
  versions, kind, names, scope, verbs and subresources;
- discovery.py: /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION, and OpenAPI v3 enough for
  kubectl to leave field validation to the server;
- rest.py: the REST paths and methods: GET of an object and of a list (in a namespace or across
  all, equality-based label selectors), POST (and generateName), PUT, server-side apply, merge
  patch, strategic merge patch (strategic.py; not of custom resources: 415), JSON patch
  (jsonpatch.py), DELETE and DELETE of a collection, `dryRun=All` (refused exactly where the write
  would be), verbs a resource does not allow (405), paths of nothing served (404 "the server
  could not find the requested resource"), the 3 MiB request-body limit (413), and the status
  subresource;
- schema.py, schemas.json (made by generate.py from Kubernetes 1.31.0's OpenAPI definitions):
  unknown fields dropped, refused with `fieldValidation=Strict` and by server-side apply, a
  warning each with Warn (the default), silently dropped with Ignore, against the built-in
  kinds' schemas and CRDs' structural schemas;
- names.py: object names by kind (DNS subdomain, DNS-1123 label, DNS-1035 label), generateName;
- validation.py: the specs projects get wrong most (422): a workload's selector that does not
  match its template's labels or is missing, containers without a name or an image, a Service
  without ports;
- store.py: uid, resourceVersion, creationTimestamp, `metadata.generation`; optimistic
  concurrency (409 on a stale resourceVersion, in a replace or a delete's preconditions); a
  namespace that must exist (404) and be Active (403 while Terminating); the object size etcd
  takes (1.5 MiB: a larger one is a 500 "etcdserver: request is too large", whatever the
  datastore: a project must fit a cluster with embedded etcd); Namespace deletion through
  phase Terminating (finalizer `kubernetes`), its objects deleted NAMESPACE_SECONDS later with
  it (default, kube-system and kube-public may not be deleted: 403); garbage collection by
  ownerReferences (background propagation, or Orphan); an object kept once for all the
  versions of its resource;
- immutable.py: the updates users hit that the API refuses (422): a Job's template, the
  selector of a Deployment, ReplicaSet, DaemonSet or Job, a StatefulSet's spec beyond the
  fields it may change, a Service's cluster IP, a PersistentVolumeClaim's spec;
- services.py: a Service's cluster IP (10.43.0.0/16) and node ports, allocated and kept; the
  Service `kubernetes` in default;
- crds.py: CustomResourceDefinitions, validated, Established after ESTABLISH_SECONDS and only
  then served (REST, discovery, OpenAPI), at each served version, namespaced or cluster-wide,
  pruned by their schema, with a status subresource where declared; deleting one deletes its
  custom resources;
- scale.py: the scale subresource (autoscaling/v1 Scale) of Deployments, StatefulSets,
  ReplicaSets, ReplicationControllers and CRDs that declare one;
- autoscaler.py: the HorizontalPodAutoscaler controller, writing its target's replicas through
  the scale subresource as kube-controller-manager; DEPARTURE: with no metrics server, the
  pods' CPU utilization is what an annotation of the HPA says (autoscaler.LOAD_ANNOTATION);
- deployments.py: a Deployment's status during a rollout (the old ReplicaSet's pods still
  counted) and its progress deadline (Progressing False, ProgressDeadlineExceeded);
- fields.py: field ownership in metadata.managedFields (server-side apply's conflicts, named
  as the API names them, and forced applies; Updates by creates, patches and replaces; per
  manager, operation and subresource), with lists merged by their schema's list type: a list
  of type map by its keys (containers, env, volumes by name; container ports by containerPort
  and protocol; Service ports by port and protocol...), each item owned on its own
  (`k:{"name":"web"}`), a set by value, other lists whole;
- crds.K3S_CRDS: the CRDs k3s registers (HelmChart, HelmChartConfig, Addon, ETCDSnapshotFile),
  Established from the start, their specs taking any field;
- helm.py: k3s's helm-controller: a HelmChart's install Job, owned by the chart; deleting the
  chart uninstalls its release;
- helmrelease.py: what helm does in that Job once it succeeds: a chart carried in the
  HelmChart whose templates are plain YAML with simple substitutions is installed, its objects
  marked as helm marks a release's (other charts install nothing);
- workloads.py: controllers and a kubelet, simulated: a Deployment's, StatefulSet's or
  DaemonSet's status and a Job's follow their spec after HARMONY_STANDIN_POD_SECONDS (default
  3); an image with `unpullable` in it never pulls, one with `crashing` never stays up, a Job
  whose command has `exit 1` fails, a HelmChart whose valuesContent holds
  `standin-install: fail` fails its install Job; a pod whose nodeSelector no node matches is
  Unschedulable; a workload's Pods (GET of a namespace's pods, of one, of its log) are made
  from it, read-only (the new template's only); a LoadBalancer Service has ServiceLB's
  status; a change of replicas alone leaves the running pods be; the kubelet's image pull
  policies (Always, IfNotPresent, Never, defaulted from the tag) against the images a node
  has (ErrImageNeverPull, ImagePullBackOff);
- containerd.py: `k3s ctr images import|ls` and the node's image store per containerd
  namespace (its docstring has the contract, and what it does not model);
- manifests.py: k3s's manifests directory, applied on mtime changes, never deleting, each file
  tracked by an Addon named after it (a file whose name is no valid name is not applied).

What it does not model: watch events (rest.watch ends every watch after WATCH_SECONDS with 410 Expired, as
a server whose history was compacted, and the client lists again); aggregated discovery (v2); OpenAPI v2's definitions (an empty
document: kubectl reads it only for a kind v3 lacks, discovery.OPENAPI_V2); the order of groups in /apis;
conversion between versions (an object reads the same at every version of its resource, only
its apiVersion changes: for built-ins such as autoscaling/v1 and v2 HorizontalPodAutoscalers as
for CRDs, which have no conversion webhooks here); defaulting (a Deployment gets no default
strategy, a port no default protocol, so a port's key in FieldsV1 lacks the protocol the real
API would have filled in); validation other than names, unknown fields, CRDs, the specs and the
immutable fields above (most required fields, types, CEL, duplicate fields); where merged list
items go (new ones are appended); Pods as objects (made from workloads, read-only: writes and
subresources other than log are refused with 405; absent from the cluster-wide /api/v1/pods
that k3s.py serves from planted pods); Nodes (k3s.py serves them; other writes are refused);
finalizers other than a namespace's, and foreground deletion (a deleted CRD takes its custom
resources at once, a deleted owner its dependents at once); bound PersistentVolumeClaims (a
claim stays Pending, with no status, so its storage request never grows); a CRD's scale
subresource paths other than .spec.replicas; admission and RBAC (any client certificate the
server's CA signed is admin); rendering a chart beyond helmrelease.py's (and the CRDs of
k3s's packaged charts, Traefik's, are absent); more than one server: each stand-in
server keeps objects of its own, so clients use one server's API.
"""

from .discovery import OPENAPI_V2_TYPE
from .manifests import deploy_manifests
from .rest import handle
from .store import Store
from .workloads import HELM_JOB_IMAGE, normalized

__all__ = ["HELM_JOB_IMAGE", "OPENAPI_V2_TYPE", "Store", "deploy_manifests", "handle", "normalized"]
