"""The host lock is root's: no other user of a host can take it or block a run, a process that
holds it and is not a harmony run is named, and a host whose lock a run cannot take (or whose
first server's) changes nothing. Runs of an earlier harmony, which locked /run/harmony.lock,
and of this one take turns."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import NEW, OLD, each_init, needs_mirror, until, write_inventory
from tests.e2e.test_failures import BINARY_PATH, fault
from tests.e2e.test_faults import wait_for_line
from tests.e2e.test_stopping import run_processes_on, spawn_up

LOCK, EARLIER = "/run/harmony/lock", "/run/harmony.lock"
# What a run changes on a host: k3s's files, its binary, the unit; and when k3s last started.
WATCHED = "/usr/local/bin/k3s /etc/rancher/k3s /etc/systemd/system /etc/init.d /var/lib/harmony"


def as_nobody(host, command: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", *options, host.name, "su", "-s", "/bin/sh", "nobody", "-c", command],
                          capture_output=True, text=True, timeout=30)


def hold(host, path: str) -> str:
    """Start `flock PATH sleep 300` on the host, as root; its pid there."""
    subprocess.run(["docker", "exec", "-d", host.name, "flock", path, "sleep", "300"], check=True)
    assert until(lambda: host.sh(f"pgrep -xf 'flock {path} sleep 300' || true") != "")
    return host.sh(f"pgrep -xf 'flock {path} sleep 300'")


def fingerprint(host) -> str:
    """Every file of k3s and harmony's on the host, by hash, mode and mtime, and k3s's start."""
    files = host.sh(f"find {WATCHED} -type f -exec stat -c '%n %a %Y' {{}} + -exec sha256sum {{}} + | sort")
    return f"{files}\n{host.started_at()}"


def test_the_lock_is_roots_alone_and_another_user_can_neither_take_nor_block_it(harmony, host):
    first = harmony.up(host)
    assert first.returncode == 0, first.stdout + first.stderr
    assert host.sh(f"stat -c '%a %U' /run/harmony {LOCK} {EARLIER}").splitlines() == ["700 root", "600 root",
                                                                                       "600 root"]
    refused = as_nobody(host, f"flock -n {LOCK} true")
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused

    # A host upgraded from an earlier harmony, which left its lock open to all: another user
    # holds that one, and keeps trying this one's.
    host.sh(f"rm {EARLIER} && touch {EARLIER} && chmod 644 {EARLIER}")
    as_nobody(host, f"flock {EARLIER} sleep 300 & while :; do flock {LOCK} sleep 300; sleep 0.2; done", "-d")
    assert until(lambda: host.sh(f"pgrep -u nobody -xf 'flock {EARLIER} sleep 300' || true") != "")
    blocker = host.sh(f"pgrep -u nobody -xf 'flock {EARLIER} sleep 300'")
    again = harmony.up(host, "--set", "harmony_lock_wait=5")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
    assert (f"harmony: warning: {EARLIER}, the lock earlier versions of harmony take, is held by pid {blocker} "
            f"'flock {EARLIER} sleep 300', not a harmony run (of another user): not waited for") in again.stderr
    assert host.sh(f"stat -c '%a %U' {EARLIER}") == "600 root"


@each_init
def test_a_process_holding_the_lock_is_named_and_the_host_is_left_as_it_was(harmony, host):
    assert harmony.up(host, version=OLD).returncode == 0
    before = fingerprint(host)
    pid = hold(host, LOCK)
    result = harmony.up(host, "--set", "harmony_lock_wait=1")  # an upgrade, were the host free
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"failed: harmony: this host's lock ({LOCK}) is held by pid {pid} 'flock {LOCK} sleep 300', not a "
            "harmony run; it did not let go within 1 s: end it, or run again once it has") in result.stdout
    assert fingerprint(host) == before and OLD in host.sh("k3s --version")


def test_a_lock_directory_another_could_have_made_is_refused(harmony, host):
    host.sh("mkdir -m 755 /run/harmony")
    result = harmony.up(host)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed: harmony: refusing the lock directory /run/harmony (drwxr-xr-x " in result.stdout
    assert not host.exists("/usr/local/bin/k3s") and host.sh("ls -A /run/harmony") == ""


def test_an_agent_whose_first_server_is_held_changes_nothing_and_the_next_run_restarts_nothing(
        harmony, start_host, tmp_path):
    server, agent = start_host(), start_host()
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (server, {"k3s_node_name": "s1"})},
                                agents={"a1": (agent, {"k3s_node_name": "a1"})})
    assert harmony.up_cluster(inventory, server).returncode == 0
    before = fingerprint(agent)
    pid = hold(server, LOCK)
    held = harmony.up_cluster(inventory, server, "--set", "harmony_lock_wait=1")
    assert held.returncode == 1, held.stdout + held.stderr
    assert f"s1: failed: harmony: this host's lock ({LOCK}) is held by pid {pid} " in held.stdout
    assert "a1: failed: harmony: not changed: the first server s1, which it joins, cannot be used (" in held.stdout
    assert fingerprint(agent) == before

    server.sh(f"pkill -P {pid}; kill {pid} 2>/dev/null || true")  # flock may end with its child
    again = harmony.up_cluster(inventory, server)
    assert again.returncode == 0 and "2 hosts: 0 changed, 2 unchanged, 0 failed" in again.stdout, again.stdout


def test_a_run_of_an_earlier_harmony_and_this_one_take_turns(harmony, host):
    """An earlier harmony's run holds /run/harmony.lock, as root, with its holder and record."""
    assert harmony.up(host).returncode == 0
    assert until(lambda: run_processes_on(host) == "")  # that run's holder has let go
    host.sh(f"echo 'ops@old, harmony pid 4242, started 2026-11-30T10:00:00+00:00' > {EARLIER}.info")
    subprocess.run(["docker", "exec", "-d", host.name, "sh", "-c",
                    f"exec 9>>{EARLIER}; flock -x 9; exec sh -c 'sleep 300; :' harmony-lock"], check=True)
    assert until(lambda: subprocess.run(["docker", "exec", host.name, "flock", "-n", EARLIER, "true"]).returncode)
    result = harmony.up(host, "--set", "harmony_lock_wait=1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("failed: harmony: another harmony run holds this host (ops@old, harmony pid 4242, started "
            "2026-11-30T10:00:00+00:00); it did not end within 1 s") in result.stdout


@needs_mirror
def test_an_earlier_harmony_waits_for_this_one_and_is_told_who_holds_the_host(harmony, host):
    assert harmony.up(host, version=OLD).returncode == 0
    with fault(harmony.mirror, BINARY_PATH.format(version=NEW), "stall"):
        run = spawn_up(harmony, host, "--set", "harmony_download_stall_timeout=30")
        wait_for_line(run, f"Starting operation: k3s up | binary | Install k3s {NEW}")
        busy = subprocess.run(["docker", "exec", host.name, "flock", "-n", EARLIER, "true"])
        record = host.sh(f"cat {EARLIER}.info")
        run.terminate()
        assert run.wait(timeout=60) == 130
    assert busy.returncode != 0 and f"harmony pid {run.pid}," in record
    assert until(lambda: not host.exists(f"{EARLIER}.info"))
