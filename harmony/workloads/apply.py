"""A project's workloads onto the cluster: worked out first (`plan`), then carried out
(`carry_out`) by server-side apply, and what the project no longer lists pruned.

Why this design: server-side apply with harmony's own field manager, forced, makes harmony the
owner of every field its manifests set. A field edited by hand in the cluster is put back, a
field dropped from a manifest is removed, and fields other controllers own are left alone (no
last-applied annotation to drift from the cluster). Each workload is an ApplySet whose parent
records what it holds (harmony.workloads.ownership), so what it no longer lists is found and
deleted; k3s's manifests directory does neither (it never deletes, and re-applies only on a
file's mtime).

The plan: every object is dry-run as it would be written (creates too, with strict field
validation), so the API's refusals (a missing namespace, an unknown field, an immutable
field, a webhook's denial, a size over its limits) are known before anything is written, each
said with the object, its file and the API's reason; `up` writes nothing while any stands. An
object that belongs to someone else is refused too, naming the owner, unless `adopt`. A Job
whose pod template changed (immutable: a changed Job is a new run) is replaced, deleted and
created again, as `kubectl replace --force` does. A field an autoscaler owns by design
(`spec.replicas` of what a HorizontalPodAutoscaler scales) is left out of the apply.

Operators come up in one run: writes go in dependency order (Namespaces and CRDs first, across
all workloads; then, once every CRD is Established and discovery is refreshed, the other
cluster-scoped objects, then the namespaced ones), so a custom resource whose CRD the project
brings is planned "after its CRD" and dry-run once its CRD is served; the same for an object
whose namespace the run creates. Prunes go in the reverse order: custom resources and other
namespaced objects, then cluster-scoped ones, then CRDs, then Namespaces, and a Namespace only
when nothing of anyone else is in it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from harmony.errors import BadInput, RunFailed
from harmony.workloads import ownership
from harmony.workloads.cluster import CRD, FIELD_MANAGER, Cluster, group_kind, group_of, refusal
from harmony.workloads.ownership import Parent
from harmony.workloads.spec import Workload

CREATE, CHANGE, REPLACE, UNCHANGED, PRUNE, ADOPT, KEEP = \
    "create", "change", "replace", "unchanged", "prune", "adopt", "keep"
WRITES = (CREATE, CHANGE, REPLACE, ADOPT)
SERVER_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")
# How long a replaced object may take to go: within the workloads' Lease's renewal margin
# (harmony.workloads.lease), since the replace, one step, does not stop to renew it.
GONE_SECONDS = 15
ESTABLISHED_SECONDS = 60
# The field manager that takes spec.replicas from harmony before harmony stops applying it,
# as Kubernetes' docs hand a field over to an autoscaler (Server-Side Apply, "Transferring
# ownership"): otherwise the field would be removed, and the replicas reset to 1.
HANDOVER = "handover-to-hpa"
SCALED = "HorizontalPodAutoscaler"


@dataclass
class Step:
    """One object's part in a run: what happens to it, and the body applied (for writes)."""

    workload: str
    action: str
    kind: str
    name: str
    namespace: str | None
    body: dict | None = None
    resource: object = field(default=None, repr=False)  # None until its kind is served (its CRD comes first)
    replaces: str | None = None  # a HelmChart's: the uid of the install Job its apply replaces
    group: str = ""
    source: str = ""  # where the project says it: FILE, document N
    note: str = ""  # said beside it: why it waits, what it leaves to whom
    handover: int | None = None  # replicas to hand to an autoscaler before the apply
    deferred: bool = False  # dry-run only once this run made its CRD or its namespace

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" + (f" in {self.namespace}" if self.namespace else "")

    @property
    def group_kind(self) -> str:
        return group_kind(self.group, self.kind)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return self.group_kind, self.namespace, self.name

    def as_dict(self) -> dict:
        return {"workload": self.workload, "action": self.action, "kind": self.kind, "name": self.name,
                "namespace": self.namespace, **({"note": self.note} if self.note else {})}


@dataclass
class Plan:
    steps: list[Step]
    refusals: list[str]  # one line each: what `up` would refuse to write, and why
    parents: dict[str, Parent]  # every harmony ApplySet parent on the cluster, by its ID


