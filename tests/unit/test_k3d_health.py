"""A k3d cluster after a sleep, a reboot or an engine restart: what the host fact finds lost (its
shell fragment run against a scripted `docker`), the state status gives it, on each platform's
words for an engine that does not answer, and the k3d command up brings it back with."""

import os
import subprocess

import pytest

from harmony.k3d import health
from harmony.k3d.facts import HEALTH, K3dCluster, K3dHost, K3dStatus

LISTED = ('clusters\t[{"name": "dev", "nodes": ['
          '{"name": "k3d-dev-server-0", "role": "server", "image": "rancher/k3s:v1.31.4-k3s1", "State": {"Running": true}}, '
          '{"name": "k3d-dev-agent-0", "role": "agent", "image": "rancher/k3s:v1.31.4-k3s1", "State": {"Running": true}}, '
          '{"name": "k3d-dev-serverlb", "role": "loadbalancer", "State": {"Running": false}}, '
          '{"name": "k3d-dev-registry", "role": "registry", "State": {"Running": false}}]}]')

# A Docker whose engine came back: the nodes run again (their restart policy), their /etc/hosts
# written anew but for the server's; the load balancer and the registry were stopped before.
DOCKER = """#!/bin/sh
case "$1" in
  ps) printf 'k3d-dev-server-0 server running\\nk3d-dev-agent-0 agent running\\n'
      printf 'k3d-dev-serverlb loadbalancer exited\\nk3d-dev-registry registry exited\\n' ;;
  inspect) case "$4" in
      k3d-dev-serverlb) echo '127.0.0.1:6550->6443/tcp 127.0.0.1:8080->80/tcp ' ;;
      *) echo '0.0.0.0:5000->5000/tcp ' ;;
    esac ;;
  exec) case "$2 $4" in
      "k3d-dev-server-0 /etc/hosts") printf '127.0.0.1 localhost\\n10.9.0.1 host.k3d.internal\\n' ;;
      "k3d-dev-agent-0 /etc/hosts") printf '127.0.0.1 localhost\\n' ;;
      *coredns.yaml) printf 'data:\\n  NodeHosts: |\\n    10.9.0.2 k3d-dev-server-0\\n' ;;
    esac ;;
esac
"""


def fact_lines(tmp_path) -> list[str]:
    """HEALTH's output for cluster dev, with the scripted docker first on PATH."""
    (tmp_path / "docker").write_text(DOCKER)
    (tmp_path / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", "docker=running\ncluster=dev\n" + HEALTH], capture_output=True, text=True,
                          env=env, timeout=30, check=True)
    return [LISTED, "docker\trunning", *done.stdout.splitlines()]


def test_the_fact_finds_the_containers_down_their_ports_and_host_k3d_internal_gone(tmp_path):
    cluster = K3dHost().process(fact_lines(tmp_path)).clusters["dev"]
    assert cluster.down == ("k3d-dev-registry", "k3d-dev-serverlb")
    assert cluster.running == 2  # its servers and agents
    assert cluster.lost_alias == ("k3d-dev-agent-0's /etc/hosts", "CoreDNS's NodeHosts")
    assert cluster.unpublished == ("127.0.0.1:6550->6443/tcp", "127.0.0.1:8080->80/tcp", "0.0.0.0:5000->5000/tcp")
    assert health.state("running", cluster) == health.PARTLY
    assert health.lost(cluster) == [
        "host.k3d.internal in k3d-dev-agent-0's /etc/hosts", "host.k3d.internal in CoreDNS's NodeHosts",
        "port 127.0.0.1:6550->6443/tcp", "port 127.0.0.1:8080->80/tcp", "port 0.0.0.0:5000->5000/tcp"]


def test_coredns_counts_as_lost_only_where_no_running_server_has_it():
    """k3d rewrites one server's CoreDNS manifest: another server's lacks it on a healthy cluster."""
    lines = [LISTED, "coredns\tdev\tlacks", "coredns\tdev\thas"]
    assert K3dHost().process(lines).clusters["dev"].lost_alias == ()
    assert K3dHost().process([LISTED, "coredns\tdev\tlacks"]).clusters["dev"].lost_alias == ("CoreDNS's NodeHosts",)
    # A server without the manifest (CoreDNS disabled) says nothing, and neither does another cluster.
    assert K3dHost().process([LISTED, "unaliased\tother\tk3d-other-server-0"]).clusters["dev"].lost_alias == ()


