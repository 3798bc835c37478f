"""Nodes leaving a k3s cluster: their order, their steps, and etcd's quorum arithmetic
(harmony.k3s.removal)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harmony import project, readiness
from harmony.errors import BadInput
from harmony.k3s.removal import (Leaving, chosen, members_up, node_of, ordered, pruning_refusal, quorum_refusal, steps,
                                 strangers)
from harmony.readiness import ListedNode
from harmony.steps import cluster

S1_S2_S3 = ["s1", "s2", "s3"]


def test_agents_leave_first_then_the_servers_in_the_order_given():
    leaving = [Leaving("s3", True), Leaving("a1", False), Leaving("s2", True), Leaving("a2", False)]
    assert [n.node for n in ordered(leaving)] == ["a1", "a2", "s3", "s2"]


def test_a_server_has_an_etcd_step_an_agent_not_and_each_says_where_its_host_is_reached():
    assert steps(Leaving("s3", True, address="10.0.0.3")) == [
        "drain node s3", "delete node s3 from the API", "remove s3's etcd member",
        "uninstall k3s from s3 (at 10.0.0.3, its node's address)"]
    assert steps(Leaving("a1", False, host="a1")) == [
        "drain node a1", "delete node a1 from the API", "uninstall k3s from a1 (at a1)"]
    assert steps(Leaving("web-1", False, host="10.0.0.9"))[-1] == "uninstall k3s from web-1 (at host 10.0.0.9)"
    assert steps(Leaving("a1", False))[-1] == "uninstall k3s from a1 (at no known address)"


def test_a_node_the_api_no_longer_lists_is_only_uninstalled():
    assert steps(Leaving("s2", True, host="s2", listed=False)) == ["uninstall k3s from s2 (at s2)"]


def test_one_server_of_three_may_leave_while_all_are_up():
    assert quorum_refusal(S1_S2_S3, set(S1_S2_S3), {}, ["s3"]) is None


def test_a_server_that_would_leave_the_others_under_quorum_is_refused_with_the_arithmetic():
    assert quorum_refusal(S1_S2_S3, {"s1", "s2"}, {"s3": "unreachable"}, ["s2"]) == (
        "removing s2 would leave 1 of 2 etcd members up (s3 unreachable), under the quorum of 2")


def test_the_server_that_is_down_may_leave_since_its_member_is_lost_either_way():
    assert quorum_refusal(S1_S2_S3, {"s1", "s2"}, {"s3": "unreachable"}, ["s3"]) is None


def test_servers_leave_one_at_a_time_each_counted_against_the_members_left():
    five = ["s1", "s2", "s3", "s4", "s5"]
    assert quorum_refusal(five, set(five) - {"s1"}, {"s1": "stopped"}, ["s4", "s5"]) is None
    assert quorum_refusal(five, {"s3", "s4", "s5"}, {"s1": "stopped", "s2": "stopped"}, ["s4", "s5"]) == (
        "removing s4 would leave 2 of 4 etcd members up (s1 stopped, s2 stopped), under the quorum of 3")


def test_a_cluster_already_under_quorum_can_lose_no_server():
    refused = quorum_refusal(S1_S2_S3, {"s1"}, {"s2": "stopped", "s3": "unreachable"}, ["s3"])
    assert refused == ("no server can leave: only 1 of 3 etcd members are up (s2 stopped, s3 unreachable), "
                       "under the quorum of 2; start them, then run again")


def test_the_last_member_never_leaves_that_is_harmony_down():
    assert "would leave no etcd member" in quorum_refusal(["s1"], {"s1"}, {}, ["s1"])
    assert quorum_refusal(["s1", "s2"], {"s1", "s2"}, {}, ["s2"]) is None
    assert "would leave no etcd member" in quorum_refusal(["s1", "s2"], {"s1", "s2"}, {}, ["s2", "s1"])


def test_agents_alone_leave_whatever_etcd_s_state():
    assert quorum_refusal(S1_S2_S3, {"s1"}, {"s2": "stopped", "s3": "stopped"}, []) is None


def node(name: str, roles=(), ready: bool = True, address: str = "", managed: bool = True) -> ListedNode:
    return ListedNode(name, ready, tuple(roles), "v1.31.4+k3s1", address=address, managed=managed)


NODES = [node("n1", ["etcd"], address="10.0.0.1"), node("n2", ["etcd"], address="10.0.0.2"),
         node("n3", ["etcd"], address="10.0.0.3"), node("w1", address="10.0.0.9")]


def row(host: str, node: str = "", reachable: bool = True, active: bool = True) -> dict:
    return {"host": host, "node": node, "reachable": reachable, "active": active}


def test_pruning_takes_the_nodes_no_host_is_agents_first_and_where_to_reach_them():
    rows = [row("s1", "n1"), row("s2", "n2")]
    assert chosen(rows, NODES) == [Leaving("w1", False, address="10.0.0.9"), Leaving("n3", True, address="10.0.0.3")]
    assert pruning_refusal(rows) is None


def test_pruning_never_takes_a_node_harmony_did_not_install():
    rows = [row("s1", "n1"), row("s2", "n2")]
    joined_by_hand = node("edge7", address="10.0.0.7", managed=False)
    assert chosen(rows, [*NODES, joined_by_hand]) == chosen(rows, NODES)
    assert strangers(rows, [*NODES, joined_by_hand]) == ["edge7"]
    assert strangers(rows, NODES) == []
    # Named by the user (harmony remove), a host of the inventory leaves whoever joined it.
    assert chosen([*rows, row("e7", "edge7")], [*NODES, joined_by_hand], ("e7",)) == [
        Leaving("edge7", False, host="e7")]


def test_a_named_host_leaves_as_its_node_and_one_whose_node_is_gone_is_only_uninstalled():
    rows = [row("s1", "n1"), row("s2", "n2"), row("old", "n9")]
    assert chosen(rows, NODES, ("s2", "old")) == [Leaving("n9", False, host="old", listed=False),
                                                  Leaving("n2", True, host="s2")]


def test_a_host_that_did_not_answer_is_its_node_by_name_or_address_else_pruning_is_refused():
    assert node_of(row("n3", reachable=False), "192.0.2.1", NODES) == "n3"
    assert node_of(row("s3", reachable=False), "10.0.0.3", NODES) == "n3"
    unknown = row("s3", reachable=False)
    assert node_of(unknown, "127.0.0.1", NODES) == ""
    assert pruning_refusal([row("s1", "n1"), unknown]) == (
        "cannot tell which nodes no host is: s3 did not answer, and no node has its name or address "
        "(set its k3s_node_name, or bring it back)")


def test_a_member_is_up_where_its_host_answers_runs_k3s_and_its_node_is_ready():
    nodes = NODES[:3] + [node("n4", ["etcd"], ready=False)]
    rows = [row("s1", "n1"), row("s2", "n2", active=False), row("s3", "n3", reachable=False)]
    assert members_up(rows, nodes) == ({"n1"}, {"n2": "stopped", "n3": "unreachable", "n4": "not Ready"})


def test_harmony_yaml_prunes_with_cluster_k3s_prune_nodes_and_refuses_another_value(tmp_path):
    path = tmp_path / "harmony.yaml"
    assert project.parse("cluster:\n  k3s:\n    prune_nodes: true\n", path).data == {"k3s_prune_nodes": True}
    with pytest.raises(BadInput, match="cluster.k3s.prune_nodes: must be true or false"):
        project.parse("cluster:\n  k3s:\n    prune_nodes: prune\n", path)


def test_up_labels_only_the_nodes_it_installed_on_hosts_it_did_not_fail_and_only_once(monkeypatch):
    patched = []
    api = SimpleNamespace(patch_node=lambda name, body, **_: patched.append((name, body)))
    monkeypatch.setattr(readiness, "core_api", lambda config: api)
    listed = [node("n1", managed=False), node("n2", managed=False), node("n3"), node("edge7", managed=False)]
    flow = SimpleNamespace(result=SimpleNamespace(nodes={"s1": "n1", "s2": "n2", "s3": "n3"}), ok={"s1", "s3"},
                           nodes=listed, config={})
    cluster.claim_nodes(flow)
    # n2's host failed this run; n3 is labelled already; edge7 is no host's (joined by hand).
    assert patched == [("n1", {"metadata": {"labels": {"app.kubernetes.io/managed-by": "harmony"}}})]
    assert [n.managed for n in flow.nodes] == [True, False, True, False]
    patched.clear()
    cluster.claim_nodes(flow)
    assert patched == []


def test_a_label_the_api_does_not_take_fails_nothing_and_is_said(monkeypatch):
    def patch_node(name, body, **_):
        if name == "n1":  # another run restarting k3s under this one
            raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(readiness, "core_api", lambda config: SimpleNamespace(patch_node=patch_node))
    flow = SimpleNamespace(result=SimpleNamespace(nodes={"s1": "n1", "s2": "n2"}), ok={"s1", "s2"},
                           nodes=[node("n1", managed=False), node("n2", managed=False)], config={},
                           report=SimpleNamespace(notes=[]))
    cluster.claim_nodes(flow)
    assert [n.managed for n in flow.nodes] == [False, True]
    assert flow.report.notes == [
        "node n1: not labelled app.kubernetes.io/managed-by=harmony (ConnectionResetError: [Errno 104] Connection "
        "reset by peer): the next harmony up labels it; until then --prune-nodes leaves it"]
