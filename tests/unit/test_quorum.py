"""Who may restart when hosts are out of the run: etcd's quorum, version skew, a stopped rollout
(harmony.k3s.quorum, pure logic)."""

import pytest

from harmony.k3s.quorum import Rollout, etcd_refusal, quorum, refusal, servers_held

UNREACHABLE = "unreachable: connection refused (127.0.0.1:2203)"


def servers(count: int) -> tuple[str, ...]:
    return tuple(f"s{i}" for i in range(1, count + 1))


def lost(count: int, *names: str) -> Rollout:
    """`count` servers, `names` unreachable (and so lost)."""
    return Rollout(servers(count), out={n: UNREACHABLE for n in names}, lost=frozenset(names))


def test_quorum_is_a_majority():
    assert [quorum(n) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]


def test_the_issue_example_three_servers_one_unreachable_refuses_with_the_arithmetic():
    assert refusal(lost(3, "s3"), "s2", upgrade=True) == (
        "not restarted: 1 of 3 servers (s3) is unreachable; restarting s2 would leave 1 of 3 up, "
        "under etcd's quorum of 2")


@pytest.mark.parametrize("count, down, allowed", [
    (3, 0, True),   # the rolling restart as always
    (3, 1, False),  # 1 left of 3
    (4, 1, False),  # 2 left of 4, quorum 3
    (5, 1, True),   # 3 left of 5, quorum 3
    (5, 2, False),
    (7, 2, True),   # 4 left of 7, quorum 4
    (7, 3, False),
    (2, 0, True),   # two servers dip under quorum at every restart: as before, not harmony's to refuse
    (2, 1, False),
])
def test_a_server_restarts_only_where_the_servers_up_keep_quorum(count, down, allowed):
    names = servers(count)
    rollout = lost(count, *names[count - down:])
    assert (refusal(rollout, names[0], upgrade=True) is None) == allowed


def test_the_servers_are_held_all_alike_or_not_at_all():
    assert servers_held(lost(3, "s1")) and servers_held(lost(5, "s1", "s2"))
    assert not servers_held(lost(5, "s1")) and not servers_held(lost(3)) and not servers_held(lost(1, "s1"))


def test_two_lost_servers_are_named_in_order():
    why = refusal(lost(5, "s4", "s2"), "s1", upgrade=False)
    assert why == ("not restarted: 2 of 5 servers (s2, s4) are unreachable; restarting s1 would leave "
                   "2 of 5 up, under etcd's quorum of 3")


def test_a_server_out_but_running_k3s_is_not_lost():
    rollout = Rollout(servers(3), out={"s3": "failed its preflight"})
    assert refusal(rollout, "s2", upgrade=True) is None
    rollout = Rollout(servers(3), out={"s3": "failed its preflight"}, lost=frozenset({"s3"}))
    assert "1 of 3 servers (s3) is out;" in refusal(rollout, "s2", upgrade=True)


def test_a_single_server_cluster_has_no_quorum_to_keep_and_an_unreachable_agent_stops_no_one():
    rollout = Rollout(("s1",), out={"a2": UNREACHABLE})
    assert refusal(rollout, "s1", upgrade=True) is None
    assert refusal(rollout, "a1", upgrade=True) is None


def test_a_host_that_failed_in_the_rollout_stops_every_later_restart():
    rollout = Rollout(servers(3), out={"a2": UNREACHABLE}, stopped_at=("s1",))
    for host in ("s2", "a1"):
        assert refusal(rollout, host, upgrade=False) == "not restarted: the rollout stopped at s1, which failed"


def test_an_agent_is_not_upgraded_past_a_server_that_was_not():
    unreachable = lost(3, "s3")
    why = refusal(unreachable, "a1", upgrade=True)
    assert why == ("not restarted onto a new k3s: server s3 is not upgraded (s3: " + UNREACHABLE + "), "
                   "and an agent must not run newer than its servers")
    held = Rollout(servers(3), out={"s3": UNREACHABLE}, lost=frozenset({"s3"}), not_restarted=frozenset({"s2"}))
    assert "servers s2, s3 are not upgraded (s2: not restarted; s3: unreachable" in refusal(held, "a1", True)
    # A change that keeps its version (a label) restarts it: no skew.
    assert refusal(unreachable, "a1", upgrade=False) is None
    # A server out but known to run the run's version holds no agent back.
    current = Rollout(servers(3), out={"s3": "failed its preflight"}, current=frozenset({"s3"}))
    assert refusal(current, "a1", upgrade=True) is None


def test_with_every_server_out_nothing_restarts_for_want_of_the_api():
    rollout = Rollout(("s1",), out={"s1": UNREACHABLE}, lost=frozenset({"s1"}))
    assert refusal(rollout, "a1", upgrade=False) == (
        f"not restarted: no server is reachable to follow it through the API (s1: {UNREACHABLE})")


def test_the_api_is_read_from_the_first_server_not_out():
    assert lost(3, "s1").api_server() == "s2"
    assert lost(3).api_server() == "s1"
    assert lost(2, "s1", "s2").api_server() is None


UNHEALTHY = "Unhealthy: failed to check etcd member status: connection refused"


def test_a_reachable_server_whose_member_is_unhealthy_keeps_the_others_from_restarting():
    members = {"s1": "", "s2": "", "s3": UNHEALTHY}
    assert etcd_refusal("s1", members) == (
        f"not restarted: the etcd member of s3 ({UNHEALTHY}) is not healthy; restarting s1 would leave "
        "1 of 3 members up, under etcd's quorum of 2: start k3s on s3 first")
    assert etcd_refusal("s2", members) is not None
    assert etcd_refusal("s3", members) is None  # its restart takes nothing from the quorum


@pytest.mark.parametrize("count, sick, allowed", [
    (1, 0, True), (2, 0, True), (2, 1, False), (3, 1, False), (4, 1, False), (5, 1, True), (5, 2, False),
])
def test_a_restart_keeps_a_majority_of_members_up(count, sick, allowed):
    members = {f"s{i}": (UNHEALTHY if i > count - sick else "") for i in range(1, count + 1)}
    assert (etcd_refusal("s1", members) is None) is allowed


def test_a_node_that_is_not_a_member_is_never_refused():
    assert etcd_refusal("agent", {"s1": "", "s2": UNHEALTHY, "s3": UNHEALTHY}) is None
