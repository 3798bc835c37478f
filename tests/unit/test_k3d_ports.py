"""The port mappings harmony adds for a new k3d cluster's ports 80 and 443 (`harmony.k3d.ports`):
the free pair chosen from the host's listeners, rendered into the cluster's config, read back
from the config kept on the host so that the next run renders the same spec."""

import json
import os
import subprocess

import pytest
import yaml

from harmony.errors import BadInput
from harmony.facts import FileState, text_sha256
from harmony.k3d import ports, render, spec
from harmony.k3d.facts import K3dCluster, K3dHost, K3dHostState
from harmony.k3d.hostrun import K3dHostRun
from harmony.k3d.runtime import K3D
from harmony.k3d.settings import from_data
from harmony.resolved import Resolved
from harmony.workloads import access

VERSION = "v1.31.4+k3s1"
CLUSTER = K3dCluster(servers=1, agents=0, running=1, image=render.image(VERSION))


def settings(host: str = "@local", **data):
    return from_data({"harmony_cluster": "dev", **data}, host)


@pytest.mark.parametrize("taken,wanted,chosen", [
    (set(), (80, 443), {80: 80, 443: 443}),
    ({22, 6443}, (80, 443), {80: 80, 443: 443}),
    ({80}, (80, 443), {80: 8080, 443: 8443}),  # the pair moves together: http and https side by side
    ({443}, (80, 443), {80: 8080, 443: 8443}),
    ({80, 443, 8443}, (80, 443), {80: 8081, 443: 8444}),
    ({80, 443, 8080, 8081, 8446}, (80, 443), {80: 8082, 443: 8445}),
    ({443}, (443,), {443: 8443}),  # the data maps 80 itself
    ({80}, (443,), {443: 443}),
])
def test_the_first_free_pair_is_chosen(taken, wanted, chosen):
    assert ports.choose(wanted, taken) == chosen


def test_no_pair_when_every_one_is_taken():
    taken = {p for pair in ports.pairs() for p in pair.values()}
    assert ports.choose((80, 443), taken) is None
    published = ports.in_effect(settings(), K3dHostState(listening=taken))
    assert published.mappings == ()
    assert published.note == ("80 and 443, and each pair up to 8178 and 8541, were taken here; Ingresses are not "
                              "published: give k3d_ports")


def test_a_new_cluster_gets_80_and_443_on_loopback_here():
    published = ports.in_effect(settings(), K3dHostState(listening={22}))
    assert published == ports.Published(("127.0.0.1:80:80@loadbalancer", "127.0.0.1:443:443@loadbalancer"),
                                        "Ingresses are served on 80 and 443")  # printed in the create step


def test_taken_ports_move_to_the_next_pair_and_say_so():
    published = ports.in_effect(settings(), K3dHostState(listening={80, 443}))
    assert published.mappings == ("127.0.0.1:8080:80@loadbalancer", "127.0.0.1:8443:443@loadbalancer")
    assert published.note == "80 and 443 were taken here; Ingresses are served on 8080 and 8443"
    only = ports.in_effect(settings(), K3dHostState(listening={443}))
    assert only.note == "443 was taken here; Ingresses are served on 8080 and 8443"


def test_a_remote_host_publishes_them_on_every_address():
    published = ports.in_effect(settings("edge-1"), K3dHostState())
    assert published.mappings == ("80:80@loadbalancer", "443:443@loadbalancer")


def test_the_datas_own_ports_and_api_port_count_as_taken():
    published = ports.in_effect(settings(k3d_ports=["80:30080@loadbalancer"], k3d_api_port=8080),
                                K3dHostState())
    assert published.mappings == ("80:30080@loadbalancer", "127.0.0.1:8081:80@loadbalancer",
                                  "127.0.0.1:8444:443@loadbalancer")


def test_a_mapping_of_the_datas_wins_for_its_port():
    data = settings(k3d_ports=["9090:80@loadbalancer"])
    assert ports.unmapped(data) == (443,)
    assert ports.in_effect(data, K3dHostState()).mappings == ("9090:80@loadbalancer", "127.0.0.1:443:443@loadbalancer")
    both = settings(k3d_ports=["9090:80@agent:0", "9443:443"])
    assert ports.unmapped(both) == () and ports.in_effect(both, K3dHostState(listening={80})).mappings == both.ports


@pytest.mark.parametrize("value", [False, "false", "0"])
def test_k3d_ingress_ports_false_publishes_only_the_datas(value):
    data = settings(k3d_ingress_ports=value, k3d_ports=["8080:30080"])
    assert not data.ingress_ports and ports.unmapped(data) == ()
    assert ports.in_effect(data, K3dHostState()).mappings == ("8080:30080",)


def test_k3d_ingress_ports_is_yes_or_no():
    assert settings().ingress_ports and settings(k3d_ingress_ports="true").ingress_ports
    with pytest.raises(BadInput, match="'k3d_ingress_ports' must be true or false"):
        settings(k3d_ingress_ports="maybe")


