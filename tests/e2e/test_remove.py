"""Nodes leaving a cluster: hosts dropped from the inventory and pruned by `up --prune-nodes`
(drained, deleted from the API, a server's etcd member removed, k3s uninstalled at the node's
address), only while etcd keeps its quorum, and only where harmony installed them (a node joined
by hand stays); the nodes that stay are not touched.

One 3-server + 1-agent cluster serves every step, to keep the suite's time.
"""

from __future__ import annotations

import json
import shlex
import time

from tests.e2e.conftest import NEW, write_inventory
from tests.e2e.test_multi_node import nodes, summary


def members(server) -> list[str]:
    """etcd's member names, as k3s's supervisor serves them to a server (/db/info, with the
    server token's secret)."""
    secret = server.sh("cat /var/lib/rancher/k3s/server/token").split("::", 1)[1].split(":", 1)[1]
    answer = server.sh(f"curl -sk -u server:{secret} https://127.0.0.1:6443/db/info")
    return sorted(m["name"] for m in json.loads(answer)["members"])


def member_of(server) -> str:
    return server.sh("cat /var/lib/rancher/k3s/server/db/etcd/name")


def join_by_hand(host, server, release_url: str) -> None:
    """An agent joined as a person joins one with k3s's install script, outside harmony: the
    binary from the release site, run as a service with the server's URL and its node token."""
    token = server.sh("cat /var/lib/rancher/k3s/server/node-token")
    binary = shlex.quote(f"{release_url}/{NEW}/k3s")
    host.sh(f"curl -sfL -o /usr/local/bin/k3s {binary} && chmod 755 /usr/local/bin/k3s")
    host.sh(f"systemd-run --unit k3s-agent -E K3S_URL=https://{server.ip}:6443 -E K3S_TOKEN={shlex.quote(token)} "
            "/usr/local/bin/k3s agent")


def test_an_agent_and_a_server_left_out_of_the_inventory_are_pruned_only_while_etcd_keeps_quorum(
        harmony, start_host, tmp_path):
    s1, s2, s3, agent = (start_host() for _ in range(4))
    data = {"k3s_registration_address": s1.ip}
    whole = write_inventory(tmp_path / "whole.py", servers={"s1": (s1, {}), "s2": (s2, {}), "s3": (s3, {})},
                            agents={"a1": (agent, {})}, data=data)
    first = harmony.up_cluster(whole, s1)
    assert first.returncode == 0, first.stdout + first.stderr
    name = {h.name: h.sh("hostname") for h in (s1, s2, s3, agent)}  # each node's
    assert set(nodes(harmony)) == set(name.values())
    managed = "app.kubernetes.io/managed-by"
    assert {n["metadata"]["labels"].get(managed) for n in nodes(harmony).values()} == {"harmony"}

    # A node joined outside harmony, into harmony's cluster: never harmony's to prune.
    stranger = start_host()
    join_by_hand(stranger, s1, harmony.mirror.release_url)
    foreign = stranger.sh("hostname")
    deadline = time.monotonic() + 60
    while foreign not in nodes(harmony) and time.monotonic() < deadline:
        time.sleep(1)
    assert managed not in nodes(harmony)[foreign]["metadata"]["labels"]
    assert members(s1) == sorted(member_of(s) for s in (s1, s2, s3)) == members(s2)

    kept = write_inventory(tmp_path / "kept.py", servers={"s1": (s1, {}), "s2": (s2, {})}, data=data)
    # Without --prune-nodes nothing leaves: a partial inventory is common.
    plain = harmony.up_cluster(kept, s1)
    assert plain.returncode == 0 and summary(plain) == {}, plain.stdout + plain.stderr
    assert len(nodes(harmony)) == 5

    # s2 stopped: s3 leaving would leave s1 alone of two members. Refused before any change.
    s2.stop()
    refused = harmony.up_cluster(kept, s1, "--prune-nodes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (f"removing {name[s3.name]} would leave 1 of 2 etcd members up ({name[s2.name]} stopped), under the quorum "
            "of 2: nothing was changed") in refused.stderr
    assert len(nodes(harmony)) == 5 and not s2.is_active() and len(members(s1)) == 3
    s2.sh("systemctl start k3s")

    plan = harmony("plan", str(kept), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   *harmony.release_args(), "--kubeconfig-server", s1.api_url, "--prune-nodes", "--json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    a1, n3 = name[agent.name], name[s3.name]
    planned = json.loads(plan.stdout)
    assert planned["nodes_not_pruned"] == [foreign]
    assert [(n["node"], n["steps"]) for n in planned["nodes_leaving"]] == [  # agents first
        (a1, [f"drain node {a1}", f"delete node {a1} from the API",
              f"uninstall k3s from {a1} (at {agent.ip}, its node's address)"]),
        (n3, [f"drain node {n3}", f"delete node {n3} from the API", f"remove {n3}'s etcd member",
              f"uninstall k3s from {n3} (at {s3.ip}, its node's address)"])]

    started = [s.started_at() for s in (s1, s2)]
    pruned = harmony.up_cluster(kept, s1, "--prune-nodes")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert f"node {name[s3.name]} left the cluster (drained, deleted from the API, its etcd member removed); " \
           f"k3s uninstalled at {s3.ip}, its node's address" in pruned.stdout
    assert (f"node {foreign} is not in the inventory, and harmony did not install it (no label {managed}=harmony): "
            "not pruned") in pruned.stdout
    assert set(nodes(harmony)) == {name[s1.name], name[s2.name], foreign}
    assert stranger.is_active("k3s-agent") and stranger.exists("/usr/local/bin/k3s")
    assert members(s1) == sorted(member_of(s) for s in (s1, s2))
    for gone in (s3, agent):
        assert not gone.exists("/usr/local/bin/k3s") and not gone.exists("/var/lib/rancher/k3s")
        assert not gone.is_active("k3s") and not gone.is_active("k3s-agent")
    assert [s.started_at() for s in (s1, s2)] == started

    again = harmony.up_cluster(kept, s1, "--prune-nodes")
    assert again.returncode == 0, again.stdout + again.stderr
    hosts_said = {host: said for host, said in summary(again).items() if not host.startswith("node ")}
    assert hosts_said == {} and "left the cluster" not in again.stdout and foreign in nodes(harmony)
    assert f"node {foreign} is not in the inventory" in again.stdout  # said at each prune
    status = harmony("status", str(kept), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                     "--kubeconfig-server", s1.api_url, "--json")
    assert [(n["node"], n["managed"]) for n in json.loads(status.stdout)["nodes_not_in_inventory"]] == [
        (foreign, False)], status.stdout + status.stderr
    assert "2 hosts: 0 changed, 2 unchanged, 0 failed" in again.stdout
    assert [s.started_at() for s in (s1, s2)] == started

    # harmony remove: the named hosts of the target, reached as the inventory reaches them.
    login = ("--ssh-user", "root", "--ssh-key", str(harmony.ssh_key), "--kubeconfig-server", s1.api_url)
    unknown = harmony("remove", str(kept), "s9", *login, "--yes")
    assert unknown.returncode == 2 and "s9: not a host of inventory" in unknown.stderr, unknown.stderr
    removed = harmony("remove", str(kept), "s2", *login, "--yes", "--json")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    report = json.loads(removed.stdout)
    assert [(h["host"], h["status"], h["uninstalled"]) for h in report["hosts"]] == [("s2", "removed", True)]
    assert set(nodes(harmony)) == {name[s1.name], foreign} and members(s1) == [member_of(s1)]
    assert not s2.exists("/usr/local/bin/k3s") and s1.started_at() == started[0]
