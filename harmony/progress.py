"""A run's progress, phase by phase: hosts done out of the total, and the time since it began.

On a terminal (stderr), a live display drawn with rich, redrawn in place; elsewhere (CI, a
pipe), one plain line as each phase is done on every host. The runner feeds it pyinfra's
events: which operations each host has (after the deploy is prepared), and each one's end.

A host is done with a phase when its last operation of that phase has ended, or when one of a
later phase has; a phase it passed with nothing to do, declaring no operation
(`harmony.runcontext.PassedPhase`), once the operations before it have.
"""

from __future__ import annotations

import sys
import time

from harmony.report import phase_of
from harmony.runcontext import PassedPhase


class Progress:
    def __init__(self, stream=None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.phases: list[str] = []  # in lifecycle order
        self.left: dict[str, dict[str, set[str]]] = {}  # phase -> host -> its operations not ended
        self.done: dict[str, set[str]] = {}  # phase -> hosts done with it
        self.finished_at: dict[str, float] = {}  # phase -> seconds into the run when every host was done
        self.hosts: set[str] = set()
        self.place: dict[tuple[str, str], int] = {}  # (host, operation) -> its place among the host's, from 1
        self.passing: dict[str, list[PassedPhase]] = {}  # host -> the phases it passed with nothing to do
        self.stopped = False  # the run was stopped: a phase not done on every host will not be
        self.display = None

    def planned(self, operations: dict[str, list[tuple[str, str]]],
                passed: dict[str, list[PassedPhase]] | None = None, order: list[str] | None = None) -> None:
        """Each host's operations, in order, as (operation id, name); the phases each passed with
        nothing to do, at their places among them; the lifecycle's phases, in order."""
        self.hosts = set(operations)
        self.phase = {op: phase_of(name) for ops in operations.values() for op, name in ops}
        self.place = {(host, op): index + 1 for host, ops in operations.items() for index, (op, _) in enumerate(ops)}
        self.passing = {host: phases for host, phases in (passed or {}).items() if host in self.hosts}
        for host, ops in operations.items():
            for op in (op for op, _ in ops if self.phase[op]):
                self._meet(self.phase[op], host).add(op)
            for phase in self.passing.get(host, ()):
                self._meet(phase.name, host)
        rank = {phase: index for index, phase in enumerate(order or ())}
        self.phases.sort(key=lambda phase: rank.get(phase, len(rank)))
        for host in self.passing:
            self._reached(host, 0)
        if self.live and self.phases:
            self._start_live()

    def _meet(self, phase: str, host: str) -> set[str]:
        """The host's operations of `phase` not ended yet."""
        if phase not in self.left:
            self.phases.append(phase)
            self.left[phase], self.done[phase] = {}, set()
        return self.left[phase].setdefault(host, set())

    def _reached(self, host: str, count: int) -> None:
        """The host's first `count` operations have ended: so has each phase it passed among them."""
        for phase in self.passing.get(host, ()):
            if phase.after <= count:
                self._passed(phase.name, host)

    def ended(self, host: str, op: str, ok: bool = True) -> None:
        """One operation has ended on one host: done (changed or unchanged), or not (failed, or
        not begun after a stop), which does not pass its phase yet."""
        phase = self.phase.get(op, "")
        for earlier in self.phases[:self.phases.index(phase)] if phase in self.phases else []:
            self._passed(earlier, host)
        if phase and ok:
            left = self.left[phase].get(host, set())
            left.discard(op)
            if not left:
                self._passed(phase, host)
        if ok:
            self._reached(host, self.place.get((host, op), 0))

    def finish(self, stopped: bool = False) -> None:
        """The run is over: every host is past every phase (done or failed); where the run was
        stopped, a phase not done on every host is shown as stopped, with the hosts that did it."""
        self.stopped = stopped
        for phase in self.phases:
            if not stopped:
                for host in self.hosts:
                    self._passed(phase, host)
            elif phase not in self.finished_at and not self.live:
                self.stream.write(self.line(phase) + "\n")
        self.stream.flush()
        if self.display is not None:
            self.display.stop()  # draws the final table

    def _passed(self, phase: str, host: str) -> None:
        done = self.done[phase]
        if host in done:
            return
        done.add(host)
        if done >= self.hosts and phase not in self.finished_at:
            self.finished_at[phase] = time.monotonic() - self.started
            if not self.live:
                self.stream.write(self.line(phase) + "\n")
                self.stream.flush()

    def _seconds(self, phase: str) -> float:
        """When every host was done with the phase, else how long the run has gone."""
        return self.finished_at.get(phase, time.monotonic() - self.started)

    def line(self, phase: str) -> str:
        hosts = f"{phase}: {len(self.done[phase])}/{len(self.hosts)} hosts"
        return f"{hosts}, stopped" if self.stopped and phase not in self.finished_at else \
            f"{hosts} ({self._seconds(phase):.1f} s)"

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.display = Live(self._table(), console=Console(file=self.stream), refresh_per_second=8,
                            transient=False, get_renderable=self._table)
        self.display.start()

    def _table(self):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        for phase in self.phases:
            mark = ("[green]done[/]" if phase in self.finished_at else "[red]stopped[/]" if self.stopped
                    else "[yellow]...[/]")
            table.add_row(phase, f"{len(self.done[phase])}/{len(self.hosts)} hosts",
                          f"{self._seconds(phase):.1f} s", mark)
        return table
