"""Stopping means stopped: a run told to stop ends on the controller and on the hosts, leaving
each host as it was; two runs against one host never interleave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.e2e.conftest import NEW, OLD, needs_mirror, until
from tests.e2e.test_failures import BINARY_PATH
from tests.e2e.test_faults import wait_for_line

BINARY = BINARY_PATH.format(version=NEW)


def controller_processes(run: subprocess.Popen) -> str:
    """What is left of a run on the controller: harmony runs in a session of its own (see
    `spawn`), which everything it starts inherits, also when harmony is gone."""
    assert run.poll() is not None  # asked only once harmony has ended
    return subprocess.run(["pgrep", "-a", "-s", str(run.pid)], capture_output=True, text=True).stdout


def run_processes_on(host) -> str:
    """What a run leaves running on a host: a downloader, harmony's scripts, its lock holder."""
    return host.sh("pgrep -af 'curl|wget|try_once|harmony-lock' | grep -v pgrep || true")


def spawn_up(harmony, host, *extra: str) -> subprocess.Popen:
    return harmony.spawn("up", "-v", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
                         "--kubeconfig-server", host.api_url, "--yes", *extra)


@needs_mirror
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_run_stopped_mid_download_ends_everywhere_and_leaves_the_old_k3s(harmony, host, stop):
    assert harmony.up(host, version=OLD).returncode == 0
    started, old_binary = host.started_at(), host.sh("sha256sum /usr/local/bin/k3s")
    harmony.mirror.faults[BINARY] = "stall"
    try:
        run = spawn_up(harmony, host, "--set", "harmony_download_stall_timeout=30")
        wait_for_line(run, f"Starting operation: k3s up | binary | Install k3s {NEW}")
        assert until(lambda: any(h.client == host.ip and h.origin == "blob" for h in harmony.mirror.hits[-5:])
                     and "curl" in run_processes_on(host), timeout=60)
        os.kill(run.pid, stop)  # harmony alone, as `kill PID` does
        code = run.wait(timeout=60)
    finally:
        harmony.mirror.faults.pop(BINARY, None)
    if stop == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 130
    assert until(lambda: controller_processes(run) == ""), controller_processes(run)
    assert until(lambda: run_processes_on(host) == ""), run_processes_on(host)
    assert host.leftovers() == ""
    assert host.sh("sha256sum /usr/local/bin/k3s") == old_binary
    assert host.is_active() and host.started_at() == started

    again = harmony.up(host)
    assert again.returncode == 0, again.stdout + again.stderr
    assert NEW in host.sh("k3s --version") and host.is_active()
    assert until(lambda: run_processes_on(host) == "")  # the lock holder ends with the run


def download_under_way(harmony, host) -> bool:
    """The host asks the mirror for k3s (stalled: it never ends) and its curl runs."""
    return (any(h.client == host.ip and h.origin == "blob" for h in harmony.mirror.hits[-5:])
            and "curl" in run_processes_on(host))


@needs_mirror
@pytest.mark.parametrize("stops", [1, 2], ids=["once", "twice"])
def test_a_stop_during_a_download_ends_the_run_at_once_and_reports_what_was_done(harmony, host, stops):
    """A download need not finish: a stop ends the run within moments (measured from the
    signal), with exit 130, no traceback, and a report of each phase done and not done."""
    assert harmony.up(host, version=OLD).returncode == 0
    started, old_binary = host.started_at(), host.sh("sha256sum /usr/local/bin/k3s")
    harmony.mirror.faults[BINARY] = "stall"
    try:
        run = harmony.spawn("up", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
                            "--kubeconfig-server", host.api_url, "--yes", "--json",
                            "--set", "harmony_download_stall_timeout=30")
        assert until(lambda: download_under_way(harmony, host), timeout=60)
        signalled = time.monotonic()
        for _ in range(stops):
            os.kill(run.pid, signal.SIGINT)
            time.sleep(0.2)  # two signals at once would be one
        out, err = run.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        harmony.mirror.faults.pop(BINARY, None)
    assert run.returncode == 130, out + err
    print(f"{took:.2f} s from SIGINT to exit")
    assert took < 5, f"{took:.1f} s from SIGINT to exit"
    assert "Traceback" not in err and "Forced" not in err, err
    body = json.loads(out)
    assert body["stopped"] is True and body["ok"] is False, body
    assert body["error"].startswith("stopped by SIGINT"), body
    (stopped,) = body["hosts"]
    assert stopped["status"] == "stopped", stopped
    assert stopped["phases_done"] == [], stopped  # an upgrade: its first phase is the binary's
    assert stopped["phases_not_done"] == ["binary", "configure", "service", "start", "kubeconfig"], stopped
    assert until(lambda: controller_processes(run) == ""), controller_processes(run)
    assert until(lambda: run_processes_on(host) == ""), run_processes_on(host)
    assert until(lambda: host.leftovers() == ""), host.leftovers()
    assert host.sh("sha256sum /usr/local/bin/k3s") == old_binary
    assert host.is_active() and host.started_at() == started


