"""Faults in the middle of a run: a host dies, the controller is killed, a disk is full."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time

from tests.e2e.conftest import NEW, OLD, needs_mirror, write_inventory
from tests.e2e.test_failures import BINARY_PATH, fault
from tests.e2e.test_multi_node import AGENT_UNIT, nodes, summary


def wait_for_line(process: subprocess.Popen, text: str, timeout: float = 120) -> None:
    """Read the process's stderr (in a thread, to bound the wait, which goes on reading it to the
    end) until a line holds `text`."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in lines.get(timeout=1):
                return
        except queue.Empty:
            if process.poll() is not None:
                break
    raise AssertionError(f"never saw {text!r} (exit {process.poll()})")


def test_a_host_killed_mid_run_is_named_the_others_finish_and_it_converges_later(harmony, start_host, tmp_path):
    server, agent1, agent2 = start_host(), start_host(), start_host()

    def inventory():
        return write_inventory(tmp_path / "edge.py", servers={"s1": (server, {"k3s_node_name": "s1"})},
                               agents={"a1": (agent1, {"k3s_node_name": "a1"}),
                                       "a2": (agent2, {"k3s_node_name": "a2"})})

    run = harmony.spawn("up", "-v", str(inventory()), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                        *harmony.release_args(), "--kubeconfig-server", server.api_url, "--yes")
    wait_for_line(run, "Starting operation")
    agent2.kill()
    stdout = run.stdout.read()
    assert run.wait(timeout=300) == 1, stdout
    outcome = {name: text for name, text in (line.split(": ", 1) for line in stdout.splitlines() if ": " in line)}
    assert outcome["a2"].startswith("failed: lost the connection to a2: "), outcome  # the cause, not pyinfra's count
    assert outcome["s1"].startswith("changed") and outcome["a1"].startswith("changed"), outcome
    assert sorted(nodes(harmony)) == ["a1", "s1"]

    agent2.revive()
    started = {h.name: h.started_at(u) for h, u in ((server, "k3s"), (agent1, AGENT_UNIT))}
    again = harmony.up_cluster(inventory(), server)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary(again)["a2"].startswith("changed") and "a1" not in summary(again)
    assert sorted(nodes(harmony)) == ["a1", "a2", "s1"]
    assert {h.name: h.started_at(u) for h, u in ((server, "k3s"), (agent1, AGENT_UNIT))} == started


def test_a_controller_killed_mid_run_leaves_nothing_half_done_and_a_rerun_converges(harmony, host):
    run = harmony.spawn("up", "-v", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
                        "--kubeconfig-server", host.api_url, "--yes")
    wait_for_line(run, "Starting operation: k3s up | configure | Write config.yaml")
    os.killpg(run.pid, signal.SIGKILL)  # harmony and its pyinfra, as if the controller died
    run.wait(timeout=30)

    again = harmony.up(host)
    assert again.returncode == 0, again.stdout + again.stderr
    assert host.is_active()
    assert host.leftovers() == ""
    assert harmony.up(host).stdout.count("1 host: 0 changed, 1 unchanged, 0 failed") == 1


@needs_mirror
def test_a_run_killed_during_the_download_leaves_the_old_k3s_and_a_rerun_converges(harmony, host):
    assert harmony.up(host, version=OLD).returncode == 0
    path = BINARY_PATH.format(version=NEW)
    with fault(harmony.mirror, path, "stall"):
        run = harmony.spawn("up", "-v", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
                            "--kubeconfig-server", host.api_url, "--set", "harmony_download_stall_timeout=3",
                            "--yes")
        wait_for_line(run, f"Starting operation: k3s up | binary | Install k3s {NEW}")
        deadline = time.monotonic() + 60
        while path not in harmony.mirror.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        assert path in harmony.mirror.requests
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    assert OLD in host.sh("k3s --version") and host.is_active()

    again = harmony.up(host)
    assert again.returncode == 0, again.stdout + again.stderr
    assert NEW in host.sh("k3s --version") and host.is_active()
    # The killed run's download, if it still runs on the host, gives up and removes its file.
    deadline = time.monotonic() + 60
    while host.leftovers() and time.monotonic() < deadline:
        time.sleep(1)
    assert host.leftovers() == ""
    assert harmony.up(host).stdout.count("1 host: 0 changed, 1 unchanged, 0 failed") == 1


def test_a_full_disk_fails_the_upgrade_clearly_and_the_old_k3s_keeps_running(harmony, host):
    assert harmony.up(host, version=OLD).returncode == 0
    started = host.started_at()
    # /usr/local/bin becomes a filesystem with room for what is there and little more.
    host.sh("cp -a /usr/local/bin /tmp/bin && used=$(du -sk /tmp/bin | cut -f1) && "
            "mount -t tmpfs -o size=$((used + 8))k tmpfs /usr/local/bin && cp -a /tmp/bin/. /usr/local/bin/")
    result = harmony.up(host, version=NEW)
    assert result.returncode == 1
    assert ("127.0.0.1: failed: harmony: download failed after 1 try: cannot write to /usr/local/bin "
            "(is the disk full?)") in result.stdout, result.stdout
    assert OLD in host.sh("/usr/local/bin/k3s --version")
    assert host.leftovers() == ""
    assert host.started_at() == started and host.is_active()


def test_the_next_run_removes_the_temporary_files_a_killed_run_left(harmony, host):
    assert harmony.up(host).returncode == 0
    # What a run killed at the wrong moment leaves: a file being written beside its target, a
    # download's temporary file, an upload not yet moved out of the staging directory, a kept file.
    left = ["/etc/rancher/k3s/config.yaml.harmony-0badc0de", "/usr/local/bin/.k3s.harmony-Xy12Ab",
            "/var/lib/harmony/staging/0badc0de-config.yaml", "/etc/rancher/k3s/.config.yaml.harmony-previous"]
    host.sh("mkdir -p /var/lib/harmony/staging && touch " + " ".join(left))
    started = host.started_at()
    again = harmony.up(host)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Remove the temporary files a killed run left" in again.stdout
    assert host.leftovers() == "" and host.started_at() == started
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in harmony.up(host).stdout
