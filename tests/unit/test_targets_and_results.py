import os
import subprocess

import pytest

from harmony import runner, targets
from harmony.errors import BadInput
from harmony.k3s.facts import parse
from tests.unit import fakehosts


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
    ("missing.py", "inventory file 'missing.py' not found"),
    ("a b", "unknown target 'a b'"),
    ("root@host:99999", "invalid SSH port"),
])
def test_bad_targets(spec, message, tmp_path):
    with pytest.raises(BadInput, match=message):
        targets.resolve(spec, cwd=tmp_path)


def test_one_host_is_its_own_inventory_never_a_file_module_or_lookup_of_its_name(tmp_path, monkeypatch):
    """pyinfra's reading of a target would take a file or Python module of the host's name as its
    inventory (running its code), or look the name up in DNS and print it where it resolves not."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state

    monkeypatch.chdir(tmp_path)
    (tmp_path / "harmony.yaml").write_text("hosts = ['elsewhere']\n")
    (tmp_path / "shop.py").write_text("hosts = ['elsewhere']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with ctx_state.use(State()):
        for name in ("harmony.yaml", "shop", "TopSecretVal-31337"):
            inventory = targets.make_inventory(targets.resolve(f"root@{name}"), {"ssh_port": 2222})
            assert [(h.name, h.data.ssh_port) for h in inventory] == [(name, 2222)]
        (local,) = targets.make_inventory(targets.resolve("local"), {})
        assert local.name == "@local"
    assert targets.resolve("shop.py", cwd=tmp_path).file  # an inventory file: pyinfra reads it


def run_over_fakes(tmp_path, responses: dict, dry: bool, data: str = "{}") -> dict[str, dict]:
    """The k3s deploy over a fake server and two agents: {host: its HostResult as a dict}."""
    path = fakehosts.inventory(tmp_path, ["s1"], ["a1", "a2"], running=False, responses=responses)
    return fakehosts.run(tmp_path, path, dry, data)["hosts"]


FAILING_RELOAD = {"a2": {"daemon-reload": {"success": False, "stderr": "harmony: no space left on device"}}}


def test_results_per_host_from_pyinfras_state_with_each_failed_hosts_reason(tmp_path):
    hosts = run_over_fakes(tmp_path, FAILING_RELOAD, dry=False)
    a1, a2 = hosts["@fake/a1"], hosts["@fake/a2"]
    assert a1["changed"][0] == "k3s up | binary | Install k3s v1.31.4+k3s1 from the airgap bundle"
    assert a1["changed"][-1] == "k3s up | start | Enable and start k3s-agent" and not a1["failed"]
    # What a failed host changed before it failed is in its result too: that is true on the host.
    assert a2["changed"] == a1["changed"][:-1]
    assert a2["failed"] == ["k3s up | start | Enable and start k3s-agent"] and a2["dropped"]
    assert a2["errors"][0] == "harmony: no space left on device"
    assert runner.HostResult(**a2).report().line().startswith(
        "@fake/a2: failed: harmony: no space left on device (after binary: Install k3s v1.31.4+k3s1 from the "
        "airgap bundle; configure: Write the join token, Write config.yaml")


def test_a_run_pyinfra_gives_up_on_before_any_host_failed_fails_every_host_and_says_nothing_is_unchanged(tmp_path):
    # pyinfra refusing the operations as it prepares them (as it refuses one operation given
    # _serial on some hosts and not others): nothing ran, and a report of "unchanged" would lie.
    (tmp_path / "refused_deploy.py").write_text(
        "from pyinfra.api import deploy\n"
        "from pyinfra.api.exceptions import PyinfraError\n\n\n"
        "@deploy('refused')\n"
        "def up():\n"
        "    raise PyinfraError('Cannot have different values for _serial')\n")
    path = fakehosts.inventory(tmp_path, ["s1"], ["a1"], running=False, responses={})
    for dry in (True, False):
        hosts = fakehosts.run(tmp_path, path, dry, deploy="refused_deploy.up")["hosts"]
        assert all(h["dropped"] and h["errors"] == ["the run did not begin: pyinfra: Cannot have different values "
                                                    "for _serial"] for h in hosts.values()), hosts
        assert runner.HostResult(**hosts["@fake/s1"]).report().status == "failed"


def test_a_dry_run_lists_what_would_change_and_changes_nothing(tmp_path):
    hosts = run_over_fakes(tmp_path, FAILING_RELOAD, dry=True)
    assert "k3s up | start | Enable and start k3s-agent" in hosts["@fake/a2"]["changed"]  # planned: nothing ran
    assert hosts["@fake/a2"]["errors"] == [] and not hosts["@fake/a2"]["failed"]


def test_the_deploy_takes_what_the_controller_resolved_and_works_nothing_out_again(tmp_path):
    resolved = ("{'harmony_resolved': Resolved('k3s', 'v1.31.9+k3s1', {}, "
                "Cluster(('@fake/s1',), ('@fake/a1', '@fake/a2'), '10.0.0.1'))}")
    hosts = run_over_fakes(tmp_path, {}, dry=True, data=resolved)
    # The inventory (and its bundle) say v1.31.4+k3s1: the controller's value wins.
    assert all(h["changed"][0] == "k3s up | binary | Install k3s v1.31.9+k3s1 from the airgap bundle"
               for h in hosts.values())


def test_a_dry_run_names_the_hosts_that_would_fail_and_why_as_values_not_errors(tmp_path):
    hosts = run_over_fakes(tmp_path, {}, dry=True, data="{'k3s_release_url': 'http://mirror.example/k3s'}")
    assert all("is plain http" in h["refused"] and h["errors"] == [] for h in hosts.values()), hosts


def test_a_line_that_reads_like_a_plans_refusal_is_not_one():
    """Only the run's value says a host would fail: a log line of that form, whatever wrote it,
    is neither a refusal nor an error."""
    hosts = runner._log_reasons(["    [a] harmony: would fail: no systemd or OpenRC on a", "    [b] No changes"])
    assert hosts["a"].refused == "" and hosts["a"].errors == [] and "b" not in hosts


def test_the_sudo_password_travels_in_memory_as_data_never_as_an_argument():
    options = runner.RunOptions(sudo_password="s3cret", data={"k3s_version": "v1.31.4+k3s1"})
    data = runner.override_data(targets.resolve("edge@h"), options, dry=False)
    assert data["_sudo_password"] == "s3cret" and data["ssh_user"] == "edge" and data["_sudo"] is True
    assert "s3cret" not in repr(options)


def test_fact_parsing():
    state = parse([
        "arch\tx86_64", "hostname\tedge-1", "uid\t0", "init\tsystemd",
        "filesum\t/usr/local/bin/k3s\t" + "a" * 64, "filestat\t/usr/local/bin/k3s\t755\t1700000100",
        "filestat\t/etc/rancher/k3s/config.yaml\t600\t1700000200",  # unreadable: no sum
        "removable\t/var/lib/rancher",
        "command\tkubectl\t/usr/local/bin/k3s",
        # One `systemctl show` of both units: a block each, in its own order of properties.
        "unitprop\tLoadState=loaded", "unitprop\tActiveState=active", "unitprop\tId=k3s.service",
        "unitprop\tUnitFileState=enabled", "unitprop\tActiveEnterTimestamp=@1700000000", "unitprop\t",
        "unitprop\tId=k3s-agent.service", "unitprop\tLoadState=not-found", "unitprop\tActiveState=inactive",
        "unitprop\tUnitFileState=", "unitprop\tActiveEnterTimestamp=",
        "version\tk3s version v1.31.4+k3s1 (abc)",
    ])
    assert state.arch == "x86_64" and state.init == "systemd" and state.uid == 0
    binary = state.files["/usr/local/bin/k3s"]
    assert (binary.mode, binary.sha256, binary.mtime) == ("755", "a" * 64, 1700000100)
    assert state.files["/etc/rancher/k3s/config.yaml"].sha256 == ""
    assert state.removable == {"/var/lib/rancher"} and state.commands == {"kubectl": "/usr/local/bin/k3s"}
    assert state.unit("k3s").started == 1700000000
    assert state.unit("k3s").active and state.unit("k3s").enabled
    assert state.unit("k3s-agent").load_state == "not-found" and not state.unit("k3s-agent").active
    assert state.k3s_version == "v1.31.4+k3s1"


def test_the_fact_is_a_posix_shell_script_that_describes_this_machine():
    from harmony.k3s.facts import K3sHost

    command = K3sHost().command(lock="exclusive", who="me", known="a b", version="v1.31.4+k3s1")
    checked = subprocess.run(["sh", "-n"], input=command, capture_output=True, text=True, timeout=10)
    assert checked.returncode == 0, checked.stderr
    # Read-only without a lock: run here, its answer is this machine's.
    described = subprocess.run(["sh"], input=K3sHost().command(), capture_output=True, text=True, timeout=60)
    state = parse(described.stdout.splitlines())
    assert state.arch == os.uname().machine and state.uid == os.getuid()
    forwarding = open("/proc/sys/net/ipv4/ip_forward").read().strip()
    assert state.sysctls["net.ipv4.ip_forward"] == forwarding


def test_a_file_newer_than_the_running_unit_means_a_restart_is_pending():
    from harmony.facts import FileState
    from harmony.k3s.facts import HostState, UnitState
    from harmony.k3s.phases.p6_start import restart_pending

    state = HostState(files={"/bin/k": FileState("755", "a" * 64, mtime=200)},
                      units={"k3s": UnitState("loaded", "active", "enabled", started=100)})
    assert restart_pending(state, "k3s", ["/bin/k", "/missing"])
    state.units["k3s"] = UnitState("loaded", "active", "enabled", started=200)
    assert not restart_pending(state, "k3s", ["/bin/k"])
    assert not restart_pending(state, "k3s-agent", ["/bin/k"])  # not running: nothing to restart


UPGRADE = ["k3s up | binary | Install k3s", "k3s up | configure | Write config.yaml",
           "k3s up | configure | Write the join token", "k3s up | start | Restart k3s for its changed files"]


def test_a_stopped_runs_host_says_which_phases_it_did_and_which_not():
    ended = runner.HostResult("a", changed=UPGRADE[:1], unchanged=UPGRADE[1:2], reported=True, planned=UPGRADE)
    stopped = ended.report(stopped=True)
    assert stopped.line() == "a: stopped: done: binary; not done: configure, start (after binary: Install k3s)"
    assert stopped.as_dict()["phases_done"] == ["binary"]
    assert stopped.as_dict()["phases_not_done"] == ["configure", "start"]
    # A step refused because of the stop is the stop's, not a failure of the host's own.
    refused = runner.HostResult("b", failed=UPGRADE[:1], dropped=True, reported=True, planned=UPGRADE,
                                errors=["harmony: not begun: the run was asked to stop", "Error: executed 0 commands"])
    assert refused.report(stopped=True).line() == "b: stopped: not done: binary, configure, start"
    own = runner.HostResult("c", failed=UPGRADE[:1], dropped=True, reported=True, planned=UPGRADE,
                            errors=["harmony: download failed after 1 try: the server answered 404"])
    assert own.report(stopped=True).line() == "c: failed: harmony: download failed after 1 try: the server answered 404"
    assert own.report(stopped=True).as_dict()["phases_not_done"] == ["binary", "configure", "start"]
    # A step of no phase (down's) counts as one; a host stopped while it was read has none.
    down = ["k3s down | Stop and disable k3s", "k3s down | Remove k3s files"]
    assert runner.HostResult("d", changed=down[:1], reported=True, planned=down).report(stopped=True).line() == \
        "d: stopped: done: Stop and disable k3s; not done: Remove k3s files (after Stop and disable k3s)"
    assert runner.HostResult("e", reported=True).report(stopped=True).line() == \
        "e: stopped: before its steps were planned"


def test_a_failed_hosts_reason_is_what_its_failed_step_said_not_pyinfras_count_of_commands():
    log = ["--> Starting operation: k3s up | binary | Install k3s", "    [a] Success", "    [b] Success",
           "    [b] harmony: k3s runs on files older than those in place: restarting it",
           "--> Starting operation: k3s up | configure | Write config.yaml",
           "    [a] install: error writing '/etc/rancher/k3s/config.yaml.harmony-1045de5b': No space left on device",
           "    [a] Error: executed 2 commands",
           "    [b] Command socket/SSH error: SSHException('SSH session not active',)",
           "    [b] Error: executed 0 commands"]
    hosts = runner._log_reasons(log)
    assert hosts["a"].reason == ("install: error writing '/etc/rancher/k3s/config.yaml.harmony-1045de5b': "
                                 "No space left on device")
    assert hosts["b"].reason == "lost the connection to b: SSH session not active"


def test_harmonys_message_in_the_failed_step_wins_over_its_commands_other_lines():
    log = ["--> Starting operation: k3s up | binary | Install k3s", "    [a] harmony: a warning of an earlier step",
           "--> Starting operation: k3s up | start | Restart k3s",
           "    [a] Jan 01 k3s[12]: level=fatal msg=\"bad flag\"",
           "    [a] harmony: k3s failed to start: bad flag; see journalctl -u k3s", "    [a] sh: trailing noise",
           "    [a] Error: executed 1 commands"]
    assert runner._log_reasons(log)["a"].reason == "harmony: k3s failed to start: bad flag; see journalctl -u k3s"


def test_a_long_reason_is_cut_to_a_line():
    log = ["--> Starting operation: x | y | z", f"    [a] {'word ' * 200}", "    [a] Error: executed 1 commands"]
    assert len(runner._log_reasons(log)["a"].reason) < 320
