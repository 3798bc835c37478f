"""What a run's steps and its runner tell each other beyond pyinfra's results, as values.

pyinfra's results say which operations changed or failed a host. What they cannot say: in a dry
run (`plan`, `check`), that a host *would* fail and why (pyinfra's plan only counts the failing
command as a change); while a run goes, that it was asked to stop (so that no step begins after
that); why a host could not be connected to; and whose turn in a rolling restart was refused
(so that it does not count as where the rollout stopped). The runner makes one `RunContext` for each pyinfra State it runs, and
the steps find it from their host's State: neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from weakref import WeakKeyDictionary


@dataclass
class RunContext:
    stop_asked: bool = False  # no step begins once this is set
    would_fail: dict[str, str] = field(default_factory=dict)  # a dry run: host name -> why it would fail
    unreachable: dict[str, str] = field(default_factory=dict)  # host name -> why the run could not connect
    turns_refused: set[str] = field(default_factory=set)  # hosts whose turn in a rolling restart was refused

    def refuse(self, host: str, why: str) -> None:
        """Note that `host` would fail, and why: the first reason found is the one told."""
        self.would_fail.setdefault(host, why)


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
