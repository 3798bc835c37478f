"""A plan (and a check) lists exactly what `up` then does; the kubeconfigs fetched to the
controller are kept per cluster, private, and removed with it."""

from __future__ import annotations

import json
import stat

import pytest

from tests.e2e.conftest import each_init


def steps(result) -> list[str]:
    """The steps a command's JSON report lists for its one host, as "phase: step"."""
    assert result.returncode == 0, result.stdout + result.stderr
    (host,) = json.loads(result.stdout)["hosts"]
    return [f"{change['phase']}: {change['step']}" for change in host["changes"]]


@each_init
@pytest.mark.parametrize("change", ["none", "config", "stopped", "disabled"])
def test_plan_lists_exactly_what_up_does(harmony, host, change):
    assert harmony.up(host).returncode == 0
    if change == "config":
        extra = ["--set", 'k3s_node_labels={"site": "berlin"}']
    else:
        extra = []
        if change == "stopped":
            host.stop()
        elif change == "disabled":
            host.sh("rc-update del k3s default" if host.init == "openrc" else "systemctl disable k3s")
    would = steps(harmony("plan", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
                          "--kubeconfig-server", host.api_url, "--json", *extra))
    did = steps(harmony.up(host, "--json", *extra))
    assert would == did
    assert bool(did) == (change != "none")
    if change == "config":
        assert any("Restart k3s" in op for op in did) and not any("Reload systemd" in op for op in did)
    if change == "stopped":
        assert not any("Reload systemd" in op or "Restart" in op for op in did)


def test_fetched_kubeconfigs_are_kept_per_cluster_private_and_removed_with_it(harmony, start_host):
    first, second = start_host(), start_host()  # both reached as 127.0.0.1, on other ports
    for host in (first, second):
        assert harmony.up(host).returncode == 0
    for host in (first, second):
        again = harmony.up(host)
        assert again.returncode == 0 and "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout, again.stdout
    fetched = harmony.home / ".local" / "state" / "harmony" / "kubeconfigs"
    files = sorted(fetched.iterdir())
    assert len(files) == 2
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert harmony("down", first.target, "--ssh-key", str(harmony.ssh_key), "--yes").returncode == 0
    assert len(list(fetched.iterdir())) == 1 and harmony.up(second).returncode == 0