def test_an_existing_cluster_keeps_the_ports_its_config_was_kept_with():
    kept = ("127.0.0.1:8080:80@loadbalancer", "127.0.0.1:8443:443@loadbalancer", "30080@server:0")
    state = K3dHostState(clusters={"dev": CLUSTER}, kept_ports=kept, listening={8080, 8443})
    published = ports.in_effect(settings(), state)
    assert published == ports.Published(kept[:2])  # not re-chosen, though its own ports listen now
    # A cluster made before harmony published these (its config has none) is left without them.
    assert ports.in_effect(settings(), K3dHostState(clusters={"dev": CLUSTER})).mappings == ()


def test_the_chosen_ports_are_rendered_into_the_k3d_config():
    node = run_of(settings(), K3dHostState(listening={80}))
    config = yaml.safe_load(node.spec)
    assert config["ports"] == [{"port": "127.0.0.1:8080:80", "nodeFilters": ["loadbalancer"]},
                               {"port": "127.0.0.1:8443:443", "nodeFilters": ["loadbalancer"]}]


def test_the_report_reads_the_mappings_the_run_found():
    from harmony.runner import RunResult

    data = settings(k3d_ports=["9090:30080"])
    found = RunResult({}, published={"@local": ("9090:30080", "127.0.0.1:8080:80@loadbalancer")})
    assert access.published(K3D.ports(data, found)) == {30080: 9090, 80: 8080}
    assert K3D.ports(data, RunResult({})) == K3D.ports(data) == ("9090:30080",)  # no run found any


def run_of(data, state: K3dHostState) -> K3dHostRun:
    """The host run as preflight leaves it: the state read, the port mappings decided."""
    node = K3dHostRun(data, Resolved("k3d", VERSION), state=state)
    node.published = ports.in_effect(data, state)
    return node


def fact_on(tmp_path, listed: list, kept: str | None = None) -> tuple[K3dHostState, list[str]]:
    """The k3d fact's script run here for cluster "dev" (HOME a temporary directory, k3d a script
    that lists `listed`), and what it read."""
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    (home / ".config/harmony/k3d").mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    if kept is not None:
        (home / ".config/harmony/k3d/dev.yaml").write_text(kept)
    k3d = bin_dir / "k3d"
    k3d.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(listed, separators=(',', ':'))}\nEOF\n")
    k3d.chmod(0o755)
    script = K3dHost().command(bin_dir=str(bin_dir), cluster="dev", ports=True)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(home)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return K3dHost().process(lines), lines


def test_a_rerun_renders_the_same_spec_from_the_kept_config(tmp_path):
    """The first run chose 8080 and 8443 for a new cluster; the next, reading the host as the
    deploy does (the fact's own script), renders the same spec: the kept file's hash is the same,
    so the cluster phase has nothing to do."""
    data = settings(k3d_ports=["30080@server:0"], k3s_token="secret-token")
    first = run_of(data, K3dHostState(listening={80, 443}))
    listed = [{"name": "dev", "nodes": [{"name": "k3d-dev-server-0", "role": "server", "image": CLUSTER.image,
                                         "State": {"Running": True}}]}]
    state, lines = fact_on(tmp_path, listed, first.spec)
    assert state.kept_ports == ("30080@server:0", "127.0.0.1:8080:80@loadbalancer",
                                "127.0.0.1:8443:443@loadbalancer")
    assert not any(line.startswith(("listening\t", "published\t")) for line in lines)  # no scan: it exists
    assert not any("secret-token" in line for line in lines)  # nothing of the file but its ports
    again = run_of(data, state)
    assert again.spec == first.spec
    again.state.files[again.paths.spec] = FileState(mode="600", sha256=text_sha256(first.spec))
    assert spec.same_spec(again)


def test_the_fact_reads_the_listeners_only_for_a_cluster_to_create(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        state, lines = fact_on(tmp_path, [{"name": "other", "nodes": []}])
    assert port in state.listening
    assert K3dHost().process(["listening\t0050", "listening\tzz", "published\t0.0.0.0:8443->443/tcp, "
                              ":::8443->443/tcp, 127.0.0.1:6443->6443/tcp", "published\t"]).listening == {80, 8443, 6443}


def test_the_kept_ports_are_read_from_the_config_harmony_rendered(tmp_path):
    text = render.config_yaml(settings(k3d_ports=["8080:80@loadbalancer", "127.0.0.1:9443:443/tcp@server:0"]), VERSION)
    state, _ = fact_on(tmp_path, [], text)
    assert state.kept_ports == ("8080:80@loadbalancer", "127.0.0.1:9443:443/tcp@server:0")


def test_mappings_with_an_address_are_published_ports():
    assert access.published(("127.0.0.1:8080:80@loadbalancer", "8443:443", "30080@server:0")) == {
        80: 8080, 443: 8443, 30080: 30080}
    assert ports.host_port("127.0.0.1:8080:80@loadbalancer") == 8080 and ports.cluster_port("30080") == 30080
