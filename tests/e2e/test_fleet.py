"""A fleet is never all up (issue #26, item 6): ten hosts, two of them down, and the other eight
finish; the summary counts the two apart, and `status` gives them a line each and the others a
count. One cluster for every step: the hosts cost most of the test's time."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.e2e import test_bastion
from tests.e2e.conftest import NEW, write_inventory
from tests.e2e.test_multi_node import AGENT_UNIT, nodes, ready, summary

bastion_and_hidden = test_bastion.bastion_and_hidden  # the fixture: a bastion, and a host only it reaches


def test_ten_hosts_with_two_down_the_other_eight_finish_and_status_folds_the_healthy(harmony, start_host, tmp_path):
    with ThreadPoolExecutor(5) as pool:
        hosts = list(pool.map(lambda _: start_host(), range(10)))
    names = ["s1", *(f"a{i}" for i in range(1, 10))]
    inventory = write_inventory(
        tmp_path / "fleet.py", servers={"s1": (hosts[0], {"k3s_node_name": "s1"})},
        agents={name: (host, {"k3s_node_name": name}) for name, host in zip(names[1:], hosts[1:])})
    hosts[8].sh("systemctl stop ssh")  # a8: the host runs, its port is forwarded, no sshd answers
    hosts[9].kill()  # a9: powered off, its port closed

    # Three hosts at once: the ten are worked through, and the rollout's turns still come. The two
    # left out count apart from the failed, also for --fail-percent (20% of the hosts are out).
    first = harmony.up_cluster(inventory, hosts[0], "--parallel", "3", "--fail-percent", "10")
    assert first.returncode == 1 and "Traceback" not in first.stderr, first.stdout + first.stderr
    outcome = summary(first)
    assert all(outcome[name].startswith("changed: ") for name in names[:8]), outcome
    assert outcome["a8"].startswith("unreachable: ") and outcome["a9"].startswith("unreachable: "), outcome
    assert f"127.0.0.1:{hosts[8].ssh_port}" in outcome["a8"] and "\n" not in outcome["a8"]
    assert first.stdout.splitlines()[-1].startswith("10 hosts: 8 changed, 0 unchanged, 0 failed, 2 unreachable in ")
    assert "harmony: error: 2 of 10 host(s) unreachable: a8, a9" in first.stderr, first.stderr
    found = nodes(harmony)
    assert set(found) == set(names[:8]) and all(ready(node) for node in found.values())

    # status: a line for each host not healthy (two down, one whose k3s stopped), a count for the
    # seven healthy; exit 1 (a host unreachable).
    hosts[1].stop(AGENT_UNIT)
    state = harmony("status", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                    "--kubeconfig-server", hosts[0].api_url)
    assert state.returncode == 1 and "Traceback" not in state.stderr, state.stdout + state.stderr
    lines = state.stdout.splitlines()
    assert lines[0] == "cluster 'harmony': API ready" and len(lines) == 6, lines
    assert lines[1].startswith(f"a1: agent, k3s {NEW}, {AGENT_UNIT} inactive, node a1 "), lines
    assert lines[2].startswith("a8: unreachable: ") and lines[3].startswith("a9: unreachable: "), lines
    assert lines[4] == f"7 hosts healthy ({NEW} on 7), not listed: harmony status --all lists every host"
    assert lines[5].startswith("10 hosts: 7 healthy, 1 not healthy, 2 unreachable in "), lines

    # --all and --json list every host all the same; an up starts a1's k3s again, and counts the two apart.
    every = harmony("status", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                    "--kubeconfig-server", hosts[0].api_url, "--all")
    assert [line.split(":")[0] for line in every.stdout.splitlines()[1:-1]] == names, every.stdout
    listed = json.loads(harmony("status", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                                "--kubeconfig-server", hosts[0].api_url, "--json").stdout)
    assert [h["host"] for h in listed["hosts"]] == names and listed["exit"] == 1
    assert listed["summary"] == {"hosts": 10, "healthy": 7, "not healthy": 1, "unreachable": 2}
    again = harmony.up_cluster(inventory, hosts[0], "--json")
    report = json.loads(again.stdout)
    assert again.returncode == 1 and report["exit"] == 1 and not report["ok"], again.stdout + again.stderr
    assert report["summary"] == {"hosts": 10, "changed": 1, "unchanged": 7, "failed": 0, "unreachable": 2}
    assert {h["host"]: h["status"] for h in report["hosts"]}["a9"] == "unreachable"
    assert hosts[1].is_active(AGENT_UNIT)

def test_thirty_hosts_through_one_bastion_all_log_in_past_its_sshds_maxstartups(harmony, bastion_and_hidden, tmp_path):
    """A stock sshd drops some connections beyond 10 not yet authenticated (MaxStartups
    10:30:100), and every host of a run through a bastion logs in on the bastion: 30 of them at
    once (the default --parallel is more) must all get through. The 30 are one target under 30
    names, its own sshd told to take them all, so that only the bastion's limit is tried."""
    bastion, target = bastion_and_hidden
    target.sh("echo 'MaxStartups 200' >> /etc/ssh/sshd_config && systemctl reload ssh")
    way = {"ssh_hostname": target.ip, "ssh_port": 22, "ssh_bastion": f"root@127.0.0.1:{bastion.ssh_port}"}
    inventory = write_inventory(tmp_path / "behind.py", servers={"h0": (target, way)},
                                agents={f"h{i}": (target, way) for i in range(1, 30)})
    state = harmony("status", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key), "--json")
    report = json.loads(state.stdout)
    assert report["summary"]["unreachable"] == 0, [(h["host"], h["reason"]) for h in report["hosts"] if h["reason"]]
    assert report["summary"]["hosts"] == 30 and state.returncode == 0, state.stdout + state.stderr
