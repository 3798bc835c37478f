"""Roles, join tokens and the cluster's shape, from inventory data (pure logic)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harmony.errors import BadInput
from harmony.k3s import cluster, render
from harmony.k3s.settings import from_data

TOKEN = "s3cret-T0ken"


def hosts(*specs):
    """(name, groups, data) -> [(name, Settings)] in inventory order."""
    return [(name, from_data(data, name, groups)) for name, groups, data in specs]


def config(shape, settings_by_name, name):
    return yaml.safe_load(render.config_yaml(settings_by_name[name], name.upper(), shape, name))


def test_groups_give_roles_and_the_first_server_starts_the_cluster():
    members = hosts(("a1", ["k3s_agents"], {}), ("s1", ["k3s_servers"], {}), ("s2", ["k3s_servers"], {}))
    shape = cluster.plan(members)
    assert (shape.servers, shape.agents, shape.first_server, shape.ha) == (("s1", "s2"), ("a1",), "s1", True)
    assert [shape.stage(n) for n in ("s1", "s2", "a1")] == [cluster.FIRST_SERVER, cluster.SERVER, cluster.AGENT]
    assert shape.registration_url == "https://s1:6443"


def test_ha_configs_join_through_the_registration_address():
    members = hosts(
        ("s1", ["k3s_servers"], {"ssh_hostname": "10.0.0.1", "k3s_registration_address": "lb.example:9443"}),
        ("s2", ["k3s_servers"], {"k3s_registration_address": "lb.example:9443"}),
        ("a1", ["k3s_agents"], {"k3s_registration_address": "lb.example:9443",
                                "k3s_node_labels": {"site": "x"}}),
    )
    shape, by_name = cluster.plan(members), dict(members)
    assert config(shape, by_name, "s1") == {"node-name": "s1", "cluster-init": True, "tls-san": ["lb.example"]}
    assert config(shape, by_name, "s2") == {
        "node-name": "s2", "server": "https://lb.example:9443", "token-file": "/etc/rancher/k3s/token",
        "tls-san": ["lb.example"]}
    assert config(shape, by_name, "a1") == {
        "node-name": "a1", "node-label": ["site=x"], "server": "https://lb.example:9443",
        "token-file": "/etc/rancher/k3s/token"}


def test_one_server_with_agents_has_no_etcd_and_its_address_defaults_to_ssh_hostname():
    members = hosts(("s1", [], {"ssh_hostname": "10.0.0.1"}), ("a1", [], {"k3s_role": "agent"}))
    shape, by_name = cluster.plan(members), dict(members)
    assert not shape.ha and shape.registration_url == "https://10.0.0.1:6443"
    assert config(shape, by_name, "s1") == {"node-name": "s1", "tls-san": ["10.0.0.1"]}


def test_server_address_is_used_before_the_ssh_address_and_v6_is_bracketed():
    members = hosts(("s1", [], {"ssh_hostname": "127.0.0.1", "k3s_server_address": "[fd00::1]"}))
    shape = cluster.plan(members)
    assert (shape.registration_url, shape.registration_host) == ("https://[fd00::1]:6443", "fd00::1")


def test_a_given_token_goes_to_a_file_on_the_first_server(tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    for data in ({"k3s_token": TOKEN}, {"k3s_token_file": str(token_file)}, {"k3s_token_env": "MY_TOKEN"}):
        settings = from_data(data, "s1")
        assert settings.token == TOKEN
        assert TOKEN not in repr(settings)
        assert config(cluster.plan([("s1", settings)]), {"s1": settings}, "s1")["token-file"] == "/etc/rancher/k3s/token"


@pytest.mark.parametrize("data,message", [
    ({"k3s_token": TOKEN, "k3s_token_env": "X"}, "give the join token once"),
    ({"k3s_token": "two words"}, "without spaces or newlines"),
    ({"k3s_token_env": "HARMONY_TEST_UNSET_VAR"}, "names $HARMONY_TEST_UNSET_VAR, which is not set"),
    ({"k3s_token_file": "/nonexistent/token"}, "names a file that cannot be read"),
    ({"k3s_registration_address": "https://lb:6443"}, "must be a host name or IP address"),
])
def test_bad_token_and_address_data_is_named_without_the_secret(data, message):
    with pytest.raises(BadInput) as error:
        from_data(data, "h1")
    assert message in str(error.value) and "two words" not in str(error.value)


@pytest.mark.parametrize("specs,message", [
    ([("a1", ["k3s_agents"], {})], "agents but no server"),
    ([("x", ["k3s_agents", "k3s_servers"], {})], "in both k3s_servers and k3s_agents"),
    ([("x", ["k3s_agents"], {"k3s_role": "server"})], "make them agree"),
    ([("s1", [], {"k3s_token": TOKEN}), ("s2", [], {"k3s_token": TOKEN + "x"})], "disagree on the servers' token"),
    ([("s1", [], {"k3s_registration_address": "a"}), ("s2", [], {})], "disagree on k3s_registration_address"),
    ([("s1", [], {"k3s_node_name": "n"}), ("s2", [], {"k3s_node_name": "n"})], "node name(s) given to more"),
])
def test_inventories_that_make_no_cluster_are_bad_input(specs, message):
    with pytest.raises(BadInput) as error:
        cluster.plan(hosts(*specs))
    assert message in str(error.value) and TOKEN not in str(error.value)


def test_an_agent_may_present_a_token_of_its_own():
    members = hosts(("s1", [], {"k3s_token": TOKEN}), ("a1", ["k3s_agents"], {"k3s_token": "agent-only"}))
    assert cluster.plan(members).token == TOKEN


def test_the_example_inventory_makes_a_cluster():
    # In a child process: loading an inventory imports pyinfra's CLI, which monkey-patches
    # the interpreter with gevent.
    script = """
from harmony import inventory, targets
from harmony.k3s import cluster
from harmony.runtimes import K3S
loaded = inventory.load(targets.resolve("inventories/edge.example.py"), {})
settings = K3S.settings(loaded)
shape = cluster.plan([(h.name, settings[h.name]) for h in loaded])
print(shape.servers, len(shape.agents), shape.registration_url)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["('edge-1.example.net',)", "2", "https://10.0.0.11:6443"]
