"""The progress lines claim a phase done only where every host did it: a failed step, or one
not begun after a stop, does not pass its phase, and a stopped run's undone phases say so."""

from __future__ import annotations

import io

from harmony.progress import Progress
from harmony.runcontext import PassedPhase

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


def test_a_phase_passed_with_nothing_to_do_is_done_in_its_place_once_the_steps_before_it_are():
    stream = io.StringIO()
    shown = Progress(stream, live=False)
    passed = [PassedPhase("prepare", 0), PassedPhase("service", 2), PassedPhase("kubeconfig", 3)]
    shown.planned(OPERATIONS, {"a": passed}, ["preflight", "prepare", "binary", "configure", "service", "start",
                                              "kubeconfig"])
    assert phase_lines(stream) == ["prepare: 1/1 hosts"]  # nothing before it
    shown.ended("a", "1")
    shown.ended("a", "2")
    assert phase_lines(stream)[1:] == ["binary: 1/1 hosts", "configure: 1/1 hosts", "service: 1/1 hosts"]
    shown.ended("a", "3")
    shown.finish()
    assert phase_lines(stream)[4:] == ["start: 1/1 hosts", "kubeconfig: 1/1 hosts"]
