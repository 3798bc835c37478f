import json

import pytest

from harmony import runner, targets
from harmony.errors import BadInput
from harmony.facts import parse


def test_ssh_targets():
    t = targets.resolve("edge@10.0.0.5:2222")
    assert (t.inventory, t.ssh_user, t.ssh_port, t.data) == ("10.0.0.5", "edge", 2222, {"_sudo": True})
    t = targets.resolve("root@host.example")
    assert (t.inventory, t.ssh_port, t.data) == ("host.example", None, {"_sudo": False})


def test_named_inventory(tmp_path):
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "edge.py").write_text("hosts = []\n")
    assert targets.resolve("edge", cwd=tmp_path).inventory == str(tmp_path / "inventories" / "edge.py")


@pytest.mark.parametrize("spec,message", [
    ("missing.py", "inventory file missing.py not found"),
    ("a b", "unknown target 'a b'"),
    ("root@host:99999", "invalid SSH port"),
])
def test_bad_targets(spec, message, tmp_path):
    with pytest.raises(BadInput, match=message):
        targets.resolve(spec, cwd=tmp_path)


def test_results_per_host_with_reasons():
    stdout = json.dumps({"plan": [], "results": {
        "operations": [
            {"name": "k3s up | Install", "success": ["a"], "no_change": ["b"], "error": ["c"]},
            {"name": "k3s up | Write config.yaml", "success": [], "no_change": ["a", "b"], "error": []},
        ],
        "failed_hosts": ["c"],
    }})
    log = "    [c] harmony: checksum mismatch for http://x\n    [b] No changes\n"
    hosts = runner.parse_results(stdout, log, dry=False)
    assert hosts["a"].changed == ["k3s up | Install"] and hosts["a"].ok
    assert hosts["b"].changed == [] and hosts["b"].unchanged == 2 and hosts["b"].ok
    assert not hosts["c"].ok and hosts["c"].errors == ["harmony: checksum mismatch for http://x"]


def test_a_dry_run_names_the_hosts_that_would_fail_and_why():
    stdout = json.dumps({"plan": [
        {"name": "k3s up | Check the host can run k3s", "hosts_with_change": ["a"],
         "hosts_with_conditional_change": []},
        {"name": "k3s up | Write config.yaml", "hosts_with_change": ["b"], "hosts_with_conditional_change": []},
    ]})
    log = "    [a] harmony: would fail: no systemd or OpenRC on a\n"
    hosts = runner.parse_results(stdout, log, dry=True)
    assert hosts["a"].refused == "no systemd or OpenRC on a" and hosts["a"].errors == []
    assert hosts["b"].refused == "" and hosts["b"].changed == ["k3s up | Write config.yaml"]
    # A real run's log line of that form is not a plan's: it is the host's error.
    assert runner.parse_results("", log, dry=False)["a"].refused == ""


def test_commands_never_carry_the_sudo_password():
    options = runner.RunOptions(sudo_password="s3cret", data={"k3s_version": "v1.31.4+k3s1"})
    command = runner.build_command(targets.resolve("edge@h"), ["harmony.k3s.deploy.up"], options, False)
    assert "s3cret" not in " ".join(command)
    assert "k3s_version=v1.31.4+k3s1" in command


def test_fact_parsing():
    state = parse([
        "arch\tx86_64", "hostname\tedge-1", "uid\t0", "init\tsystemd",
        "file\t/usr/local/bin/k3s\t755\t" + "a" * 64 + "\t1700000100",
        "dir\t/var/lib/rancher",
        "command\tkubectl\t/usr/local/bin/k3s",
        "unit\tk3s\tLoadState=loaded", "unit\tk3s\tActiveState=active",
        "unit\tk3s\tUnitFileState=enabled", "unit\tk3s\tActiveEnterTimestampMonotonic=123",
        "unit\tk3s\tActiveEnterTimestamp=@1700000000",
        "version\tk3s version v1.31.4+k3s1 (abc)",
    ])
    assert state.arch == "x86_64" and state.init == "systemd" and state.uid == 0
    assert state.files["/usr/local/bin/k3s"].mode == "755" and state.files["/usr/local/bin/k3s"].mtime == 1700000100
    assert state.unit("k3s").started == 1700000000
    assert state.unit("k3s").active and state.unit("k3s").enabled and state.unit("k3s").active_since == 123
    assert not state.unit("k3s-agent").active
    assert state.k3s_version == "v1.31.4+k3s1"


def test_a_file_newer_than_the_running_unit_means_a_restart_is_pending():
    from harmony.facts import FileState, HostState, UnitState
    from harmony.k3s.phases.start import restart_pending

    state = HostState(files={"/bin/k": FileState("755", "a" * 64, mtime=200)},
                      units={"k3s": UnitState("loaded", "active", "enabled", 1, started=100)})
    assert restart_pending(state, "k3s", ["/bin/k", "/missing"])
    state.units["k3s"] = UnitState("loaded", "active", "enabled", 1, started=200)
    assert not restart_pending(state, "k3s", ["/bin/k"])
    assert not restart_pending(state, "k3s-agent", ["/bin/k"])  # not running: nothing to restart


def test_what_a_failed_host_changed_before_comes_from_the_log():
    """pyinfra's JSON leaves out hosts that failed; the log still says what they changed first."""
    stdout = json.dumps({"results": {"operations": [
        {"name": "k3s up | Write config.yaml", "success": ["a"], "no_change": [], "error": []}],
        "failed_hosts": ["c"]}})
    log = ("--> Starting operation: k3s up | Write config.yaml \n    [a] Success\n    [c] Success\n"
           "--> Starting serial operation: k3s up | Restart k3s for its changed files \n    [c] Success\n"
           "--> Starting operation: k3s up | Enable and start k3s \n"
           "    [c] harmony: not begun: the run was asked to stop\n    [c] Error\n")
    hosts = runner.parse_results(stdout, log, dry=False)
    assert hosts["a"].changed == ["k3s up | Write config.yaml"]
    assert hosts["c"].changed == ["k3s up | Write config.yaml", "k3s up | Restart k3s for its changed files"]
    assert hosts["c"].summary("changed") == (
        "c: failed: harmony: not begun: the run was asked to stop (after 2 changed: "
        "k3s up | Write config.yaml, k3s up | Restart k3s for its changed files)")
