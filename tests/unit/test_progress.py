"""The progress lines claim a phase done only where every host did it: a failed step, or one
not begun after a stop, does not pass its phase, and a stopped run's undone phases say so."""

from __future__ import annotations

import io

from harmony.progress import Progress

OPERATIONS = {"a": [("1", "k3s up | binary | Install k3s"), ("2", "k3s up | configure | Write config.yaml"),
                    ("3", "k3s up | start | Enable and start k3s")]}


def progress() -> tuple[Progress, io.StringIO]:
    stream = io.StringIO()
    shown = Progress(stream, live=False)
    shown.planned(OPERATIONS)
    return shown, stream


def phase_lines(stream: io.StringIO) -> list[str]:
    return [line.split(" (")[0] for line in stream.getvalue().splitlines()]


def test_a_stopped_run_shows_its_undone_phases_as_stopped():
    shown, stream = progress()
    shown.ended("a", "1")
    shown.ended("a", "2", ok=False)  # not begun: the run was asked to stop
    shown.finish(stopped=True)
    assert phase_lines(stream) == ["binary: 1/1 hosts", "configure: 0/1 hosts, stopped", "start: 0/1 hosts, stopped"]


def test_a_run_that_ends_passes_every_host_through_every_phase():
    shown, stream = progress()
    shown.ended("a", "1")
    shown.ended("a", "2", ok=False)  # failed: the host is dropped, and the run goes on without it
    shown.finish()
    assert phase_lines(stream) == ["binary: 1/1 hosts", "configure: 1/1 hosts", "start: 1/1 hosts"]