def comparable(obj: dict | None) -> dict | None:
    """An object as its spec says it, without what the server keeps of its own."""
    if obj is None:
        return None
    shown = {k: v for k, v in obj.items() if k != "status"}
    shown["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_METADATA}
    return shown


def plan(cluster: Cluster, project: str, workloads: list[Workload], adopt: bool = False,
         check=lambda doing: None) -> Plan:
    """What `up` does to the project's workloads: each object created, changed, replaced,
    adopted or unchanged, in the order written; what it refuses; then what is pruned. `check`
    is called between workloads (harmony.stopping)."""
    parents = {p.id: p for p in all_parents(cluster)}
    defined = _defined_kinds(workloads)
    steps = []
    for workload in workloads:
        check(f"comparing workload {workload.name} with the cluster")
        steps += [_step(cluster, project, workload, index, defined) for index in range(len(workload.objects))]
    steps = _with_namespaces(cluster, project, workloads, steps)
    scaled = _autoscaled(cluster, steps)
    refusals, made = [], set()
    for step in sorted(steps, key=lambda s: s.kind != "Namespace"):  # a namespace made here, first
        if step.resource is None or step.namespace in made:
            step.deferred, step.note = True, "after its CRD" if step.resource is None else "after its namespace"
        else:
            refused = _compare(cluster, step, parents, project, adopt, scaled)
            refusals += [f"workload {step.workload}: {step.label} ({step.source}): {refused}"] if refused else []
            if step.kind == "Namespace" and step.action == CREATE:
                made.add(step.name)
    steps = _in_write_order(steps) + _prunes(cluster, project, workloads, steps, parents)
    return Plan(steps, refusals, parents)


def all_parents(cluster: Cluster) -> list[Parent]:
    """Every workload's ApplySet parent on the cluster, of every project."""
    maps = cluster.required("v1", "ConfigMap")
    found = (ownership.parent_of(item) for item in
             cluster.list(maps, ownership.PARENT_NAMESPACE, f"{ownership.MANAGED_BY}=harmony"))
    return [parent for parent in found if parent]


def _defined_kinds(workloads: list[Workload]) -> dict[tuple[str, str, str], bool]:
    """{(group, version, kind): namespaced} of the custom resources the project's CRDs define."""
    kinds = {}
    for workload in workloads:
        for obj in workload.objects:
            if (group_of(obj["apiVersion"]), obj["kind"]) != CRD:
                continue
            spec = obj.get("spec") or {}
            for version in spec.get("versions") or []:
                if isinstance(version, dict) and version.get("served", True):
                    kinds[(spec.get("group"), version.get("name"), (spec.get("names") or {}).get("kind"))] = \
                        spec.get("scope", "Namespaced") == "Namespaced"
    return kinds


def _step(cluster: Cluster, project: str, workload: Workload, index: int, defined: dict) -> Step:
    """The object's step, its namespace and ApplySet label set; its kind served, or defined
    by one of the project's CRDs (then its resource waits for the CRD)."""
    obj, source = workload.objects[index], workload.source(index)
    group, version = group_of(obj["apiVersion"]), obj["apiVersion"].rpartition("/")[2]
    resource = cluster.resource(obj["apiVersion"], obj["kind"])
    if resource is not None:
        namespaced = resource.namespaced
    elif (group, version, obj["kind"]) in defined:
        namespaced = defined[(group, version, obj["kind"])]
    else:
        raise BadInput(f"{source}: the cluster serves no {obj['kind']} in {obj['apiVersion']}, and no "
                       "CustomResourceDefinition in the project defines it: check the apiVersion and kind, or "
                       "add the CRD to a workload")
    metadata = dict(obj["metadata"])
    namespace = (metadata.get("namespace") or workload.namespace) if namespaced else None
    if namespace:
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    applyset = ownership.workload_id(project, workload.name)
    metadata["labels"] = {**(metadata.get("labels") or {}), ownership.PART_OF: applyset}
    return Step(workload.name, CREATE, obj["kind"], metadata["name"], namespace, {**obj, "metadata": metadata},
                resource, group=group, source=source)


def _with_namespaces(cluster: Cluster, project: str, workloads: list[Workload], steps: list[Step]) -> list[Step]:
    """The steps, with a Namespace for each workload whose `namespace:` its objects land in
    and that neither the cluster nor the project has (as `helm install --create-namespace`):
    it belongs to that workload. One it made before is kept as its own."""
    listed = {s.name for s in steps if s.kind == "Namespace" and not s.group}
    namespaces = cluster.required("v1", "Namespace")
    added = []
    for workload in workloads:
        used = any(s.namespace == workload.namespace for s in steps if s.workload == workload.name)
        if not used or workload.namespace in listed:
            continue
        live = cluster.get(namespaces, workload.namespace, None)
        applyset = ownership.workload_id(project, workload.name)
        if live is None or (live["metadata"].get("labels") or {}).get(ownership.PART_OF) == applyset:
            body = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": workload.namespace, "labels": {ownership.PART_OF: applyset}}}
            added.append(Step(workload.name, CREATE, "Namespace", workload.namespace, None, body, namespaces,
                              source=f"workload {workload.name}'s namespace"))
        listed.add(workload.namespace)
    return added + steps


def _autoscaled(cluster: Cluster, steps: list[Step]) -> dict[tuple[str | None, str, str], str]:
    """{(namespace, kind, name): the HorizontalPodAutoscaler that scales it}, from the
    project's autoscalers and the cluster's."""
    found = [(s.namespace, s.body) for s in steps if s.kind == SCALED]
    for resource in cluster.listable({f"{SCALED}.autoscaling"}):
        found += [(item["metadata"].get("namespace"), item) for item in cluster.list(resource)]
    scaled = {}
    for namespace, hpa in found:
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        scaled[(namespace, target.get("kind"), target.get("name"))] = hpa["metadata"].get("name")
    return scaled


def _compare(cluster: Cluster, step: Step, parents: dict[str, Parent], project: str, adopt: bool,
             scaled: dict) -> str | None:
    """Set what applying `step` does to what the cluster has, by a dry run of it; returns why
    `up` would refuse it, or None."""
    from kubernetes.dynamic.exceptions import DynamicApiError

    live = cluster.get(step.resource, step.name, step.namespace)
    hpa = scaled.get((step.namespace, step.kind, step.name))
    if hpa and "replicas" in (step.body.get("spec") or {}):
        step.body = copy.deepcopy(step.body)
        del step.body["spec"]["replicas"]
        step.note = f"spec.replicas left to {SCALED}/{hpa}"
        step.handover = _replicas_held(live)
    if live is not None:
        owner = ownership.owner(live, parents, project)
        if owner == ownership.THE_CLUSTER:
            return "is the cluster's own namespace: put objects in it, leave the Namespace itself out"
        if owner and not adopt:
            return f"belongs to {owner}: leave it out of this project, or take it over with --adopt"
        step.action = ADOPT if owner else UNCHANGED
    try:
        dry = cluster.apply(step.resource, step.body, dry=True)
    except DynamicApiError as error:
        if live is not None and _immutable_template(step, error):
            step.action = REPLACE
            return None
        return f"the cluster refuses it: {refusal(error)}"
    if step.action == UNCHANGED and comparable(dry) != comparable(live):
        step.action = CHANGE
    return None


def _replicas_held(live: dict | None) -> int | None:
    """The live replicas, where harmony's apply still owns them (to hand over), else None."""
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply" \
                and "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {}):
            return (live.get("spec") or {}).get("replicas")
    return None


