"""Hosts harmony cannot reach fail alone: each is named with its reason in a line and left out of
the run, and the others finish (issue #23, "Hosts fail alone")."""

from __future__ import annotations

from tests.e2e.conftest import NEW, write_inventory
from tests.e2e.test_multi_node import summary


def test_a_host_that_refuses_the_key_is_named_with_the_user(harmony, start_host, tmp_path):
    server, agent = start_host(), start_host()
    agent.sh("rm /root/.ssh/authorized_keys")
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (server, {})}, agents={"a1": (agent, {})})
    plan = harmony("plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                   *harmony.release_args(NEW))
    assert plan.returncode == 1 and "Traceback" not in plan.stderr, plan.stdout + plan.stderr
    planned = summary(plan)
    assert planned["a1"].startswith(f"failed: harmony: unreachable: authentication failed for root "
                                    f"(127.0.0.1:{agent.ssh_port})"), planned
    assert f"Install k3s {NEW}" in planned["s1"]
