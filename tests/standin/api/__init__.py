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
  patch, DELETE and DELETE of a collection, `dryRun=All`, verbs a resource does not allow
  (405), the 3 MiB request-body limit (413), and the status subresource;
- schema.py: unknown fields dropped, refused with `fieldValidation=Strict` and by server-side
  apply, a warning each with Warn (the default), against the built-in kinds' schemas and CRDs'
  structural schemas;
- names.py: object names by kind (DNS subdomain, DNS-1123 label, DNS-1035 label), generateName;
- store.py: uid, resourceVersion, creationTimestamp, `metadata.generation`; optimistic
  concurrency (409 on a stale resourceVersion, in a replace or a delete's preconditions); a
  namespace that must exist (404) and be Active (403 while Terminating); the object size etcd
  takes (1.5 MiB: a larger one is a 500 "etcdserver: request is too large", whatever the
  datastore: a project must fit a cluster with embedded etcd); Namespace deletion through
  phase Terminating (finalizer `kubernetes`), its objects deleted NAMESPACE_SECONDS later with
  it; garbage collection by ownerReferences (background propagation, or Orphan);
- immutable.py: the updates users hit that the API refuses (422): a Job's template, the
  selector of a Deployment, ReplicaSet, DaemonSet or Job, a StatefulSet's spec beyond the
  fields it may change, a Service's cluster IP;
- services.py: a Service's cluster IP (10.43.0.0/16) and node ports, allocated and kept;
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
- fields.py: field ownership in metadata.managedFields (server-side apply's conflicts and
  forced applies, Updates by merge patches and replaces, per manager, operation and
  subresource);
- helm.py: k3s's helm-controller: the HelmChart CRD and its install Job;
- workloads.py: controllers and a kubelet, simulated: a Deployment's, StatefulSet's or
  DaemonSet's status and a Job's follow their spec after HARMONY_STANDIN_POD_SECONDS (default
  3); an image with `unpullable` in it never pulls, one with `crashing` never stays up, a Job
  whose command has `exit 1` fails, a HelmChart whose valuesContent holds
  `standin-install: fail` fails its install Job; a pod whose nodeSelector no node matches is
  Unschedulable; a workload's Pods (GET of a namespace's pods, of one, of its log) are made
  from it, read-only (the new template's only); a LoadBalancer Service has ServiceLB's
  status; a change of replicas alone leaves the running pods be;
- manifests.py: k3s's manifests directory, applied on mtime changes, never deleting.

What it does not model: watches; aggregated discovery (v2); conversion between versions (an
object reads the same at every version of its resource, only its apiVersion changes, for
built-ins such as autoscaling/v1 and v2 HorizontalPodAutoscalers as for CRDs, which have no
conversion webhooks here); defaulting (a Deployment gets no default strategy); validation
other than names, unknown fields, CRDs and immutable fields (no required fields, no types,
no CEL); lists as maps by key (every list is owned whole, where the API merges `containers`
by name); duplicate fields; Pods as objects (read-only, made from workloads, absent from the
cluster-wide /api/v1/pods that k3s.py serves from planted pods; other subresources of pods
than log are refused); Nodes (k3s.py serves them); finalizers other than a namespace's (a deleted CRD takes its custom resources at once, a
deleted owner its dependents at once, without foreground deletion); a bound
PersistentVolumeClaim (none is ever bound, so its spec stays mutable); a CRD's scale
subresource paths other than .spec.replicas;
admission and RBAC (any client certificate the server's CA signed is admin); rendering a chart
(helm-controller's Job installs nothing); the order of groups in /apis; the kinds of
subresources not in the client's paths; more than one server: each stand-in server keeps
objects of its own, so clients use one server's API.
"""

from .manifests import deploy_manifests
from .rest import handle
from .store import Store
from .workloads import HELM_JOB_IMAGE, normalized

__all__ = ["HELM_JOB_IMAGE", "Store", "deploy_manifests", "handle", "normalized"]