def _immutable_template(step: Step, error) -> bool:
    """Whether the API refused a Job's change for its pod template alone (immutable: a changed
    Job is a new run, made by replacing it); any other refusal is the manifest's to mend."""
    import json

    if step.kind != "Job" or step.group != "batch" or error.status != 422:
        return False
    try:
        causes = ((json.loads(error.body) or {}).get("details") or {}).get("causes") or []
    except (TypeError, ValueError):
        causes = []
    fields = {c.get("field") for c in causes}
    return bool(causes) and fields <= {"spec.template"} and all("immutable" in c.get("message", "") for c in causes)


def _rank(step: Step) -> int:
    """Where a step is written: Namespaces, then CRDs, then other cluster-scoped objects, then
    namespaced ones."""
    if step.kind == "Namespace" and not step.group:
        return 0
    if (step.group, step.kind) == CRD:
        return 1
    return 3 if step.namespace else 2


def _in_write_order(steps: list[Step]) -> list[Step]:
    return sorted(steps, key=_rank)  # each rank in the project's order


def _prunes(cluster: Cluster, project: str, workloads: list[Workload], steps: list[Step],
            parents: dict[str, Parent]) -> list[Step]:
    """What the project's workloads hold on the cluster and no longer list (all of a workload
    no longer in harmony.yaml), in the order deleted; a Namespace that holds anything of
    anyone else is kept."""
    keep = {s.key for s in steps}
    prunes = []
    for parent in (p for p in parents.values() if p.project == project):
        kinds = set(parent.group_kinds) | {s.group_kind for s in steps if s.workload == parent.workload}
        for resource in cluster.listable(kinds):
            for item in cluster.list(resource, selector=f"{ownership.PART_OF}={parent.id}"):
                metadata = item["metadata"]
                step = Step(parent.workload, PRUNE, resource.kind, metadata["name"], metadata.get("namespace"),
                            resource=resource, group=resource.group)
                if step.key not in keep:
                    prunes.append(step)
    going = {s.key for s in prunes}
    for step in prunes:
        if step.kind == "Namespace" and not step.group:
            charts = [s for s in prunes if s.kind == "HelmChart"]
            releases = frozenset(c.name for c in charts if _target_namespace(cluster, c) == step.name)
            _judge_namespace(cluster, step, parents, project, going, releases)
    return sorted(prunes, key=lambda s: -_rank(s))  # the reverse of the writes


