"""The workloads' part of a command, once the cluster answers: `up` applies, prunes and waits;
`plan` and `check` say what `up` would do; and each says it in lines and in JSON."""

from __future__ import annotations

import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from harmony.workloads import access, apply, lease, rollout
from harmony.workloads.cluster import Cluster, answered, discovery_cache
from harmony.workloads.spec import Workload


@dataclass
class Outcome:
    steps: list[apply.Step]
    failures: list[rollout.Failure] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # what up would refuse to write
    waited: bool = False  # whether the rollouts were waited for (up), or only looked at
    reach: list[str] = field(default_factory=list)  # how to reach what runs (up)

    def lines(self, verbs: dict[str, str]) -> list[str]:
        """A line per workload: its objects' counts by what happens to them, then whether it
        runs; then a line per failure."""
        lines = []
        for name in dict.fromkeys(s.workload for s in self.steps):
            counts = Counter(s.action for s in self.steps if s.workload == name)
            said = ", ".join(f"{counts[a]} {verbs[a]}" for a in ACTIONS if counts[a])
            failed = any(f.workload == name for f in self.failures)
            if self.waited:
                said += "; not running" if failed else "; running"
            lines.append(f"workload {name}: {said}")
        notes = [f"workload {s.workload}: {s.label}: {s.note}" for s in self.steps
                 if s.note and not (self.waited and s.deferred)]
        return lines + notes + self.refusals + [f.line for f in self.failures] + self.reach

    def as_json(self) -> dict:
        return {"objects": [s.as_dict() for s in self.steps], "refused": self.refusals,
                "failures": [{"workload": f.workload, "object": f.object, "reason": f.reason} for f in self.failures],
                "reach": self.reach}

    @property
    def differences(self) -> list[str]:
        """What `check` calls drift: an object `up` would create, change or prune, and a
        rollout that is not complete."""
        return [f"workload {s.workload}: would {s.action} {s.label}" for s in self.steps
                if s.action not in (apply.UNCHANGED, apply.KEEP)] + self.refusals + [f.line for f in self.failures]


ACTIONS = (apply.CREATE, apply.CHANGE, apply.REPLACE, apply.ADOPT, apply.PRUNE, apply.KEEP, apply.UNCHANGED)
UP_VERBS = {apply.CREATE: "created", apply.CHANGE: "changed", apply.REPLACE: "replaced", apply.ADOPT: "adopted",
            apply.PRUNE: "pruned", apply.KEEP: "kept from pruning", apply.UNCHANGED: "unchanged"}
PLAN_VERBS = {apply.CREATE: "to create", apply.CHANGE: "to change", apply.REPLACE: "to replace",
              apply.ADOPT: "to adopt", apply.PRUNE: "to prune", apply.KEEP: "kept from pruning",
              apply.UNCHANGED: "unchanged"}


def up(config: dict, cluster_name: str, project: str, workloads: list[Workload], timeout: float,
       k3d_ports: tuple[str, ...] | None = None, check=lambda doing: None, lock_wait: float = 60,
       adopt: bool = False) -> Outcome:
    """Apply, prune, wait, one run at a time (`lease`, waited for up to `lock_wait` seconds),
    `check` called between requests (harmony.stopping); once everything runs, say how to reach
    it (`access`). Where the plan holds a refusal, nothing is written: the outcome says why."""
    with answered():
        cluster = Cluster(config, discovery_cache(cluster_name))
        with lease.held(cluster, lock_wait, check) as renew:
            def checked(doing: str) -> None:
                check(doing)
                renew()

            planned = apply.plan(cluster, project, workloads, adopt, checked)
            if planned.refusals:
                return Outcome(planned.steps, refusals=planned.refusals)
            apply.carry_out(cluster, planned, project, workloads, checked)
            steps = planned.steps
            outcome = Outcome(steps, rollout.wait(cluster, steps, timeout, checked), waited=True)
        if not outcome.failures:
            address = urllib.parse.urlsplit(config["clusters"][0]["cluster"]["server"]).hostname
            outcome.reach = access.lines(cluster, steps, address, k3d_ports)
    return outcome


def survey(config: dict, cluster_name: str, project: str, workloads: list[Workload], rollouts: bool,
           adopt: bool = False) -> Outcome:
    """What `up` would do, changing nothing; with `rollouts`, also each rollout not complete now."""
    with answered():
        cluster = Cluster(config, discovery_cache(cluster_name))
        planned = apply.plan(cluster, project, workloads, adopt)
        present = [s for s in planned.steps if s.action in (apply.UNCHANGED, apply.CHANGE, apply.REPLACE)]
        return Outcome(planned.steps, rollout.now(cluster, present) if rollouts else [], planned.refusals)


def others(config: dict, cluster_name: str, project: str) -> dict[str, list[str]]:
    """{project: its workloads} of the other projects whose workloads the cluster runs."""
    with answered():
        found: dict[str, list[str]] = {}
        for parent in apply.all_parents(Cluster(config, discovery_cache(cluster_name))):
            if parent.project != project:
                found.setdefault(parent.project or "(none: an earlier harmony's)", []).append(parent.workload)
    return found
