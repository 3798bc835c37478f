"""Restarts that keep etcd's quorum: a server harmony reaches but whose etcd member is unhealthy
(its k3s stopped) keeps the other servers from restarting, with the arithmetic; once it is back,
the servers restart one at a time, each a healthy member again before the next.

The member health is k3s's EtcdIsVoter node condition, kept by the stand-in as k3s's etcd
controller does (every HARMONY_STANDIN_ETCD_TICK seconds here, 15 in k3s)."""

from __future__ import annotations

from tests.e2e.conftest import NEW, OLD, until, write_inventory
from tests.e2e.test_multi_node import nodes, summary


def voters(harmony) -> dict[str, str]:
    """Each etcd server's EtcdIsVoter status ("True", "False"), by node name."""
    return {name: next((c["status"] for c in node["status"]["conditions"] if c["type"] == "EtcdIsVoter"), "")
            for name, node in nodes(harmony).items()}


def test_an_unhealthy_member_holds_the_other_servers_restarts_until_it_is_back(harmony, start_host, tmp_path):
    s1, s2, s3 = (start_host() for _ in range(3))
    s1.write("/etc/default/k3s", "HARMONY_STANDIN_ETCD_TICK=1\n")
    inventory = write_inventory(tmp_path / "ha.py", servers={"s1": (s1, {}), "s2": (s2, {}), "s3": (s3, {})},
                                data={"k3s_registration_address": s1.ip})
    first = harmony.up_cluster(inventory, s1, version=OLD)
    assert first.returncode == 0, first.stdout + first.stderr
    s3_node = s3.sh("hostname")
    assert until(lambda: set(voters(harmony).values()) == {"True"}, 30), voters(harmony)

    s3.stop()
    assert until(lambda: voters(harmony)[s3_node] == "False", 30), voters(harmony)
    started = [s1.started_at(), s2.started_at()]
    held = harmony.up_cluster(inventory, s1, version=NEW)
    assert held.returncode == 1, held.stdout + held.stderr
    said = summary(held)
    for server in ("s1", "s2"):
        assert f"the etcd member of {s3_node} (Unhealthy: failed to check etcd member status" in said[server], said
        assert "would leave 1 of 3 members up, under etcd's quorum of 2: start k3s on" in said[server], said
    assert [s1.started_at(), s2.started_at()] == started
    assert all(OLD in host.sh("k3s --version") for host in (s1, s2))
    # s3's own turn came: a member that is down takes nothing from the quorum, and it started
    assert s3.is_active() and NEW in s3.sh("k3s --version")

    assert until(lambda: voters(harmony)[s3_node] == "True", 30), voters(harmony)
    rolled = harmony.up_cluster(inventory, s1, version=NEW)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert s1.started_at() < s2.started_at() and all(NEW in h.sh("k3s --version") for h in (s1, s2))
    assert set(voters(harmony).values()) == {"True"}
    again = harmony.up_cluster(inventory, s1, version=NEW)
    assert again.returncode == 0 and summary(again) == {}, again.stdout
