"""The host lock is root's: no other user of a host can take it or block a run, a process that
holds it and is not a harmony run is named, and a host whose lock a run cannot take changes
nothing."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import OLD, until

LOCK = "/run/harmony/lock"
# What a run changes on a host: k3s's files, its binary, the unit; and when k3s last started.
WATCHED = "/usr/local/bin/k3s /etc/rancher/k3s /etc/systemd/system /var/lib/harmony"


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
    assert host.sh(f"stat -c '%a %U' /run/harmony {LOCK}").splitlines() == ["700 root", "600 root"]
    refused = as_nobody(host, f"flock -n {LOCK} true")
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused

    as_nobody(host, f"while :; do flock {LOCK} sleep 300; sleep 0.2; done", "-d")  # keeps trying
    again = harmony.up(host, "--set", "harmony_lock_wait=5")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout


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

