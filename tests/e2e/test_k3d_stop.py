"""Ctrl-C on a local k3d run (`harmony.localconnect`, `harmony.controller`): the run's commands
run in process groups of their own, so a stop reaches harmony alone, and harmony ends them, with
everything they started, when it ends the run. What the stopped create left (k3d rolls nothing
back) is a cluster `status` calls unfinished, `up` creates again (`harmony.k3d.unfinished`), and
`down` removes; another tool's cluster of the name, up and down leave alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

from tests.e2e import hosts as test_hosts
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


# The docker CLI, but for `docker start` (how k3d's create starts each node it made), which waits
# to be ended: a create stopped there has made its nodes' containers and started none, as k3d's
# ClusterCreate leaves them before ClusterStart. The stand-in k3s is up too soon to stop it by timing.
SLOW_START = """#!/bin/sh
if [ "$1" = start ]; then : > "$(dirname "$0")/starting"; exec sleep 120; fi
exec {docker} "$@"
"""


def test_a_stop_during_k3d_cluster_create_ends_its_command_group_and_up_creates_the_cluster_again(
        harmony, mirror, k3d_cluster, tmp_path, monkeypatch):
    bin_dir, slow = tmp_path / "bin", tmp_path / "slow"
    settings = ["--version", NEW, "--name", k3d_cluster,
                "--set", f"k3d_release_url={mirror.k3d_release_url}", "--allow-http",
                "--set", f"k3d_bin_dir={bin_dir}", "--set", f"k3d_api_port={free_port()}"]
    slow.mkdir()
    (slow / "docker").write_text(SLOW_START.format(docker=shutil.which("docker")))
    (slow / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow}:{os.environ['PATH']}")
    run = harmony.spawn("up", "--yes", *settings)
    monkeypatch.undo()  # the commands that follow use the docker CLI itself
    try:
        creating = f"{bin_dir}/k3d cluster create"
        assert until(lambda: session_of(creating), timeout=120), run.stderr.read() if run.poll() is not None else ""
        session = session_of(creating)
        assert session and session != str(run.pid)  # a group of its own: a terminal's Ctrl-C reaches harmony alone
        assert until(lambda: (slow / "starting").exists(), timeout=60)
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

    # What the stopped create left (its server's container, never started) is a cluster k3d
    # lists: status says its create never ended.
    mark = harmony.home / ".config" / "harmony" / "k3d" / f"{k3d_cluster}.creating"
    assert mark.exists()
    status = harmony("status", "--json", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}")
    (row,) = json.loads(status.stdout)["hosts"]
    assert (row["state"], row["healthy"]) == ("unfinished", False), row
    # up deletes it and creates it again: the kubeconfig follows, and the cluster is whole.
    up = harmony("up", "--yes", *settings)
    assert up.returncode == 0, up.stdout + up.stderr
    assert (f"Re-create (its create was stopped before it ended) the k3d cluster {k3d_cluster}" in up.stdout
            and "1 host: 1 changed" in up.stdout), up.stdout
    status = harmony("status", "--json", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}")
    (row,) = json.loads(status.stdout)["hosts"]
    assert status.returncode == 0 and (row["state"], row["healthy"]) == ("running", True), row
    assert not mark.exists()

    # `down` removes it.
    down = harmony("down", "--yes", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not containers(k3d_cluster)

    # Another tool's half-made cluster of the name (a server's container, never started, with
    # k3d's labels, which is all `k3d cluster list` reads): up and down name it and leave it be.
    theirs = test_hosts.docker("create", "--label", "app=k3d", "--label", f"k3d.cluster={k3d_cluster}",
                               "--label", "k3d.role=server", "--name", f"k3d-{k3d_cluster}-server-0",
                               f"rancher/k3s:{NEW.replace('+', '-')}", "server")
    for verb in (["up", *settings], ["down", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}"]):
        refused = harmony(verb[0], "--yes", *verb[1:])
        assert refused.returncode == 1 and f"k3d cluster '{k3d_cluster}' is not harmony's" in refused.stdout, \
            refused.stdout + refused.stderr
    assert list(containers(k3d_cluster)) == [theirs]
