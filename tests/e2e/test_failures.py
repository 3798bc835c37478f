"""Failures: each gives one clear line, the right exit code, and leaves the host as it was."""

from __future__ import annotations

import contextlib

import pytest

from tests.e2e.conftest import NEW, OLD, assert_untouched, needs_mirror, one_error_line, start_mirror

BINARY_PATH = "/k3s-io/k3s/releases/download/{version}/k3s"


@contextlib.contextmanager
def fault(mirror, path: str, kind):
    mirror.faults[path] = kind
    try:
        yield
    finally:
        mirror.faults.pop(path, None)


def test_unknown_version_is_bad_input(harmony, host):
    result = harmony.up(host, version="v1.99.9+k3s1")
    assert result.returncode == 2
    assert "k3s v1.99.9+k3s1 not found" in one_error_line(result)
    assert_untouched(host)


def test_invalid_version_is_bad_input(harmony, host):
    result = harmony.up(host, version="1.31")
    assert result.returncode == 2
    assert "invalid k3s version '1.31'" in one_error_line(result)


def test_unknown_channel_is_bad_input(harmony, host):
    result = harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--channel", "v1.99",
                     "--channel-url", harmony.mirror.channel_url, "--allow-http", "--yes")
    assert result.returncode == 2
    assert "unknown k3s channel 'v1.99'" in one_error_line(result)
    assert_untouched(host)


def test_unreachable_release_site_is_bad_input(harmony, host):
    result = harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--version", NEW,
                     "--release-url", "https://127.0.0.1:9/k3s-io/k3s/releases/download", "--yes")
    assert result.returncode == 2
    assert "cannot reach the k3s release site" in one_error_line(result)
    assert_untouched(host)


def test_malformed_inventory_is_bad_input(harmony, tmp_path):
    inventory = tmp_path / "broken.py"
    inventory.write_text("hosts = [('h', {)]\n")
    result = harmony("up", str(inventory), *harmony.release_args(), "--yes")
    assert result.returncode == 2
    assert "cannot load inventory" in one_error_line(result)


def test_up_without_a_terminal_needs_yes(harmony, host):
    result = harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args())
    assert result.returncode == 2
    assert "add --yes" in one_error_line(result)
    assert_untouched(host)


@needs_mirror
def test_checksum_mismatch_fails_the_host_and_keeps_the_running_binary(harmony, host):
    with fault(harmony.mirror, BINARY_PATH.format(version=NEW), "corrupt"):
        result = harmony.up(host)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stdout
    assert_untouched(host)

    assert harmony.up(host, version=OLD).returncode == 0
    started, old_binary = host.started_at(), host.sh("sha256sum /usr/local/bin/k3s")
    with fault(harmony.mirror, BINARY_PATH.format(version=NEW), "truncate"):
        result = harmony.up(host)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stdout
    assert host.sh("sha256sum /usr/local/bin/k3s") == old_binary
    assert host.is_active() and host.started_at() == started
    assert host.leftovers() == ""


