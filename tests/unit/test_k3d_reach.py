"""The k3d cluster's API as the controller reaches it (issue #27: the cluster reachable from the
host on macOS and Windows, whose Docker publishes only mapped ports): on this machine, the API
bound to loopback and the kubeconfig's server `https://127.0.0.1:PORT`, whatever address k3d
wrote into the kubeconfig (its kubeAPI host: `0.0.0.0`, which Windows cannot connect to, where
it listens on every address); a remote Docker host's own address elsewhere."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from harmony.k3d import render
from harmony.k3d.runtime import K3D
from harmony.k3d.settings import from_data


def server_of(host_name: str, written: str, **data) -> str:
    settings = from_data(data, host_name)
    host = SimpleNamespace(name=host_name, data=data)
    api = K3D.api([host], settings, None, {host_name}, None, lambda h: Path("/fetched"))
    return api.url_for({"clusters": [{"cluster": {"server": written}}]})


@pytest.mark.parametrize("written", ["https://127.0.0.1:6550", "https://0.0.0.0:6550"])
def test_this_machines_cluster_is_reached_on_loopback(written):
    assert server_of("@local", written, k3d_api_port=6550) == "https://127.0.0.1:6550"


def test_the_api_is_published_on_loopback_here_and_on_every_address_of_a_remote_host():
    assert render.config_data(from_data({}, "@local"), "v1.31.4+k3s1")["kubeAPI"]["hostIP"] == "127.0.0.1"
    assert render.config_data(from_data({}, "edge-1"), "v1.31.4+k3s1")["kubeAPI"]["hostIP"] == "0.0.0.0"
    assert server_of("edge-1", "https://0.0.0.0:6443", k3s_server_address="10.0.0.5") == "https://10.0.0.5:6443"
