"""k3d settings, the rendered k3d config, release assets and spec differences (pure logic)."""

import pytest
import yaml

from harmony.errors import BadInput
from harmony.k3d.facts import K3dCluster, _k3d_clusters
from harmony.k3d import hostrun, render, spec
from harmony.k3d.settings import from_data


def test_config_is_a_k3d_simple_config_for_the_pinned_k3s():
    settings = from_data({
        "harmony_cluster": "dev", "k3d_agents": "2", "k3d_api_port": 7443,
        "k3d_ports": ["8080:80@loadbalancer"], "k3s_config": {"disable": ["traefik", "metrics-server"]},
        "k3s_node_labels": {"site": "x"},
    }, "@local")
    config = yaml.safe_load(render.config_yaml(settings, "v1.31.4+k3s1"))
    assert config["apiVersion"] == "k3d.io/v1alpha5" and config["kind"] == "Simple"
    assert config["metadata"] == {"name": "dev"} and (config["servers"], config["agents"]) == (1, 2)
    assert config["image"] == "rancher/k3s:v1.31.4-k3s1"
    assert config["kubeAPI"] == {"hostIP": "127.0.0.1", "hostPort": "7443"}
    assert config["ports"] == [{"port": "8080:80", "nodeFilters": ["loadbalancer"]}]
    assert [a["arg"] for a in config["options"]["k3s"]["extraArgs"]] == [
        "--disable=traefik", "--disable=metrics-server", "--node-label=site=x"]
    assert config["options"]["kubeconfig"] == {"updateDefaultKubeconfig": False, "switchCurrentContext": False}
    assert "token" not in config


def test_a_remote_host_publishes_the_api_on_all_addresses():
    assert from_data({}, "edge-1").api_host_ip == "0.0.0.0"


@pytest.mark.parametrize("data,message", [
    ({"harmony_cluster": "Bad_Name"}, "invalid cluster name"),
    ({"k3d_version": "5.7"}, "'k3d_version' must be a k3d release"),
    ({"k3d_servers": 0}, "'k3d_servers' must be a whole number from 1 to 9"),
    ({"k3d_api_port": "http"}, "'k3d_api_port' must be a whole number"),
    ({"k3d_ports": "8080:80"}, "'k3d_ports' must be a list"),
])
def test_bad_k3d_data_is_bad_input(data, message):
    with pytest.raises(BadInput) as error:
        from_data(data, "h")
    assert message in str(error.value)


@pytest.mark.parametrize("system,machine,name", [
    ("Linux", "x86_64", "k3d-linux-amd64"),
    ("Linux", "aarch64", "k3d-linux-arm64"),
    ("Darwin", "arm64", "k3d-darwin-arm64"),
    ("MINGW64_NT-10.0", "x86_64", "k3d-windows-amd64.exe"),
])
def test_release_asset_per_platform(system, machine, name):
    assert hostrun.asset(system, machine).name == name


def test_cluster_list_and_spec_difference():
    listed = _k3d_clusters(
        '[{"name": "dev", "nodes": [{"role": "server", "image": "rancher/k3s:v1.30.8-k3s1", '
        '"State": {"Running": true}}, {"role": "loadbalancer", "State": {"Running": true}}]}]')
    assert listed == {"dev": K3dCluster(servers=1, agents=0, running=1, image="rancher/k3s:v1.30.8-k3s1")}
    settings = from_data({"harmony_cluster": "dev", "k3d_agents": 1}, "@local")
    assert spec.spec_difference(listed["dev"], settings, "v1.31.4+k3s1") == (
        "agents 0 -> 1, image rancher/k3s:v1.30.8-k3s1 -> rancher/k3s:v1.31.4-k3s1")