def test_the_fact_asks_nothing_of_the_nodes_unless_told_the_cluster():
    assert "host.k3d.internal" not in K3dHost().command(health=True)
    assert "host.k3d.internal" in K3dHost().command(cluster="dev", health=True)
    assert "host.k3d.internal" not in K3dHost().command(cluster="dev", ports=True)


WHOLE = K3dCluster(servers=1, agents=1, running=2, image="rancher/k3s:v1.31.4-k3s1")


@pytest.mark.parametrize("docker,cluster,expected", [
    ("running", WHOLE, health.RUNNING),
    ("running", K3dCluster(1, 1, 1, "i", down=("k3d-dev-agent-0",)), health.PARTLY),
    ("running", K3dCluster(1, 0, 1, "i", down=("k3d-dev-serverlb",)), health.PARTLY),
    ("running", K3dCluster(1, 0, 0, "i", down=("k3d-dev-server-0", "k3d-dev-serverlb")), health.STOPPED),
    ("stopped", None, health.NO_ENGINE),
    ("running", None, health.ABSENT),
])
def test_each_state(docker, cluster, expected):
    assert health.state(docker, cluster) == expected


@pytest.mark.parametrize("system,words", [
    ("Linux", "start it (sudo systemctl start docker)"),
    ("Darwin", "start Docker Desktop (or colima start)"),
    ("MINGW64_NT-10.0", "start Docker Desktop"),
])
def test_an_engine_that_does_not_answer_makes_the_host_unreachable_with_its_fix(system, words):
    fact = K3dStatus().process([f"system\t{system}", "docker\tstopped"])
    row = health.status(fact, None, 0)
    assert row["state"] == health.NO_ENGINE and row["reachable"] is False and row["healthy"] is False
    assert row["reason"].startswith(f"Docker does not answer: {words}")


def test_healthy_is_running_whole_with_nothing_lost_and_every_node_ready():
    fact = {"docker": "running", "system": "Linux"}
    assert health.status(fact, vars(WHOLE), 2)["healthy"]
    assert not health.status(fact, vars(WHOLE), 1)["healthy"]
    row = health.status(fact, vars(K3dCluster(1, 1, 2, "i", lost_alias=("CoreDNS's NodeHosts",))), 2)
    assert not row["healthy"] and row["lost"] == ["host.k3d.internal in CoreDNS's NodeHosts"]
    assert health.note({**row, "down": []}) == ("; lost: host.k3d.internal in CoreDNS's NodeHosts: "
                                                "harmony up brings it back")
    stopped = health.status(fact, vars(K3dCluster(1, 0, 0, "i", down=("k3d-dev-server-0",),
                                                  unpublished=("127.0.0.1:6550->6443/tcp",))), 0)
    assert health.note(stopped) == ("; stopped (k3d-dev-server-0 down); lost: port 127.0.0.1:6550->6443/tcp: "
                                    "harmony up brings it back")
    assert health.note(health.status(fact, vars(WHOLE), 2)) == ""


def test_up_starts_what_is_down_and_restarts_a_cluster_that_lost_host_k3d_internal():
    assert health.recovery("k3d", "dev", WHOLE) == (None, "")
    assert health.recovery("k3d", "dev", K3dCluster(1, 0, 1, "i", down=("k3d-dev-serverlb",))) == (
        "k3d cluster start dev", "Start")
    lost = K3dCluster(1, 0, 1, "i", down=("k3d-dev-registry",), lost_alias=("k3d-dev-server-0's /etc/hosts",))
    assert health.recovery("k3d", "dev", lost) == (
        "k3d cluster stop dev && k3d cluster start dev", "Restart (host.k3d.internal lost)")


def test_an_engine_whose_socket_is_silent_is_named_with_its_own_start():
    """Where harmony.engine knows the engine (its socket is there, silent), status says its fix."""
    problem = "docker's endpoint (...) does not answer: colima start"
    fact = {"docker": "stopped", "system": "Darwin", "engine_problem": problem}
    assert health.status(fact, None, 0)["reason"] == problem