@needs_mirror
def test_a_stopped_run_shows_the_phases_it_did_not_run_as_not_done(harmony, host):
    """The progress lines (no -v, no --json) do not claim a phase the stop left undone."""
    assert harmony.up(host, version=OLD).returncode == 0
    harmony.mirror.faults[BINARY] = "stall"
    try:
        run = harmony.spawn("up", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
                            "--kubeconfig-server", host.api_url, "--yes", "--set", "harmony_download_stall_timeout=30")
        assert until(lambda: download_under_way(harmony, host), timeout=60)
        os.kill(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        harmony.mirror.faults.pop(BINARY, None)
    assert run.returncode == 130, out + err
    assert "binary: 0/1 hosts, stopped" in err and "start: 0/1 hosts, stopped" in err, err
    assert "binary: 1/1" not in err and "start: 1/1" not in err, err
    assert "127.0.0.1: stopped: not done: binary, configure, service, start, kubeconfig" in out, out
    assert "1 host: 0 changed, 0 unchanged, 0 failed, 1 stopped" in out, out


@needs_mirror
def test_a_run_that_cannot_wait_for_the_host_refuses_naming_the_holder(harmony, host):
    assert harmony.up(host, version=OLD).returncode == 0
    harmony.mirror.faults[BINARY] = "stall"
    try:
        first = spawn_up(harmony, host, "--set", "harmony_download_stall_timeout=30")
        wait_for_line(first, f"Starting operation: k3s up | binary | Install k3s {NEW}")
        second = harmony.up(host, "--set", "harmony_lock_wait=1")
        assert second.returncode == 1, second.stdout + second.stderr
        assert "another harmony run holds this host (" in second.stdout
        assert f"harmony pid {first.pid}," in second.stdout
        os.kill(first.pid, signal.SIGTERM)
        assert first.wait(timeout=60) == 130
    finally:
        harmony.mirror.faults.pop(BINARY, None)
    assert until(lambda: host.leftovers() == "") and OLD in host.sh("k3s --version")
    third = harmony.up(host, "--set", "harmony_lock_wait=1")
    assert third.returncode == 0, third.stdout + third.stderr


@needs_mirror
def test_a_stop_while_waiting_for_another_runs_lock_ends_at_once(harmony, host):
    """A wait (here: for the host's run lock, which a run stalled in its download holds) is
    ended by a stop, as a download is."""
    assert harmony.up(host, version=OLD).returncode == 0
    harmony.mirror.faults[BINARY] = "stall"
    try:
        first = spawn_up(harmony, host, "--set", "harmony_download_stall_timeout=30")
        assert until(lambda: download_under_way(harmony, host), timeout=60)
        second = harmony.spawn("up", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
                               "--kubeconfig-server", host.api_url, "--yes", "--json", "--set", "harmony_lock_wait=120")
        assert until(lambda: "flock -w" in host.sh("pgrep -af flock || true"), timeout=60)
        signalled = time.monotonic()
        os.kill(second.pid, signal.SIGINT)
        out, err = second.communicate(timeout=60)
        took = time.monotonic() - signalled
        os.kill(first.pid, signal.SIGINT)
        assert first.wait(timeout=60) == 130
    finally:
        harmony.mirror.faults.pop(BINARY, None)
    assert second.returncode == 130, out + err
    assert took < 5, f"{took:.1f} s from SIGINT to exit"
    assert "Traceback" not in err, err
    (stopped,) = json.loads(out)["hosts"]
    assert json.loads(out)["stopped"] is True and stopped["status"] == "stopped", out
    assert stopped["reason"] == "before its steps were planned" and stopped["phases_done"] == [], out
    assert until(lambda: controller_processes(second) == ""), controller_processes(second)


def test_two_runs_at_once_take_turns_and_both_tell_the_truth(harmony, host):
    runs = {version: spawn_up(harmony, host) if version == NEW else
            harmony.spawn("up", "-v", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(OLD),
                          "--kubeconfig-server", host.api_url, "--yes")
            for version in (OLD, NEW)}
    results = {version: (run.wait(timeout=300), run.stdout.read(), run.stderr.read())
               for version, run in runs.items()}
    waited = [version for version, (_, _, err) in results.items() if "waited for another harmony run" in err]
    assert len(waited) == 1, results
    assert results[NEW][0] == 0, results[NEW]  # first, or an upgrade after OLD's install
    if waited == [OLD]:  # OLD came second: a downgrade, refused
        assert results[OLD][0] == 1 and "refusing to downgrade" in results[OLD][1], results[OLD]
    else:
        assert results[OLD][0] == 0, results[OLD]
    assert NEW in host.sh("k3s --version") and host.is_active() and host.leftovers() == ""


def test_up_racing_down_take_turns(harmony, host):
    assert harmony.up(host).returncode == 0
    down = harmony.spawn("down", host.target, "--ssh-key", str(harmony.ssh_key), "--yes")
    up = spawn_up(harmony, host)
    results = {name: (run.wait(timeout=300), run.stdout.read(), run.stderr.read())
               for name, run in (("down", down), ("up", up))}
    assert all(code == 0 for code, _, _ in results.values()), results
    waited = [name for name, (_, _, err) in results.items() if "waited for another harmony run" in err]
    if waited == ["up"]:  # down first, then up installed k3s again
        assert host.is_active()
    else:
        assert waited == ["down"], results
        assert not host.exists("/usr/local/bin/k3s")


def test_a_lock_left_by_a_holder_that_died_is_taken_over_with_a_warning(harmony, host):
    assert harmony.up(host).returncode == 0
    assert until(lambda: run_processes_on(host) == "")  # that run's holder has let go
    host.sh("echo 'ops@elsewhere, harmony pid 4242, started 2026-11-30T10:00:00+00:00' > /run/harmony/lock.info")
    again = harmony.up(host)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ("took over this host's lock from a run that ended without letting go "
            "(ops@elsewhere, harmony pid 4242") in again.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
    assert until(lambda: not host.exists("/run/harmony/lock.info"))


def test_the_next_run_says_what_a_stopped_one_left_and_finishes_it(harmony, host):
    """A run stopped after it wrote config.yaml and before it restarted k3s leaves a k3s that
    runs on older files than those in place."""
    assert harmony.up(host).returncode == 0
    started = host.started_at()
    host.sh("sleep 1 && touch /etc/rancher/k3s/config.yaml")
    again = harmony.up(host)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "k3s runs on files older than those in place (an earlier run stopped before its restart)" in again.stderr
    assert host.started_at() != started
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in harmony.up(host).stdout


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_run_stopped_mid_restart_lets_it_finish_and_begins_nothing_more(harmony, host, stop):
    """SIGINT or SIGTERM: the restart in progress holds the stop (saying so) until it finishes,
    is reported, and no further step begins. SIGKILL leaves nobody to report, and the restart
    systemd was asked for completes."""
    assert harmony.up(host).returncode == 0
    started = host.started_at()
    host.write("/etc/default/k3s", "HARMONY_STANDIN_START_SECONDS=10\n")  # a start that takes a while
    run = spawn_up(harmony, host, "--set", 'k3s_node_labels={"tier": "core"}')
    lines = read_lines(run)
    assert until(lambda: any("operation: k3s up | start | Restart k3s" in line for line in lines), timeout=120)
    # The restart has begun once systemd is starting k3s again (its files are swapped in first):
    # a stop before it would end the run at once, a loaded machine taking its time to get there.
    assert until(lambda: host.sh("systemctl show -p ActiveState --value k3s") == "activating", timeout=60), lines
    os.kill(run.pid, stop)
    assert run.wait(timeout=60) == (-signal.SIGKILL if stop == signal.SIGKILL else 130)
    if stop != signal.SIGKILL:
        assert until(lambda: any(f"stopped by {stop.name} during 'k3s up | start | Restart k3s for its changed files': "
                                 "the steps in progress finished; no host began another" in line for line in lines)), "".join(lines[-6:])
        assert any("harmony: stopping: waiting for the restart of k3s on 127.0.0.1 to finish (at most " in line
                   and "; stop again to end it now" in line for line in lines), lines
        reported = run.stdout.read()
        assert "127.0.0.1: stopped: done: " in reported and "; not done: start, kubeconfig (after " in reported, reported
        assert "start: Restart k3s for its changed files)" in reported
    assert until(lambda: controller_processes(run) == "")
    assert until(lambda: host.is_active() and host.started_at() != started, timeout=60)
    assert "tier=core" in host.sh("cat /etc/rancher/k3s/config.yaml") and host.leftovers() == ""
    host.sh("rm /etc/default/k3s")
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in harmony.up(host, "--set", 'k3s_node_labels={"tier": "core"}').stdout


def test_a_second_stop_ends_a_held_restart_at_once(harmony, host):
    """The restart holds the first stop; the second ends the run at once, and systemd, which
    had the restart already, completes it."""
    assert harmony.up(host).returncode == 0
    started = host.started_at()
    host.write("/etc/default/k3s", "HARMONY_STANDIN_START_SECONDS=20\n")
    run = spawn_up(harmony, host, "--set", 'k3s_node_labels={"tier": "core"}')
    lines = read_lines(run)
    assert until(lambda: any("operation: k3s up | start | Restart k3s" in line for line in lines), timeout=120)
    time.sleep(2)
    os.kill(run.pid, signal.SIGINT)
    assert until(lambda: any("harmony: stopping: waiting for the restart of k3s on 127.0.0.1" in line
                             for line in lines), timeout=5), lines
    signalled = time.monotonic()
    os.kill(run.pid, signal.SIGINT)
    assert run.wait(timeout=60) == 130
    assert time.monotonic() - signalled < 5
    assert until(lambda: not any("Traceback" in line for line in lines) and
                 any("the run ended at once on every host" in line for line in lines)), lines
    reported = run.stdout.read()
    assert "127.0.0.1: stopped: done: " in reported and "not done: start, kubeconfig" in reported, reported
    assert until(lambda: controller_processes(run) == "")
    assert until(lambda: host.is_active() and host.started_at() != started, timeout=60)
    host.sh("rm /etc/default/k3s")


def read_lines(process: subprocess.Popen) -> list[str]:
    """The process's stderr lines, read in a thread, as they come."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True).start()
    return lines
