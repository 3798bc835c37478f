"""Hosts reached only through a bastion: `--ssh-bastion`, and a Host alias with ProxyJump in the
user's own ~/.ssh/config (issue #26, "SSH as the user has it").

The bastion is a host of sshd alone, its SSH port published on 127.0.0.1; the target publishes
no SSH port (the bastion reaches it on the Docker bridge), only its API port, so that the
controller checks its node is Ready through the API as for any host.
"""

from __future__ import annotations

import json
import shutil
import socket

import pytest

from tests.e2e import hosts as test_hosts
from tests.e2e.conftest import NEW, REAL, write_inventory
from tests.e2e.test_multi_node import summary


@pytest.fixture
def bastion_and_hidden(ssh_key):
    """(bastion, target): the target reached only from the bastion. Both removed afterwards."""
    public, started = ssh_key.with_suffix(".pub").read_text(), []
    try:
        started.append(test_hosts.start(public, init=None, prefix="bastion"))
        started.append(test_hosts.start(public, privileged=REAL, publish_ssh=False))
        yield tuple(started)
    finally:
        for host in started:
            host.remove()


def ready(harmony) -> bool:
    result = harmony.kubectl("--context", "harmony", "get", "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    (node,) = json.loads(result.stdout)["items"]
    return {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"


def test_up_through_a_bastion_then_through_an_alias_with_proxyjump(harmony, bastion_and_hidden):
    bastion, target = bastion_and_hidden
    common = [*harmony.release_args(), "--kubeconfig-server", target.api_url, "--yes"]
    result = harmony("up", f"root@{target.ip}", "--ssh-key", str(harmony.ssh_key),
                     "--ssh-bastion", f"root@127.0.0.1:{bastion.ssh_port}", *common)
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.is_active() and ready(harmony)
    assert target.sh("k3s --version").startswith(f"k3s version {NEW} ")
    known = (harmony.home / ".ssh" / "known_hosts").read_text()
    assert f"[127.0.0.1]:{bastion.ssh_port} " in known and f"{target.ip} " in known  # both checked, and kept

    # The user's own ~/.ssh/config: the target an alias, reached by ProxyJump through another
    # alias; user, port and key all from the file (no --ssh-key, no --ssh-user).
    (harmony.home / ".ssh" / "config").write_text(
        f"Host jump\n  HostName 127.0.0.1\n  Port {bastion.ssh_port}\n  User root\n  IdentityFile {harmony.ssh_key}\n"
        f"Host edge1\n  HostName {target.ip}\n  User root\n  IdentityFile {harmony.ssh_key}\n  ProxyJump jump\n")
    # The server's address for other nodes defaults to the name as written ("edge1", which only
    # this machine's SSH config knows): given as the first run had it, nothing changes.
    again = harmony("up", "edge1", "--set", f"k3s_server_address={target.ip}", *common)
    assert again.returncode == 0, again.stdout + again.stderr
    # Nothing changed on the host; the kubeconfig is fetched again, kept here per host name.
    assert again.stdout.startswith("edge1: changed: kubeconfig: Fetch the kubeconfig to the controller\n"), again.stdout
    assert ready(harmony)

    # A ProxyCommand of the user's own, run by the shell with its tokens expanded: the system
    # ssh's -W through the bastion. Its login on the bastion comes before the target's own
    # handshake, in the same connect timeout: on a loaded CI machine the two took over the
    # default 10 s once, so the file gives more, as a user behind a slow proxy would.
    if shutil.which("ssh"):
        (harmony.home / ".ssh" / "config").write_text(
            f"Host edge2\n  HostName {target.ip}\n  User root\n  IdentityFile {harmony.ssh_key}\n"
            f"  ConnectTimeout 60\n"
            f"  ProxyCommand ssh -i {harmony.ssh_key} -p {bastion.ssh_port} -o BatchMode=yes "
            f"-o StrictHostKeyChecking=accept-new -W %h:%p %r@127.0.0.1 2>/dev/null\n")
        piped = harmony("up", "edge2", "--set", f"k3s_server_address={target.ip}", *common)
        assert piped.returncode == 0, piped.stdout + piped.stderr
        assert piped.stdout.startswith("edge2: changed: kubeconfig: Fetch the kubeconfig"), piped.stdout


def test_an_unreachable_bastion_fails_its_hosts_in_a_line_and_the_others_finish(harmony, start_host, tmp_path):
    direct = start_host()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    inventory = write_inventory(tmp_path / "edge.py", {"s1": (direct, {"k3s_node_name": "s1"})},
                                {"a1": (direct, {"ssh_hostname": "10.255.255.1", "ssh_port": 22,
                                                 "ssh_bastion": f"root@127.0.0.1:{dead}"})})
    result = harmony.up_cluster(inventory, direct, timeout=240)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    outcome = summary(result)
    assert outcome["a1"] == (f"unreachable: bastion root@127.0.0.1:{dead}: "
                             f"connection refused (127.0.0.1:{dead}): check the port, and that sshd runs there"), outcome
    assert outcome["s1"].startswith("changed"), outcome
    assert direct.is_active()
