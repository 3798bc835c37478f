"""The workloads' part of a command, once the cluster answers: `up` applies, prunes and waits;
`plan` and `check` say what `up` would do; and each says it in lines and in JSON."""

from __future__ import annotations

import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from harmony.workloads import access, apply, lease, rollout
from harmony.workloads.spec import Workload


@dataclass
class Outcome:
    steps: list[apply.Step]
    failures: list[rollout.Failure] = field(default_factory=list)
    waited: bool = False  # whether the rollouts were waited for (up), or only looked at
    reach: list[str] = field(default_factory=list)  # how to reach what runs (up)

    def lines(self, verbs: dict[str, str]) -> list[str]:
        """A line per workload: its objects' counts by what happens to them, then whether it
        runs; then a line per failure."""
        lines = []
        for name in dict.fromkeys(s.workload for s in self.steps):
            counts = Counter(s.action for s in self.steps if s.workload == name)
            said = ", ".join(f"{counts[a]} {verbs[a]}" for a in (apply.CREATE, apply.CHANGE, apply.REPLACE,
                                                                    apply.PRUNE, apply.UNCHANGED) if counts[a])
            failed = any(f.workload == name for f in self.failures)
            if self.waited:
                said += "; not running" if failed else "; running"
            lines.append(f"workload {name}: {said}")
        return lines + [f.line for f in self.failures] + self.reach

    def as_json(self) -> dict:
        return {"objects": [s.as_dict() for s in self.steps],
                "failures": [{"workload": f.workload, "object": f.object, "reason": f.reason} for f in self.failures],
                "reach": self.reach}

    @property
    def differences(self) -> list[str]:
        """What `check` calls drift: an object `up` would create, change or prune, and a
        rollout that is not complete."""
        return [f"workload {s.workload}: would {s.action} {s.label}" for s in self.steps if s.action != apply.UNCHANGED] \
            + [f.line for f in self.failures]


UP_VERBS = {apply.CREATE: "created", apply.CHANGE: "changed", apply.REPLACE: "replaced", apply.PRUNE: "pruned",
            apply.UNCHANGED: "unchanged"}
PLAN_VERBS = {apply.CREATE: "to create", apply.CHANGE: "to change", apply.REPLACE: "to replace",
              apply.PRUNE: "to prune", apply.UNCHANGED: "unchanged"}


def up(config: dict, cluster_name: str, workloads: list[Workload], timeout: float,
       k3d_ports: tuple[str, ...] | None = None, check=lambda doing: None, lock_wait: float = 60) -> Outcome:
    """Apply, prune, wait, one run at a time (`lease`, waited for up to `lock_wait` seconds),
    `check` called between requests (harmony.stopping); once everything runs, say how to reach
    it (`access`)."""
    cluster = apply.Cluster(config, apply.discovery_cache(cluster_name))
    with lease.held(cluster, lock_wait, check) as renew:
        def checked(doing: str) -> None:
            check(doing)
            renew()

        steps = apply.plan(cluster, workloads, checked)
        apply.carry_out(cluster, steps, workloads, checked)
        outcome = Outcome(steps, rollout.wait(cluster, steps, timeout, checked), waited=True)
    if not outcome.failures:
        address = urllib.parse.urlsplit(config["clusters"][0]["cluster"]["server"]).hostname
        outcome.reach = access.lines(cluster, steps, address, k3d_ports)
    return outcome


def survey(config: dict, cluster_name: str, workloads: list[Workload], rollouts: bool) -> Outcome:
    """What `up` would do, changing nothing; with `rollouts`, also each rollout not complete now."""
    cluster = apply.Cluster(config, apply.discovery_cache(cluster_name))
    steps = apply.plan(cluster, workloads)
    present = [s for s in steps if s.action in (apply.UNCHANGED, apply.CHANGE, apply.REPLACE)]
    return Outcome(steps, rollout.now(cluster, present) if rollouts else [])