def _target_namespace(cluster: Cluster, chart: Step) -> str | None:
    """Where a HelmChart's release is installed (helm-controller names the release after it)."""
    return ((cluster.get(chart.resource, chart.name, chart.namespace) or {}).get("spec") or {}).get("targetNamespace")


def _judge_namespace(cluster: Cluster, step: Step, parents: dict[str, Parent], project: str, going: set,
                     releases: frozenset[str]) -> None:
    """Keep a Namespace that holds what is not pruned with it (uninstalling the `releases` of
    pruned HelmCharts takes theirs); else say what goes with it."""
    items = [item for resource in cluster.listable(namespaced=True) for item in cluster.list(resource, step.name)]
    applyset = ownership.workload_id(project, step.workload)
    others = [item for item in items
              if (group_kind(group_of(item["apiVersion"]), item["kind"]), step.name, item["metadata"]["name"]) not in going]
    strangers = ownership.strangers(others, applyset, parents, project, releases)
    if strangers:
        step.action = KEEP
        step.note = f"kept: it holds {', '.join(strangers[:3])}" + \
            (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
    else:
        step.note = f"with everything in it ({len(items)} object(s))"


def carry_out(cluster: Cluster, planned: Plan, project: str, workloads: list[Workload],
              check=lambda doing: None) -> None:
    """Write and prune as planned, `check` called before each write (harmony.stopping). Each
    workload's parent first lists every kind and namespace it holds before and after the run,
    so a run stopped halfway still finds what to prune; then, once pruned, only what it holds
    now. Nothing is written while the plan holds a refusal."""
    if planned.refusals:
        raise RunFailed(f"{len(planned.refusals)} object(s) refused, nothing written: {planned.refusals[0]}")
    mine = {p.workload: p for p in planned.parents.values() if p.project == project}
    present = [w.name for w in workloads]
    steps = planned.steps
    for name in present:
        held = [s for s in steps if s.workload == name]
        old = mine.get(name) or Parent(ownership.parent_name(project, name), project, name)
        _write_parent(cluster, project, name, held, old)
    done, writes = [], [s for s in steps if s.action in WRITES]
    for step in (s for s in writes if _rank(s) < 2):  # Namespaces and CRDs
        _write(cluster, step, done, check)
    crds = [s.name for s in done if (s.group, s.kind) == CRD]
    if crds:
        cluster.established(crds, ESTABLISHED_SECONDS, check)
    _dry_run_deferred(cluster, [s for s in steps if s.deferred], done)
    for step in (s for s in writes if _rank(s) >= 2):
        _write(cluster, step, done, check)
    for step in steps:
        if step.action == PRUNE:
            check(f"pruning workload {step.workload}")
            cluster.delete(step.resource, step.name, step.namespace)
    for name in dict.fromkeys([*present, *mine]):
        kept = [s for s in steps if s.workload == name and s.action != PRUNE]
        if name in present or kept:  # a removed workload's parent stays while it holds a kept namespace
            _write_parent(cluster, project, name, kept)
        else:
            cluster.delete(cluster.required("v1", "ConfigMap"), mine[name].name, ownership.PARENT_NAMESPACE)


def _write_parent(cluster: Cluster, project: str, workload: str, steps: list[Step], old: Parent | None = None) -> None:
    parent = Parent(ownership.parent_name(project, workload), project, workload,
                    frozenset({s.group_kind for s in steps}) | (old.group_kinds if old else frozenset()),
                    frozenset({s.namespace for s in steps if s.namespace}) | (old.namespaces if old else frozenset()))
    cluster.apply(cluster.required("v1", "ConfigMap"), parent.body())


def _dry_run_deferred(cluster: Cluster, deferred: list[Step], done: list[Step]) -> None:
    """Dry-run what waited for a CRD or a namespace this run made, before writing any of it."""
    from kubernetes.dynamic.exceptions import DynamicApiError

    refusals = []
    for step in deferred:
        step.resource = step.resource or cluster.resource(step.body["apiVersion"], step.kind)
        if step.resource is None:
            refusals.append(f"workload {step.workload}: {step.label} ({step.source}): its CRD is Established, "
                            f"yet the cluster serves no {step.kind} in {step.body['apiVersion']}")
            continue
        try:
            cluster.apply(step.resource, step.body, dry=True)
        except DynamicApiError as error:
            refusals.append(f"workload {step.workload}: {step.label} ({step.source}): the cluster refuses it: "
                            f"{refusal(error)}")
    if refusals:
        raise RunFailed(f"{len(refusals)} object(s) refused: {refusals[0]}; written before it: {_said(done)}")


def _write(cluster: Cluster, step: Step, done: list[Step], check) -> None:
    """Write one step: a replace is one step, which a stop lets finish (it waits until the
    object exists again); an autoscaled object's replicas are handed over first."""
    from kubernetes.dynamic.exceptions import DynamicApiError

    check(f"applying workload {step.workload}")
    try:
        if step.kind == "HelmChart":
            step.replaces = ((cluster.install_job(step) or {}).get("metadata") or {}).get("uid")
        if step.action == REPLACE:
            cluster.delete(step.resource, step.name, step.namespace)
            _gone(cluster, step)
        if step.handover is not None:
            metadata = {k: v for k, v in step.body["metadata"].items() if k in ("name", "namespace")}
            cluster.apply(step.resource, {"apiVersion": step.body["apiVersion"], "kind": step.kind,
                                          "metadata": metadata, "spec": {"replicas": step.handover}},
                          manager=HANDOVER)
        cluster.apply(step.resource, step.body)
    except DynamicApiError as error:
        raise RunFailed(f"workload {step.workload}: {step.label} ({step.source}): the cluster refused it: "
                        f"{refusal(error)}; written before it: {_said(done)}") from None
    done.append(step)


def _said(done: list[Step]) -> str:
    if not done:
        return "nothing"
    return ", ".join(s.label for s in done[:5]) + (f" and {len(done) - 5} more" if len(done) > 5 else "")


def _gone(cluster: Cluster, step: Step) -> None:
    """Wait until a deleted object is gone (its finalizers done), at most GONE_SECONDS."""
    deadline = time.monotonic() + GONE_SECONDS
    while cluster.get(step.resource, step.name, step.namespace) is not None:
        if time.monotonic() > deadline:
            raise RunFailed(f"workload '{step.workload}': {step.label} was deleted to be replaced, and is still there "
                            f"after {GONE_SECONDS} s: see what holds it (kubectl describe)")
        time.sleep(1)
