"""Hosts harmony cannot reach fail alone: each is named with its reason in a line and left out of
the run, and the others finish (issue #23, "Hosts fail alone")."""

from __future__ import annotations

import yaml

from tests.e2e.conftest import NEW, OLD, write_inventory
from tests.e2e.hosts import docker
from tests.e2e.test_multi_node import AGENT_UNIT, nodes, summary


def k3s_files(host) -> tuple[str, dict]:
    """The k3s binary's sha256 and the config.yaml k3s starts from."""
    return (host.sh("sha256sum /usr/local/bin/k3s").split()[0],
            yaml.safe_load(host.sh("cat /etc/rancher/k3s/config.yaml")))


def versions(harmony) -> dict[str, str]:
    """Each node's k3s version, as the API says its kubelet runs."""
    return {name: node["status"]["nodeInfo"]["kubeletVersion"] for name, node in nodes(harmony).items()}


def test_an_unreachable_agent_is_left_out_and_the_others_finish_their_upgrade(harmony, start_host, tmp_path):
    server, agent1, agent2 = start_host(), start_host(), start_host()
    hosts = {"s1": (server, "k3s"), "a1": (agent1, AGENT_UNIT), "a2": (agent2, AGENT_UNIT)}

    def members(labels: dict) -> dict:
        return {"servers": {"s1": (server, {"k3s_node_name": "s1", "k3s_node_labels": labels})},
                "agents": {name: (host, {"k3s_node_name": name, "k3s_node_labels": labels})
                           for name, (host, _) in hosts.items() if name != "s1"}}

    inventory = write_inventory(tmp_path / "edge.py", **members({"tier": "old"}))
    first = harmony.up_cluster(inventory, server, version=OLD)
    assert first.returncode == 0, first.stdout + first.stderr
    before = {name: (k3s_files(host), host.started_at(unit)) for name, (host, unit) in hosts.items()}

    agent2.sh("systemctl stop ssh")
    write_inventory(inventory, **members({"tier": "new"}))
    plan = harmony("plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   *harmony.release_args(NEW))
    assert plan.returncode == 1 and "Traceback" not in plan.stderr, plan.stdout + plan.stderr
    planned = summary(plan)
    assert planned["a2"].startswith("unreachable: ") and f":{agent2.ssh_port}" in planned["a2"]
    assert "1 of 3 host(s) would fail or are unreachable: a2" in plan.stderr, plan.stderr
    assert f"Install k3s {NEW} (from {OLD})" in planned["s1"] and "Write config.yaml" in planned["a1"]

    result = harmony.up_cluster(inventory, server, version=NEW)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    outcome = summary(result)
    # One line for the unreachable agent, with why, counted apart; shown at the start too (on stderr).
    assert outcome["a2"].startswith("unreachable: ") and "\n" not in outcome["a2"], outcome
    assert f"127.0.0.1:{agent2.ssh_port}" in outcome["a2"]
    assert "[a2] harmony: unreachable: " in result.stderr, result.stderr
    assert outcome["s1"].startswith("changed") and outcome["a1"].startswith("changed"), outcome
    assert "1 of 3 host(s) unreachable: a2" in result.stderr
    assert result.stdout.splitlines()[-1].startswith("3 hosts: 2 changed, 0 unchanged, 0 failed, 1 unreachable in ")
    # The reachable hosts are on the new binary and config.yaml, restarted onto them.
    for name in ("s1", "a1"):
        host, unit = hosts[name]
        (binary, config), started = k3s_files(host), host.started_at(unit)
        assert binary != before[name][0][0] and config["node-label"] == ["tier=new"], config
        assert started > before[name][1]
    # The unreachable one is as it was; k3s went on running there.
    assert agent2.sh("sha256sum /usr/local/bin/k3s").split()[0] == before["a2"][0][0]
    assert agent2.started_at(AGENT_UNIT) == before["a2"][1] and agent2.is_active(AGENT_UNIT)
    assert versions(harmony) == {"s1": NEW, "a1": NEW, "a2": OLD}

    agent2.sh("systemctl start ssh")
    again = harmony.up_cluster(inventory, server, version=NEW)
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(summary(again)) == {"a2"} and summary(again)["a2"].startswith("changed")
    (binary, config), (binary1, _) = k3s_files(agent2), k3s_files(agent1)
    assert binary == binary1 and config["node-label"] == ["tier=new"]
    assert agent2.started_at(AGENT_UNIT) > before["a2"][1]
    assert versions(harmony) == {"s1": NEW, "a1": NEW, "a2": NEW}


def test_a_host_that_refuses_the_key_is_named_with_the_user(harmony, start_host, tmp_path):
    server, agent = start_host(), start_host()
    agent.sh("rm /root/.ssh/authorized_keys")
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (server, {})}, agents={"a1": (agent, {})})
    plan = harmony("plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   *harmony.release_args(NEW))
    assert plan.returncode == 1 and "Traceback" not in plan.stderr, plan.stdout + plan.stderr
    planned = summary(plan)
    assert planned["a1"].startswith(f"unreachable: authentication failed for root "
                                    f"(127.0.0.1:{agent.ssh_port})"), planned
    assert f"Install k3s {NEW}" in planned["s1"]


def test_a_paused_host_is_named_once_the_connect_timeout_has_passed(harmony, start_host, tmp_path):
    server, agent = start_host(), start_host()
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (server, {})}, agents={"a1": (agent, {})})
    docker("pause", agent.name)  # the port still takes connections; nothing behind it answers
    try:
        plan = harmony("plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                       *harmony.release_args(NEW))
    finally:
        docker("unpause", agent.name)
    assert plan.returncode == 1 and "Traceback" not in plan.stderr, plan.stdout + plan.stderr
    planned = summary(plan)
    assert planned["a1"].startswith(f"unreachable: no SSH answer within 10 s "
                                    f"(127.0.0.1:{agent.ssh_port})"), planned
    assert f"Install k3s {NEW}" in planned["s1"]


def test_with_the_first_of_three_servers_unreachable_no_server_restarts_and_agents_follow_the_others(
        harmony, start_host, tmp_path):
    s1, s2, s3, agent = (start_host() for _ in range(4))

    def write(labels: dict) -> None:
        write_inventory(tmp_path / "ha.py",
                        servers={name: (h, {"k3s_node_name": name}) for name, h in (("s1", s1), ("s2", s2), ("s3", s3))},
                        agents={"a1": (agent, {"k3s_node_name": "a1", "k3s_node_labels": labels})},
                        data={"k3s_registration_address": s1.ip})

    write({"tier": "old"})
    inventory = tmp_path / "ha.py"
    first = harmony.up_cluster(inventory, s1, version=OLD)
    assert first.returncode == 0, first.stdout + first.stderr
    started = {h.name: h.started_at() for h in (s1, s2, s3)}
    agent_started = agent.started_at(AGENT_UNIT)

    s1.sh("systemctl stop ssh")  # its k3s runs on; harmony cannot reach it
    write({"tier": "new"})
    relabel = harmony.up_cluster(inventory, s1, version=OLD)
    assert "Traceback" not in relabel.stderr, relabel.stderr
    outcome = summary(relabel)
    assert outcome["s1"].startswith("unreachable: "), outcome
    # A label is no new version: the agent restarts, followed through the API with s2's
    # kubeconfig, its token checked against s2's (the first server's cannot be read).
    assert outcome["a1"].startswith("changed: configure: Write config.yaml; start: Restart"), outcome
    assert yaml.safe_load(agent.sh("cat /etc/rancher/k3s/config.yaml"))["node-label"] == ["tier=new"]
    assert agent.started_at(AGENT_UNIT) > agent_started
    assert relabel.returncode == 1 and "1 of 4 host(s) unreachable: s1" in relabel.stderr, relabel.stdout + relabel.stderr

    plan = harmony("plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   *harmony.release_args(NEW))
    upgrade = harmony.up_cluster(inventory, s1, version=NEW)
    assert upgrade.returncode == 1, upgrade.stdout + upgrade.stderr
    outcome, planned = summary(upgrade), summary(plan)
    assert plan.returncode == 1 and planned["s1"] == outcome["s1"], (outcome, planned)
    for name in ("s2", "s3"):
        why = (f"not restarted: 1 of 3 servers (s1) is unreachable; restarting {name} would leave 1 of 3 up, "
               "under etcd's quorum of 2")
        assert why in outcome[name] and planned[name] == f"would fail: {why}", (outcome, planned)
    why = "not restarted onto a new k3s: servers s1, s2, s3 are not upgraded"
    assert why in outcome["a1"] and planned["a1"].startswith(f"would fail: {why}"), (outcome, planned)
    assert "an agent must not run newer than its servers" in outcome["a1"]
    assert {h.name: h.started_at() for h in (s1, s2, s3)} == started
    assert versions(harmony) == {"s1": OLD, "s2": OLD, "s3": OLD, "a1": OLD}

    s1.sh("systemctl start ssh")
    healed = harmony.up_cluster(inventory, s1, version=NEW)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert versions(harmony) == {"s1": NEW, "s2": NEW, "s3": NEW, "a1": NEW}


def test_a_host_refused_at_preflight_is_left_out_too_and_the_server_is_upgraded(harmony, start_host, tmp_path):
    server, agent = start_host(), start_host()
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (server, {"k3s_node_name": "s1"})},
                                agents={"a1": (agent, {"k3s_node_name": "a1"})})
    assert harmony.up_cluster(inventory, server, version=OLD).returncode == 0
    started = server.started_at()
    agent.sh("for c in curl wget; do p=$(command -v $c) && mv $p $p.off; done; true")

    result = harmony.up_cluster(inventory, server, version=NEW)
    assert result.returncode == 1, result.stdout + result.stderr
    outcome = summary(result)
    assert outcome["a1"] == "failed: harmony: neither curl nor wget is installed: install one of them", outcome
    assert outcome["s1"].startswith("changed") and server.started_at() > started, outcome
    assert versions(harmony) == {"s1": NEW, "a1": OLD}
