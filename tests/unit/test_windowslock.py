"""A Windows controller's own run lock for its local host (`harmony.windowslock`): its waiting,
records and refusals, with msvcrt's byte lock on Windows (the workflow's runner), and on Linux
and macOS flock(2) in its place (the same contract: a non-blocking lock that fails at once while
another process has it, and is let go when that process ends)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from harmony import windowslock
from harmony.controller import Controller


WINDOWS = os.name == "nt"


def flock(file) -> None:
    import fcntl

    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


os_lock = windowslock.msvcrt_lock if WINDOWS else flock
TAKE = ("import msvcrt; f.seek(0); msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)" if WINDOWS
        else "import fcntl; fcntl.flock(f, fcntl.LOCK_EX)")


def holder(path, record: str, seconds: float) -> subprocess.Popen:
    """Another harmony run's process: holds the lock `seconds`, its record beside it."""
    script = (f"import sys, time; f = open({str(path)!r}, 'a+b'); {TAKE}; "
              f"open({str(path) + '.info'!r}, 'w').write({record!r}); print('held', flush=True); "
              f"time.sleep({seconds})")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    return process


@pytest.fixture(autouse=True)
def none_held(monkeypatch):
    monkeypatch.setattr(windowslock, "_held", {})


def test_the_lock_is_taken_once_and_kept_with_its_record(tmp_path):
    path = tmp_path / "harmony" / "k3d.lock"
    lock = windowslock.hold(path, "me@laptop, harmony pid 1", 0, os_lock)
    assert (lock.status, lock.waited) == ("held", "")
    assert (tmp_path / "harmony" / "k3d.lock.info").read_text() == "me@laptop, harmony pid 1"
    assert windowslock.hold(path, "me@laptop, harmony pid 1", 0, os_lock).status == "held"  # the verb's next deploy


def test_another_runs_lock_is_waited_for_then_refused_naming_it(tmp_path):
    path = tmp_path / "k3d.lock"
    other = holder(path, "ops@laptop, harmony pid 4242, started 2026-12-07T14:00:00+00:00", 30)
    try:
        started = time.monotonic()
        lock = windowslock.hold(path, "me", 1, os_lock)
    finally:
        other.kill()
        other.wait()
    assert time.monotonic() - started >= 1
    assert (lock.status, lock.path) == ("busy", str(path))
    assert lock.blocking(1) == ("another harmony run holds this host (ops@laptop, harmony pid 4242, started "
                                "2026-12-07T14:00:00+00:00); it did not end within 1 s: run again once it has")
    assert windowslock.hold(path, "me", 0, os_lock).status == "held"  # let go when its process ended


def test_a_run_that_ends_in_time_is_waited_for_and_said(tmp_path):
    path = tmp_path / "k3d.lock"
    other = holder(path, "ops@laptop, harmony pid 4242", 1)
    lock = windowslock.hold(path, "me", 30, os_lock)
    other.wait()
    assert lock.status == "held"
    assert lock.waited == "waited for another harmony run on this host to end (ops@laptop, harmony pid 4242)"
    assert (tmp_path / "k3d.lock.info").read_text() == "me"


def test_only_a_windows_controllers_local_host_is_locked_here(tmp_path, monkeypatch):
    local, remote = SimpleNamespace(name="@local", data={"harmony_run": "me"}), SimpleNamespace(name="10.0.0.1", data={})
    monkeypatch.setattr(windowslock, "HERE", Controller("linux"))
    assert windowslock.of(local) is None  # the fact's flock
    monkeypatch.setattr(windowslock, "HERE", Controller("windows"))
    monkeypatch.setattr(windowslock, "msvcrt_lock", os_lock)
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    assert windowslock.of(remote) is None
    assert windowslock.of(local).status == "held"
    assert (tmp_path / "harmony" / "k3d.lock.info").read_text() == "me"
