"""A phase of a runtime's lifecycle on one host: the contract both runtimes' phases keep.

A phase has a name, a `should_run(run)` that decides from the host's one fact, already read
(no round trip of its own), whether any of its operations would change the host, and a
`run(run)` that declares those operations (pyinfra's `@deploy` of its name, so that they are
named `k3s up | binary | Install k3s`). pyinfra pays a fixed cost for every operation declared,
even one that changes nothing: a phase with nothing to do declares none. It is then recorded in
the run's context as passed (`harmony.runcontext.PassedPhase`), where the runner finds it, so
that `plan`, the progress display and the report still list it, unchanged.

`run` is what one host's run of the lifecycle knows, handed from phase to phase (`K3sHostRun`,
`K3dHostRun`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from pyinfra import host
from pyinfra.api import deploy

from harmony import runcontext

R = TypeVar("R")


def always(run: object) -> bool:
    """For a phase that always runs: preflight (the checks), or one whose operations are each
    declared only where the fact shows work for it."""
    return True


@dataclass(frozen=True)
class Phase(Generic[R]):
    name: str
    run: Callable[[R], None]  # declares the phase's operations for the current host
    should_run: Callable[[R], bool] = always  # False only where none of them would change it

    def declare(self, run: R) -> None:
        """The phase's operations for the current host, or none where it has nothing to do:
        then it is recorded as passed, at its place among the host's operations."""
        context = runcontext.of(host.state)
        context.met(self.name)
        if self.should_run(run):
            deploy(self.name)(self.run)(run)
        else:
            context.pass_phase(host.name, runcontext.PassedPhase(self.name, len(host.state.ops[host])))
