"""What a run's steps and its runner tell each other beyond pyinfra's results, as values.

pyinfra's results say which operations changed or failed a host. What they cannot say: in a dry
run (`plan`, `check`), that a host *would* fail and why (pyinfra's plan only counts the failing
command as a change); while a run goes, that it was asked to stop (so that no step begins after
that); why a host could not be connected to; whose turn in a rolling restart was refused (so
that it does not count as where the rollout stopped); and which phases a host passed with
nothing to do, declaring no operation (`harmony.phase`), so that its report still names them.
The runner makes one `RunContext` for each pyinfra State it runs, and the steps find it from
their host's State: neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from weakref import WeakKeyDictionary


@dataclass(frozen=True)
class PassedPhase:
    """A phase a host passed without declaring an operation: nothing in it would change."""

    name: str
    after: int  # how many of the host's operations come before it: its place among them


@dataclass
class RunContext:
    stop_asked: bool = False  # no step begins once this is set
    would_fail: dict[str, str] = field(default_factory=dict)  # a dry run: host name -> why it would fail
    unreachable: dict[str, str] = field(default_factory=dict)  # host name -> why the run could not connect
    turns_refused: set[str] = field(default_factory=set)  # hosts whose turn in a rolling restart was refused
    phases: list[str] = field(default_factory=list)  # the lifecycle's phases, in the order hosts met them
    passed: dict[str, list[PassedPhase]] = field(default_factory=dict)  # host name -> its phases passed, in order
    published: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host name -> the port mappings in effect (k3d)
    nodes: dict[str, str] = field(default_factory=dict)  # host name -> its node's name (k3s)

    def refuse(self, host: str, why: str) -> None:
        """Note that `host` would fail, and why: the first reason found is the one told."""
        self.would_fail.setdefault(host, why)

    def met(self, phase: str) -> None:
        """Note that a host reached `phase`. Every host meets the phases in lifecycle order, so
        the order they are first met in is the lifecycle's, however the hosts interleave."""
        if phase not in self.phases:
            self.phases.append(phase)

    def pass_phase(self, host: str, phase: PassedPhase) -> None:
        """Note that `host` passed `phase`, unchanged, declaring nothing."""
        self.passed.setdefault(host, []).append(phase)


# How pyinfra's log shows a host that would fail, for a reader of the log (-v): the runner skips
# these lines, having the value.
WOULD_FAIL = "harmony: would fail: "

_contexts: WeakKeyDictionary = WeakKeyDictionary()


def of(state) -> RunContext:
    """The context of the run that `state` (pyinfra's State) is, made on first use."""
    context = _contexts.get(state)
    if context is None:
        context = _contexts[state] = RunContext()
    return context
