"""What harmony accepts before touching a host: Kubernetes' label and taint rules, k3s_config
values k3s can read, and only data keys it knows ("did you mean")."""

import pytest

from harmony import datakeys
from harmony.errors import BadInput
from harmony.k3s.settings import from_data
from harmony.k3sconfig import label_key_problem, label_value_problem, taint_problem

NAME63 = "a" * 63


@pytest.mark.parametrize("key", ["site", "a", "A-b_c.d", NAME63, "example.com/site", "k8s.io/x",
                                 f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 61}/name"])
def test_valid_label_keys(key):
    assert label_key_problem(key) is None


@pytest.mark.parametrize("key,problem", [
    ("", "name must be 1 to 63"), ("a=b,token", "name must be"), ("-a", "name must be"),
    ("a-", "name must be"), ("a" * 64, "name must be"), ("a b", "name must be"),
    ("Example.com/x", "prefix must be"), ("/x", "prefix must be"), ("a..b/x", "prefix must be"),
    (f"{'a' * 254}/x", "prefix must be"), ("a/b/c", "prefix must be"), ("example.com/", "name must be"),
    ("ü", "name must be"),
])
def test_invalid_label_keys(key, problem):
    assert problem in label_key_problem(key)


@pytest.mark.parametrize("value", ["", "a", "berlin", "v1.2_3-x", NAME63])
def test_valid_label_values(value):
    assert label_value_problem(value) is None


@pytest.mark.parametrize("value", ["a" * 64, "a\r", "a\u2028b", "a\x85", "-a", "a.", "a b", "x" * 100_000])
def test_invalid_label_values(value):
    assert "value must be empty, or 1 to 63" in label_value_problem(value)


@pytest.mark.parametrize("taint", ["gpu=true:NoSchedule", "dedicated:NoExecute", "example.com/x=:PreferNoSchedule"])
def test_valid_taints(taint):
    assert taint_problem(taint) is None


@pytest.mark.parametrize("taint,problem", [
    ("gpu=true", "expected key=value:Effect"), ("gpu=true:Sometimes", "expected key=value:Effect"),
    ("a=b,c:NoSchedule", "value must be"), (":NoSchedule", "name must be"), ("k=" + "v" * 64 + ":NoSchedule", "value must be"),
])
def test_invalid_taints(taint, problem):
    assert problem in taint_problem(taint)


def test_bad_labels_and_config_values_name_the_host_and_key():
    with pytest.raises(BadInput, match="host h: data 'k3s_node_labels' has 'a=b,token'"):
        from_data({"k3s_node_labels": {"a=b,token": "x"}}, "h")
    with pytest.raises(BadInput, match="data 'k3s_config' sets 'node-ip' to a value k3s cannot read"):
        from_data({"k3s_config": {"node-ip": "10.0.0.1\nevil: yes"}}, "h")
    with pytest.raises(BadInput, match="data 'k3s_config' sets 'tls-san' to a value k3s cannot read"):
        from_data({"k3s_config": {"tls-san": ["a", {"b": 1}]}}, "h")
    with pytest.raises(BadInput, match="a value of 5000 characters"):
        from_data({"k3s_config": {"node-ip": "1" * 5000}}, "h")


@pytest.mark.parametrize("key,suggestion", [("k3s_versoin", "k3s_version"), ("k3d_agent", "k3d_agents"),
                                            ("harmony_kubeconfig_sever", "harmony_kubeconfig_server")])
def test_unknown_owned_keys_are_refused_with_a_suggestion(key, suggestion):
    with pytest.raises(BadInput, match=f"host h: unknown data key '{key}': did you mean '{suggestion}'"):
        datakeys.check_data({key: "x"}, "host h")


def test_other_keys_are_the_users_own():
    datakeys.check_data({"site": "berlin", "ssh_user": "ops", "_sudo": True, "k3s_version": "v1"}, "host h")


@pytest.mark.parametrize("port", ["2501", 0, 70000, True, 22.0])
def test_ssh_port_must_be_a_port_number(port):
    with pytest.raises(BadInput, match="data 'ssh_port' must be a port number"):
        datakeys.check_data({"ssh_port": port}, "host h")


@pytest.mark.parametrize("key", ["k3s_version", "k3d_api_port", "ssh_port", "_sudo", "https_proxy"])
def test_set_takes_known_and_connection_keys(key):
    datakeys.check_set(key)


@pytest.mark.parametrize("key,message", [("__class__", "not a data key"), ("k3s_versoin", "did you mean 'k3s_version'"),
                                         ("harmony_run", "not a data key"), ("_sudo_password", "not a data key")])
def test_set_refuses_anything_else(key, message):
    with pytest.raises(BadInput, match=message):
        datakeys.check_set(key)


def test_every_key_the_code_reads_is_known():
    """A data key read somewhere in harmony but missing from datakeys.KNOWN would be refused."""
    import re
    from pathlib import Path

    import harmony
    from harmony.k3s.settings import GROUP_ROLES

    source = "".join(p.read_text() for p in Path(harmony.__file__).parent.rglob("*.py"))
    read = set(re.findall(r"""["']((?:k3s|k3d|harmony)_[a-z_]+)["']""", source)) - set(GROUP_ROLES)
    assert read - datakeys.KNOWN == set()
