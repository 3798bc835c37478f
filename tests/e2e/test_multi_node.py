"""Clusters of several real SSH hosts: servers, agents, HA, join tokens, role changes.

The hosts reach each other on the Docker bridge (each server's k3s_server_address is its bridge
address); the controller reaches them only through their ports on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
import yaml

from tests.e2e.conftest import INITS, NEW, OLD, write_inventory

AGENT_UNIT = "k3s-agent"


def summary(result) -> dict[str, str]:
    """harmony's lines for the hosts that changed or failed: {host: what happened}; the others
    are counted in the last line ("3 hosts: 1 changed, 2 unchanged, 0 failed in 2.1 s")."""
    lines = [line.split(": ", 1) for line in result.stdout.splitlines()[:-1] if ": " in line]
    return {name: text for name, text in lines if not name.startswith(("cluster", "harmony", "merged"))}


def nodes(harmony) -> dict[str, dict]:
    result = harmony.kubectl("--context", "harmony", "get", "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    return {n["metadata"]["name"]: n for n in json.loads(result.stdout)["items"]}


def ready(node: dict) -> bool:
    return {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"


def roles(node: dict) -> set[str]:
    prefix = "node-role.kubernetes.io/"
    return {key[len(prefix):] for key in node["metadata"]["labels"] if key.startswith(prefix)}


class ProcessWatch:
    """Samples every process's command line on this machine (the hosts' included: containers
    share its kernel) while a run goes on, to prove a secret never appears in argv."""

    def __init__(self) -> None:
        self.samples: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                               text=True, timeout=10).stdout)
            time.sleep(0.1)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


@pytest.mark.parametrize("init", INITS)
def test_server_and_agents_join_a_rerun_changes_nothing_and_a_new_agent_touches_no_one(
        harmony, start_host, tmp_path, init):
    server, agent1, agent2 = start_host(init), start_host(init), start_host(init)
    # As with real k3s, a proxied node must exempt the cluster's own addresses.
    a1_data = {"k3s_node_name": "a1", "k3s_node_labels": {"site": "berlin"},
               "https_proxy": "http://proxy.example:3128", "no_proxy": server.ip}
    inventory = write_inventory(
        tmp_path / "edge.py",
        servers={"s1": (server, {"k3s_node_name": "s1"})},
        agents={"a1": (agent1, a1_data), "a2": (agent2, {"k3s_node_name": "a2"})},
    )
    plan = harmony("plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   *harmony.release_args())
    assert plan.returncode == 0, plan.stderr
    assert "Write the join token" in summary(plan)["a1"] and "Install k3s" in summary(plan)["s1"]
    assert not agent1.exists("/etc/rancher/k3s") and not server.exists("/usr/local/bin/k3s")

    with ProcessWatch() as watch:
        first = harmony.up_cluster(inventory, server, "-vvv")
    assert first.returncode == 0, first.stdout + first.stderr
    assert set(summary(first)) >= {"s1", "a1", "a2"}

    listed = nodes(harmony)
    assert sorted(listed) == ["a1", "a2", "s1"] and all(ready(n) for n in listed.values())
    assert "control-plane" in roles(listed["s1"]) and not roles(listed["a1"])
    assert listed["a1"]["metadata"]["labels"]["site"] == "berlin"

    # The agents joined with the server's full token, which pins its CA; it never showed.
    token = server.sh("cat /var/lib/rancher/k3s/server/token")
    assert token.startswith("K10")
    for agent in (agent1, agent2):
        assert agent.sh("cat /etc/rancher/k3s/token") == token
        assert agent.sh("stat -c '%a %U' /etc/rancher/k3s/token") == "600 root"
        config = yaml.safe_load(agent.sh("cat /etc/rancher/k3s/config.yaml"))
        assert config["server"] == f"https://{server.ip}:6443" and "token" not in config
        assert agent.is_active(AGENT_UNIT) and not agent.exists(agent.unit_file("k3s"))
    secret = token.rsplit(":", 1)[1]
    assert secret not in first.stdout + first.stderr
    assert len(watch.samples) > 5 and not any(secret in sample for sample in watch.samples)
    # The proxy reaches the running k3s, through the service's environment file.
    assert agent1.exists(agent1.env_file(AGENT_UNIT))
    environ = agent1.sh("tr '\\0' '\\n' < /proc/$(pgrep -f '[k]3s agent' | head -n 1)/environ")
    assert "HTTPS_PROXY=http://proxy.example:3128" in environ.splitlines()
    # The kubeconfig k3s writes names 127.0.0.1; the one fetched for the cluster is re-pointed.
    assert server.sh("grep server: /etc/rancher/k3s/k3s.yaml").endswith("https://127.0.0.1:6443")

    started = {h.name: h.started_at(u) for h, u in ((server, "k3s"), (agent1, AGENT_UNIT), (agent2, AGENT_UNIT))}
    again = harmony.up_cluster(inventory, server)
    assert again.returncode == 0, again.stderr
    assert summary(again) == {} and "3 hosts: 0 changed, 3 unchanged, 0 failed" in again.stdout
    refetched = harmony("kubeconfig", str(inventory), "--ssh-user", "root", "--ssh-key",
                        str(harmony.ssh_key), "--kubeconfig-server", server.api_url)
    assert refetched.returncode == 0, refetched.stderr
    assert summary(refetched) == {} and "3 hosts: 0 fetched, 3 unchanged, 0 failed" in refetched.stdout

    agent3 = start_host(init)
    write_inventory(
        inventory,
        servers={"s1": (server, {"k3s_node_name": "s1"})},
        agents={"a1": (agent1, a1_data), "a2": (agent2, {"k3s_node_name": "a2"}),
                "a3": (agent3, {"k3s_node_name": "a3"})},
    )
    grown = harmony.up_cluster(inventory, server)
    assert grown.returncode == 0, grown.stderr
    outcome = summary(grown)
    assert outcome["a3"].startswith("changed") and not {"s1", "a1", "a2"} & set(outcome)
    assert sorted(nodes(harmony)) == ["a1", "a2", "a3", "s1"]
    for host, unit in ((server, "k3s"), (agent1, AGENT_UNIT), (agent2, AGENT_UNIT)):
        assert host.started_at(unit) == started[host.name]


def test_ha_servers_join_through_the_registration_address_with_a_given_token(
        harmony, start_host, tmp_path):
    s1, s2, s3, agent = (start_host() for _ in range(4))
    inventory = write_inventory(
        tmp_path / "ha.py",
        servers={"s1": (s1, {}), "s2": (s2, {}), "s3": (s3, {})},
        agents={"a1": (agent, {})},
        data={"k3s_registration_address": s1.ip, "k3s_token_env": "HARMONY_TEST_TOKEN"},
    )
    token = "harmony-e2e-given-token-5f1c0a"
    env = {"HARMONY_TEST_TOKEN": token}
    with ProcessWatch() as watch:
        first = harmony.up_cluster(inventory, s1, "-vvv", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert token not in first.stdout + first.stderr
    assert not any(token in sample for sample in watch.samples)

    listed = nodes(harmony)
    assert len(listed) == 4 and all(ready(n) for n in listed.values())
    assert sum("etcd" in roles(n) for n in listed.values()) == 3

    assert yaml.safe_load(s1.sh("cat /etc/rancher/k3s/config.yaml"))["cluster-init"] is True
    assert s1.sh("cat /etc/rancher/k3s/token") == token
    for joined in (s2, s3):
        config = yaml.safe_load(joined.sh("cat /etc/rancher/k3s/config.yaml"))
        assert config["server"] == f"https://{s1.ip}:6443" and "cluster-init" not in config
        assert s1.ip in config["tls-san"]
        # One cluster: the joined servers took its CA, so they hold the same full token.
        assert joined.sh("cat /var/lib/rancher/k3s/server/token") == s1.sh("cat /var/lib/rancher/k3s/server/token")

    started = [h.started_at() for h in (s1, s2, s3)]
    again = harmony.up_cluster(inventory, s1, env=env)
    assert again.returncode == 0, again.stderr
    assert summary(again) == {} and "4 hosts: 0 changed, 4 unchanged, 0 failed" in again.stdout
    assert [h.started_at() for h in (s1, s2, s3)] == started


def test_a_wrong_token_fails_that_agent_alone(harmony, start_host, tmp_path):
    server, good, bad = start_host(), start_host(), start_host()
    inventory = write_inventory(
        tmp_path / "edge.py",
        servers={"s1": (server, {"k3s_node_name": "s1"})},
        agents={"good": (good, {"k3s_node_name": "good"}),
                "bad": (bad, {"k3s_node_name": "bad", "k3s_token": "not-the-cluster-token"})},
    )
    result = harmony.up_cluster(inventory, server)
    assert result.returncode == 1, result.stdout + result.stderr
    outcome = summary(result)
    assert outcome["bad"].startswith("failed:") and "401" in outcome["bad"], outcome
    assert outcome["s1"].startswith("changed") and outcome["good"].startswith("changed")
    assert "1 of 3 host(s) failed: bad" in result.stderr
    assert sorted(nodes(harmony)) == ["good", "s1"]


def test_hosts_that_cannot_reach_the_first_server_fail_alone_with_k3s_own_reason(
        harmony, start_host, tmp_path):
    s1, s2, a1, a2 = (start_host() for _ in range(4))
    for cut_off in (s2, a2):  # their packets to the first server go nowhere
        cut_off.sh(f"ip route add unreachable {s1.ip}/32")
    inventory = write_inventory(
        tmp_path / "ha.py",
        servers={"s1": (s1, {"k3s_node_name": "s1"}), "s2": (s2, {"k3s_node_name": "s2"})},
        agents={"a1": (a1, {"k3s_node_name": "a1"}), "a2": (a2, {"k3s_node_name": "a2"})},
        data={"k3s_start_timeout": 15},
    )
    result = harmony.up_cluster(inventory, s1)
    assert result.returncode == 1, result.stdout + result.stderr
    outcome = summary(result)
    for name in ("s2", "a2"):  # k3s retries for ever; harmony reports it after the timeout
        assert "failed to start: not ready after 15s, last error:" in outcome[name], outcome
        assert f"failed to get CA certs: Get \\\"https://{s1.ip}:6443/cacerts" in outcome[name], outcome
    assert outcome["s1"].startswith("changed") and outcome["a1"].startswith("changed"), outcome
    assert "2 of 4 host(s) failed: s2, a2" in result.stderr
    assert sorted(nodes(harmony)) == ["a1", "s1"]


def test_a_host_changing_role_keeps_only_its_new_unit_and_status_names_unlisted_nodes(
        harmony, start_host, tmp_path):
    server, other = start_host(), start_host()
    inventory = tmp_path / "edge.py"
    write_inventory(inventory, servers={"s1": (server, {"k3s_node_name": "s1"})},
                    agents={"x": (other, {"k3s_node_name": "x"})})
    first = harmony.up_cluster(inventory, server)
    assert first.returncode == 0, first.stderr
    assert other.is_active(AGENT_UNIT)

    write_inventory(inventory, servers={"s1": (server, {"k3s_node_name": "s1"}),
                                        "x": (other, {"k3s_node_name": "x"})})
    promoted = harmony.up_cluster(inventory, server)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert other.is_active("k3s")
    assert other.sh(f"systemctl show -p LoadState --value {AGENT_UNIT}") == "not-found"
    for path in ("/etc/systemd/system/k3s-agent.service", "/etc/systemd/system/k3s-agent.service.env",
                 "/usr/local/bin/k3s-agent-uninstall.sh"):
        assert not other.exists(path), path
    assert "control-plane" in roles(nodes(harmony)["x"])

    write_inventory(inventory, servers={"s1": (server, {"k3s_node_name": "s1"})})
    status = harmony("status", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                     "--kubeconfig-server", server.api_url, "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    (row,) = report["hosts"]
    assert (row["host"], row["role"], row["service"], row["node_ready"]) == ("s1", "server", "active", True)
    assert [n["node"] for n in report["nodes_not_in_inventory"]] == ["x"]
    text = harmony("status", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   "--kubeconfig-server", server.api_url).stdout
    assert "node x (" in text and "not in the inventory" in text


@pytest.mark.parametrize("init", INITS)
def test_an_upgrade_rolls_one_node_at_a_time_and_stops_at_the_first_failure(harmony, start_host, tmp_path, init):
    server, agent1, agent2 = start_host(init), start_host(init), start_host(init)
    members = {"servers": {"s1": (server, {"k3s_node_name": "s1"})},
               "agents": {"a1": (agent1, {"k3s_node_name": "a1"}), "a2": (agent2, {"k3s_node_name": "a2"})}}
    inventory = write_inventory(tmp_path / "edge.py", **members)
    assert harmony.up_cluster(inventory, server, version=OLD).returncode == 0

    plan = harmony("plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   *harmony.release_args(NEW))
    assert f"Install k3s {NEW} (from {OLD})" in summary(plan)["a2"]

    before = {h.name: h.started_at(u) for h, u in ((agent1, AGENT_UNIT), (agent2, AGENT_UNIT))}
    # The server gets a setting its k3s refuses, so its restart into the new version fails: the
    # rollout must stop there, before the agents. (Under OpenRC, nothing says k3s failed but the
    # wait for its node, bounded by the start timeout.)
    members["servers"]["s1"] = (server, {"k3s_node_name": "s1", "k3s_config": {"no-such-flag": True},
                                         "k3s_start_timeout": 20})
    write_inventory(inventory, **members)
    result = harmony.up_cluster(inventory, server, version=NEW)
    assert result.returncode == 1, result.stdout + result.stderr
    outcome = summary(result)
    assert "flag provided but not defined: -no-such-flag" in outcome["s1"]
    # Every node is as it was: the server's new binary and config were put back, the agents'
    # wait beside theirs for their turn.
    assert OLD in server.sh("k3s --version") and server.is_active()
    for name, agent in (("a1", agent1), ("a2", agent2)):
        assert "not restarted: the rollout stopped at s1" in outcome[name], outcome
        assert agent.started_at(AGENT_UNIT) == before[agent.name]
        assert OLD in agent.sh("k3s --version") and agent.exists("/usr/local/bin/.k3s.harmony-next")

    members["servers"]["s1"] = (server, {"k3s_node_name": "s1"})
    write_inventory(inventory, **members)
    fixed = harmony.up_cluster(inventory, server, version=NEW)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert {n: node["status"]["nodeInfo"]["kubeletVersion"] for n, node in nodes(harmony).items()} == {
        "s1": NEW, "a1": NEW, "a2": NEW}
    restarted = sorted((h.started_at(u), h.name) for h, u in ((agent1, AGENT_UNIT), (agent2, AGENT_UNIT)))
    assert restarted[0][0] > server.started_at()  # agents after the server
    assert not any(h.exists("/usr/local/bin/.k3s.harmony-next") for h in (server, agent1, agent2))


def run_files(host, unit: str = "k3s") -> dict[str, str]:
    """The sha256 of the binary and config k3s runs on, and when its unit started."""
    sums = host.sh("sha256sum /usr/local/bin/k3s /etc/rancher/k3s/config.yaml")
    return {**{path: digest for digest, path in (line.split() for line in sums.splitlines())},
            "started": str(host.started_at(unit))}


def test_a_server_whose_download_fails_leaves_every_node_as_it_was_and_status_says_what_waits(
        harmony, start_host, tmp_path):
    server, agent1, agent2 = start_host(), start_host(), start_host()
    members = {"servers": {"s1": (server, {"k3s_node_name": "s1"})},
               "agents": {"a1": (agent1, {"k3s_node_name": "a1"}), "a2": (agent2, {"k3s_node_name": "a2"})}}
    inventory = write_inventory(tmp_path / "edge.py", **members)
    assert harmony.up_cluster(inventory, server, version=OLD).returncode == 0
    units = ((server, "k3s"), (agent1, AGENT_UNIT), (agent2, AGENT_UNIT))
    before = {h.name: run_files(h, u) for h, u in units}

    # The first server downloads first (the agents' stage waits for it): it alone gets the 404.
    harmony.mirror.transient[f"/k3s-io/k3s/releases/download/{NEW}/k3s"] = [404]
    try:
        result = harmony.up_cluster(inventory, server, "--set", 'k3s_node_labels={"tier": "edge"}', version=NEW)
    finally:
        harmony.mirror.transient.clear()
    assert result.returncode == 1, result.stdout + result.stderr
    outcome = summary(result)
    assert "the server answered 404" in outcome["s1"], outcome
    assert all("not restarted: the rollout stopped at s1" in outcome[a] for a in ("a1", "a2")), outcome
    assert {h.name: run_files(h, u) for h, u in units} == before  # binary, config, start: all as before
    for agent in (agent1, agent2):
        assert agent.exists("/usr/local/bin/.k3s.harmony-next") and agent.exists("/etc/rancher/k3s/.config.yaml.harmony-next")

    status = harmony("status", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key))
    lines = {line.split(": ", 1)[0]: line for line in status.stdout.splitlines()}
    assert f"k3s {OLD}" in lines["a1"] and "new k3s, config.yaml staged, waiting for its turn" in lines["a1"], \
        status.stdout
    assert "staged" not in lines["s1"]

    # Pinning the version every node runs is no downgrade, and takes the staged files away.
    again = harmony.up_cluster(inventory, server, version=OLD)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {h.name: run_files(h, u) for h, u in units} == before
    assert not any("harmony-" in h.sh("ls -A /usr/local/bin /etc/rancher/k3s") for h, _ in units)


def planted_pod(namespace: str, name: str, node: str, daemonset: bool = False) -> dict:
    owners = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name.rsplit("-", 1)[0],
               "uid": f"ds-{name}", "controller": True}] if daemonset else []
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "ownerReferences": owners},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running"}}


def test_a_drained_upgrade_cordons_evicts_and_uncordons_one_node_at_a_time(harmony, start_host, tmp_path):
    server, agent1, agent2 = start_host(), start_host(), start_host()
    inventory = write_inventory(
        tmp_path / "edge.py", servers={"s1": (server, {"k3s_node_name": "s1"})},
        agents={"a1": (agent1, {"k3s_node_name": "a1"}), "a2": (agent2, {"k3s_node_name": "a2"})})
    assert harmony.up_cluster(inventory, server, version=OLD).returncode == 0
    server.write("/var/lib/rancher/k3s/server/standin-pods.json", json.dumps([
        planted_pod("default", "web-1", "a1"), planted_pod("kube-system", "svclb-1", "a1", daemonset=True),
        planted_pod("default", "web-2", "a2")]))
    assert harmony.kubectl("--context", "harmony", "cordon", "a2").returncode == 0  # the user's

    result = harmony.up_cluster(inventory, server, "--drain", version=NEW)
    assert result.returncode == 0, result.stdout + result.stderr

    log = server.journal()

    def at(text: str) -> int:
        (index,) = [i for i, (_, message) in enumerate(log) if f'msg="{text}"' in message]
        return index

    def when(text: str) -> int:
        return log[at(text)][0]
    started = {"s1": server.started_at(), "a1": agent1.started_at(AGENT_UNIT), "a2": agent2.started_at(AGENT_UNIT)}
    # Each node's turn: cordoned, evicted, restarted, Ready, uncordoned; the next turn after it.
    assert when("node s1 cordoned") < started["s1"] < when("node s1 uncordoned")
    # (Lines journald reads from k3s at once share a time: their order is the log's.)
    assert at("node a1 cordoned") < at("pod default/web-1 evicted")
    assert when("pod default/web-1 evicted") < started["a1"] < when("node a1 uncordoned")
    assert when("pod default/web-2 evicted") < started["a2"]
    turns = sorted([(when("node s1 cordoned"), when("node s1 uncordoned")),
                    (when("node a1 cordoned"), when("node a1 uncordoned")),
                    (when("pod default/web-2 evicted"), started["a2"])])
    assert turns[0][0] == when("node s1 cordoned")  # the server first
    assert all(earlier[1] < later[0] for earlier, later in zip(turns, turns[1:]))
    # a2 was cordoned by its user before (the one cordon logged): harmony leaves it so.
    assert [message for _, message in log if "node a2" in message] == ['level=info msg="node a2 cordoned"']
    listed = nodes(harmony)
    assert {name: bool(node["spec"].get("unschedulable")) for name, node in listed.items()} == {
        "s1": False, "a1": False, "a2": True}
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in listed.values()} == {NEW}
    left = json.loads(server.sh("cat /var/lib/rancher/k3s/server/standin-pods.json"))
    assert [p["metadata"]["name"] for p in left] == ["svclb-1"]  # DaemonSets' pods stay
