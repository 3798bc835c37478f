"""Ctrl-C on a local k3d run (`harmony.localconnect`, `harmony.controller`): the run's commands
run in process groups of their own, so a stop reaches harmony alone, and harmony ends them, with
everything they started, when it ends the run; `down` removes what the stopped create left."""

from __future__ import annotations

import os
import signal
import subprocess

from tests.e2e import test_k3d
from tests.e2e.conftest import NEW, until
from tests.e2e.test_k3d import containers, free_port

pytestmark = test_k3d.pytestmark
k3d_cluster = test_k3d.k3d_cluster  # the fixture, shared


def session_of(pattern: str) -> str:
    """The session of the first process whose command line matches `pattern`, or ""."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    if not found:
        return ""
    return subprocess.run(["ps", "-o", "sid=", "-p", found[0]], capture_output=True, text=True).stdout.strip()


def in_session(session: str) -> str:
    return subprocess.run(["pgrep", "-a", "-s", session], capture_output=True, text=True).stdout


def test_a_stop_during_k3d_cluster_create_ends_its_command_group_and_down_removes_the_rest(
        harmony, mirror, k3d_cluster, tmp_path):
    bin_dir = tmp_path / "bin"
    settings = ["--version", NEW, "--name", k3d_cluster,
                "--set", f"k3d_release_url={mirror.k3d_release_url}", "--allow-http",
                "--set", f"k3d_bin_dir={bin_dir}", "--set", f"k3d_api_port={free_port()}"]
    run = harmony.spawn("up", "--yes", *settings)
    try:
        creating = f"{bin_dir}/k3d cluster create"
        assert until(lambda: session_of(creating), timeout=120), run.stderr.read() if run.poll() is not None else ""
        session = session_of(creating)
        assert session and session != str(run.pid)  # a group of its own: a terminal's Ctrl-C reaches harmony alone
        os.kill(run.pid, signal.SIGINT)  # as Ctrl-C would, now
        code = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    stderr = run.stderr.read()
    assert code == 130, stderr
    assert "harmony: error: stopped by SIGINT during 'k3d up | cluster | Create the k3d cluster" in stderr, stderr
    assert until(lambda: in_session(session) == "", timeout=10), in_session(session)  # k3d and its docker runs

    # Whatever the stopped create left (a network, containers) is the cluster's: `down` removes it.
    down = harmony("down", "--yes", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not containers(k3d_cluster)