@needs_mirror
def test_a_stalled_download_is_tried_four_times_then_fails_and_the_old_k3s_keeps_running(harmony, host):
    assert harmony.up(host, version=OLD).returncode == 0
    started, old_binary = host.started_at(), host.sh("sha256sum /usr/local/bin/k3s")
    path = BINARY_PATH.format(version=NEW)
    asked = harmony.mirror.requests.count(path)
    with fault(harmony.mirror, path, "stall"):
        result = harmony.up(host, "--set", "harmony_download_stall_timeout=2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("127.0.0.1: failed: harmony: download failed after 4 tries: it stalled (under 1 KiB/s for "
            "2 s) or timed out") in result.stdout
    assert harmony.mirror.requests.count(path) - asked == 4
    assert host.sh("sha256sum /usr/local/bin/k3s") == old_binary
    assert host.is_active() and host.started_at() == started and host.leftovers() == ""


@needs_mirror
@pytest.mark.parametrize("kind,tries,why", [
    (500, 4, "the server answered 500"),
    (404, 1, "the server answered 404 (no such file)"),
    ("broken", 4, "the transfer broke off"),
], ids=["500", "404", "broken-off"])
def test_a_failed_download_says_why_after_the_tries_it_made(harmony, host, kind, tries, why):
    path = BINARY_PATH.format(version=NEW)
    asked = harmony.mirror.requests.count(path)
    with fault(harmony.mirror, path, kind):
        result = harmony.up(host)
    assert result.returncode == 1
    count = "1 try" if tries == 1 else f"{tries} tries"
    assert f"127.0.0.1: failed: harmony: download failed after {count}: {why}: " in result.stdout, result.stdout
    assert harmony.mirror.requests.count(path) - asked == tries
    assert_untouched(host)


@needs_mirror
def test_a_mirror_that_refuses_connections_is_named_as_such(harmony, host, tmp_path):
    gone = start_mirror(tmp_path / "gone")
    plan = harmony("plan", host.target, "--ssh-key", str(harmony.ssh_key), "--version", NEW,
                   "--release-url", gone.release_url, "--allow-http")  # the controller keeps its checksums
    gone.stop()
    assert plan.returncode == 0, plan.stdout + plan.stderr
    result = harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--version", NEW,
                     "--release-url", gone.release_url, "--allow-http", "--kubeconfig-server", host.api_url, "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "download failed after 4 tries: cannot connect to the server" in result.stdout, result.stdout
    assert_untouched(host)


def test_host_without_systemd_or_docker_has_no_runtime_and_says_how_to_get_one(harmony, start_host):
    host = start_host(init=None)
    result = harmony.up(host)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_error_line(result)
    assert "no runtime: k3s needs an init system harmony supports (systemd or OpenRC)" in line
    assert "and docker is not installed: install Docker (Debian/Ubuntu: sudo apt-get install docker.io" in line
    assert_untouched(host)

    forced = harmony.up(host, "--runtime", "k3s")
    assert forced.returncode == 1
    assert "no systemd" in forced.stdout and "k3d" in forced.stdout
    assert_untouched(host)


def test_user_without_sudo_fails_with_a_clear_reason(harmony, host):
    host.sh("useradd -m -s /bin/sh edge && mkdir -p /home/edge/.ssh && "
            "cp /root/.ssh/authorized_keys /home/edge/.ssh/ && chown -R edge /home/edge/.ssh")
    result = harmony("up", f"edge@127.0.0.1:{host.ssh_port}", "--ssh-key", str(harmony.ssh_key),
                     *harmony.release_args(), "--kubeconfig-server", host.api_url, "--yes")
    # sudo is installed, so the facts cannot tell "needs a password" from "not allowed": k3s is
    # chosen, and the host fails before anything changes.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sudo asks for a password (or this user may not use sudo)" in result.stdout
    assert_untouched(host)


def test_sudo_with_a_password_from_the_environment(harmony, host):
    password = "pw-9f8e7d6c"
    host.sh("useradd -m -s /bin/sh -G sudo ops && echo 'ops:" + password + "' | chpasswd && "
            "mkdir -p /home/ops/.ssh && cp /root/.ssh/authorized_keys /home/ops/.ssh/ && "
            "chown -R ops /home/ops/.ssh")
    result = harmony("up", f"ops@127.0.0.1:{host.ssh_port}", "--ssh-key", str(harmony.ssh_key),
                     *harmony.release_args(), "--kubeconfig-server", host.api_url,
                     "--sudo-password-env", "OPS_SUDO", "-vvv", "--yes", env={"OPS_SUDO": password})
    assert result.returncode == 0, result.stdout + result.stderr
    assert host.is_active()
    assert password not in result.stdout + result.stderr
    assert host.sh("stat -c '%a %U' /etc/rancher/k3s/config.yaml") == "600 root"


def test_a_changed_ssh_host_key_stops_the_run_unless_checking_is_turned_off(harmony, host):
    assert harmony.up(host).returncode == 0
    host.sh("rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -A && systemctl restart ssh")
    changed = harmony.up(host)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "host key" in one_error_line(changed).lower()
    unchecked = harmony.up(host, "--ssh-host-keys", "off")
    assert unchecked.returncode == 0, unchecked.stdout + unchecked.stderr


def test_a_full_disk_is_named_in_the_default_output(harmony, host):
    """The cause is in the failed command's stderr: the host's one line says it, without -v."""
    host.sh("mkdir -p /etc/rancher/k3s && mount -t tmpfs -o size=8k tmpfs /etc/rancher/k3s && "
            "{ cat /dev/zero > /etc/rancher/k3s/filler 2>/dev/null || true; }")
    result = harmony.up(host)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("127.0.0.1: ")]
    assert line.startswith("127.0.0.1: failed: ") and "No space left on device" in line, result.stdout
    assert "executed" not in line, line
