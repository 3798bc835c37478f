"""What a command reports: per host, what changed or failed and why; per phase, counts; as text
for people or as JSON for programs (`--json`). Commands build a `Report`; only this module
turns one into output, so every command says things the same way.

The JSON shape is stable (documented in docs/output.md, its JSON Schema `output.schema.json`):
every command prints one object with `command`, `ok` and `exit`; a command that ran on hosts
adds `cluster`, `seconds`, `summary` and `hosts` (each with `host` and `status`), and what the
command adds (`phases`, `nodes`, `api`, `differences`, ...); one that failed or was stopped,
`error` (and `stopped`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harmony.errors import Interrupted

SCHEMA = Path(__file__).with_name("output.schema.json")  # the JSON Schema of every --json object

# A host's status, by command: up says changed or unchanged, down removed or unchanged, a plan
# would change, nothing to change or would fail; any command can say failed, stopped (the run
# was stopped before the host was done), or unreachable (it could not be connected to, and was
# left out: a fleet is never all up, so the summary counts these apart from the failed).
FAILED = "failed"
STOPPED = "stopped"
UNREACHABLE = "unreachable"
UP = ("changed", "unchanged", FAILED)
DOWN = ("removed", "unchanged", FAILED)
KUBECONFIG = ("fetched", "unchanged", FAILED)
ROTATE = ("rotated", "unchanged", FAILED)
RESTORE = ("restored", "unchanged", FAILED)
PLAN = ("would change", "nothing to change", "would fail")
CHECK = ("as specified", "drifted", UNREACHABLE)
STATUS = ("healthy", "not healthy", UNREACHABLE)
NOT_DONE = (FAILED, UNREACHABLE)  # a run's hosts it did not do: it failed them, or could not reach them


# Where a phase's operations are named: "k3s up | configure | Write config.yaml".
SEPARATOR = " | "


def phase_of(name: str) -> str:
    """The phase in an operation's name, or "" for an operation of no phase (a wait)."""
    parts = name.split(SEPARATOR)
    return parts[1] if len(parts) > 2 else ""


def step_of(name: str) -> str:
    """An operation's own name, without its deploy's and phase's."""
    return name.split(SEPARATOR)[-1]


@dataclass
class Change:
    phase: str  # the lifecycle phase the step belongs to ("" for a step of no phase)
    step: str  # the step's own name, without the deploy's and phase's


@dataclass
class HostReport:
    host: str
    status: str
    changes: list[Change] = field(default_factory=list)
    reason: str | None = None  # why it failed, or would
    details: dict = field(default_factory=dict)  # what the command says of the host besides (JSON)

    @classmethod
    def of(cls, host: str, status: str, names: list[str], reason: str | None = None,
           details: dict | None = None) -> "HostReport":
        """A host's report from the names of the operations that changed it."""
        return cls(host, status, [Change(phase_of(n), step_of(n)) for n in names], reason, details or {})

    def line(self) -> str | None:
        """`host: status: what, or why`; None for a host with nothing to say (unchanged)."""
        if self.reason:
            before = f" (after {_steps(self.changes)})" if self.changes else ""
            return f"{self.host}: {self.status}: {self.reason}{before}"
        return f"{self.host}: {self.status}: {_steps(self.changes)}" if self.changes else None

    def as_dict(self) -> dict:
        return {"host": self.host, "status": self.status, "changes": [asdict(c) for c in self.changes],
                "reason": self.reason, **self.details}


@dataclass
class PhaseCount:
    phase: str
    changed: int = 0  # hosts on which the phase changed something
    unchanged: int = 0
    failed: int = 0


@dataclass
class Report:
    command: str
    cluster: str
    hosts: list[HostReport]
    statuses: tuple[str, ...]  # the command's statuses, in the order its summary counts them
    started: float = 0.0  # time.monotonic() when the command began
    seconds: float = 0.0
    phases: list[PhaseCount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # text only: what the command adds, a line each
    extra: dict = field(default_factory=dict)  # JSON only: what the command adds (nodes, api, ...)
    ok: bool = True
    stop: Exception | None = None  # the stop that ended the command's run: raised once this is out

    def summary(self) -> dict[str, int]:
        """{"hosts": N, status: count}: each of the command's statuses, then any other seen."""
        counts = {"hosts": len(self.hosts), **{status: 0 for status in self.statuses}}
        for host in self.hosts:
            counts[host.status] = counts.get(host.status, 0) + 1
        return counts

    def as_json(self) -> str:
        body: dict = {"command": self.command, "cluster": self.cluster, "ok": self.ok,
                "seconds": round(self.seconds, 2), "summary": self.summary(),
                "hosts": [h.as_dict() for h in self.hosts]}
        if self.phases:
            body["phases"] = [asdict(p) for p in self.phases]
        return json.dumps({**body, **self.extra}, indent=2)

    def summary_line(self) -> str:
        """`3 hosts: 1 changed, 2 unchanged, 0 failed in 2.1 s`; a status outside the command's
        own (stopped, unreachable) only where a host has it: `10 hosts: 8 changed, 0 unchanged,
        0 failed, 2 unreachable in 9.0 s`."""
        counts = self.summary()
        total = counts.pop("hosts")
        parts = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"{total} host{'s' if total != 1 else ''}: {parts} in {self.seconds:.1f} s"

    def text(self) -> list[str]:
        return [*host_lines(self.hosts), *self.notes, self.summary_line()]


def outcome(command: str, code: int, error: str | None = None, **extra) -> str:
    """The JSON object of a command that ends with no report of hosts: one that makes none
    (`init`, `schema`, `bundle`, `lab down`), or one that ended before it had one (bad input,
    exit 2; a stop, exit 130). The same keys as a report's, so that a program reads both alike."""
    body: dict = {"command": command, "ok": code == 0, "exit": code}
    if error is not None:
        body["error"] = error
    if code == Interrupted.exit_code:
        body["stopped"] = True
    return json.dumps({**body, **extra}, indent=2)


def host_lines(hosts: list[HostReport]) -> list[str]:
    """One line for each host that changed or failed (with what, or why); none for the others."""
    return [line for line in (host.line() for host in hosts) if line]


def some(names: list[str], most: int = 5) -> str:
    """`a, b, c`, or for a long list its first `most` and how many more: a line stays a line."""
    shown = ", ".join(names[:most])
    return f"{shown} and {len(names) - most} more" if len(names) > most else shown


def _steps(changes: list[Change]) -> str:
    """`configure: Write config.yaml; start: Restart k3s`: steps grouped by phase, in order."""
    groups: list[tuple[str, list[str]]] = []
    for change in changes:
        if groups and groups[-1][0] == change.phase:
            groups[-1][1].append(change.step)
        else:
            groups.append((change.phase, [change.step]))
    return "; ".join(f"{phase}: {', '.join(steps)}" if phase else ", ".join(steps) for phase, steps in groups)
