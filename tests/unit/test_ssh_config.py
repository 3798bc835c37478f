"""~/.ssh/config read as the system ssh reads it, and bastions (harmony.sshconfig): aliases,
what wins over the file, ProxyJump into hops, ProxyCommand's %-tokens."""

from __future__ import annotations

import getpass
import socket
from types import SimpleNamespace

import paramiko
import pytest

from harmony import datakeys, sshconfig
from harmony.errors import BadInput
from harmony.runner import connect_problem
from harmony.sshconfig import Hop
from harmony.sshconnect import BastionError, ShellProxy
from tests.unit.test_unreachable import raised

CONFIG = """
Host edge1
  HostName 10.0.0.11
  User admin
  Port 2222
  IdentityFile ~/.ssh/edge_key
  ProxyJump jump

Host jump
  HostName bastion.example.com
  User hopper
  Port 2200

Host inner
  HostName 10.1.0.5
  ProxyJump jump,root@mid:2201

Host mid
  HostName 10.0.5.5
  ProxyJump elsewhere

Host piped
  HostName 10.2.0.7
  User piper
  ProxyCommand nc -X connect -x proxy:3128 %h %p %r %n %%

Host both
  ProxyCommand socat - TCP:%h:%p
  ProxyJump jump
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config"
    path.write_text(CONFIG)
    return sshconfig.load(str(path))


def test_an_alias_gives_its_hostname_user_port_key_and_jump(config, monkeypatch):
    end = sshconfig.resolve("edge1", config)
    assert (end.hostname, end.user, end.port) == ("10.0.0.11", "admin", 2222)
    assert end.identity_files[0].endswith("/.ssh/edge_key") and "~" not in end.identity_files[0]
    assert end.jumps == (Hop("jump"),) and end.proxy_command is None
    assert end.where == "admin@10.0.0.11:2222"


def test_a_name_the_file_does_not_know_is_itself_with_defaults(config):
    end = sshconfig.resolve("10.9.9.9", config)
    assert (end.hostname, end.user, end.port, end.jumps) == ("10.9.9.9", getpass.getuser(), 22, ())
    assert sshconfig.resolve("h", None).hostname == "h"  # no config at all


def test_the_run_s_user_port_and_bastion_win_over_the_file(config):
    end = sshconfig.resolve("edge1", config, user="root", port=22, bastion=[Hop("b1", "ops", 2022)])
    assert (end.hostname, end.user, end.port) == ("10.0.0.11", "root", 22)  # HostName still the file's
    assert end.jumps == (Hop("b1", "ops", 2022),)
    # A bastion wins over a ProxyCommand too, and `none` goes direct (as ssh -J none).
    assert sshconfig.resolve("piped", config, bastion=[Hop("b1")]).proxy_command is None
    assert sshconfig.resolve("edge1", config, bastion=[]).jumps == ()


def test_proxyjump_parses_into_hops():
    assert sshconfig.parse_jumps("a,ops@b:2201, ssh://c:22,[fd00::1]:2222") == [
        Hop("a"), Hop("b", "ops", 2201), Hop("c", None, 22), Hop("fd00::1", None, 2222)]
    assert sshconfig.parse_jumps(["a", "b,c"]) == [Hop("a"), Hop("b"), Hop("c")]
    assert sshconfig.parse_jumps("none") == [] and sshconfig.parse_jumps(None) is None
    assert str(Hop("fd00::1", "u", 22)) == "u@[fd00::1]:22"
    for bad in ("a,,b", "a b", "a:99999", "a;rm -rf /", "", "a:"):
        with pytest.raises(BadInput, match="give \\[user@\\]host\\[:port\\]"):
            sshconfig.parse_jumps(bad, "--ssh-bastion")


def test_the_hops_are_each_resolved_through_the_file_the_first_with_its_own_proxy(config):
    end = sshconfig.resolve("inner", config)
    first, second = sshconfig.route(end, config)
    assert (first.hostname, first.user, first.port) == ("bastion.example.com", "hopper", 2200)
    # The second hop: the user and port written in the jump win; its own ProxyJump gives way to the chain.
    assert (second.hostname, second.user, second.port, second.jumps) == ("10.0.5.5", "root", 2201, ())


def test_proxycommand_tokens_are_the_values_in_effect(config):
    end = sshconfig.resolve("piped", config)
    assert end.proxy_command == "nc -X connect -x proxy:3128 10.2.0.7 22 piper piped %"
    given = sshconfig.resolve("piped", config, user="root", port=2022)
    assert given.proxy_command == "nc -X connect -x proxy:3128 10.2.0.7 2022 root piped %"
    # Where a host's config gives both, the ProxyCommand is taken.
    assert sshconfig.resolve("both", config).jumps == ()


def test_expand_refuses_a_token_openssh_would_not_expand():
    assert sshconfig.expand("x %h:%p %r %n %%h", "a", 1, "u", "n") == "x a:1 u n %h"
    for bad in ("x %z", "x %"):
        with pytest.raises(BadInput, match="unknown token"):
            sshconfig.expand(bad, "a", 1, "u", "n")


def test_a_missing_file_is_none_unless_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sshconfig.load(None) is None
    with pytest.raises(BadInput, match="not found"):
        sshconfig.load(str(tmp_path / "nope"))


def test_include_is_followed(tmp_path):
    (tmp_path / "more").write_text("Host extra\n  HostName 10.7.7.7\n")
    (tmp_path / "config").write_text(f"Include {tmp_path / 'more'}\n")
    assert sshconfig.resolve("extra", sshconfig.load(str(tmp_path / "config"))).hostname == "10.7.7.7"


def test_a_proxycommand_runs_through_the_user_s_shell(monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/sh")
    proxy = ShellProxy("echo $((40 + 2)); cat >/dev/null")  # shell syntax: no shell, no 42
    try:
        proxy.settimeout(5)
        assert proxy.recv(3) == b"42\n"
        assert proxy.cmd == ["/bin/sh", "-c", "exec echo $((40 + 2)); cat >/dev/null"]
    finally:
        proxy.close()
    proxy.close()  # its command ended: closed again, quietly


def test_bastion_data_is_checked_as_input():
    datakeys.check_data({"ssh_bastion": "ops@b:2200,c"}, "host h")
    datakeys.check_set("ssh_bastion")
    datakeys.check_set("ssh_config_file")
    for bad in ("a b", 5):
        with pytest.raises(BadInput, match="ssh_bastion"):
            datakeys.check_data({"ssh_bastion": bad}, "host h")


HOP = sshconfig.Endpoint("b", "127.0.0.1", 2200, "root")
ENDPOINT = sshconfig.Endpoint("edge1", "10.0.0.11", 22, "root", jumps=(Hop("b"),))
HOST = SimpleNamespace(name="edge1", data={}, connector=SimpleNamespace(endpoint=ENDPOINT),
                       state=SimpleNamespace(config=SimpleNamespace(CONNECT_TIMEOUT=10)))


@pytest.mark.parametrize("cause, why", [
    (BastionError(HOP, paramiko.ssh_exception.NoValidConnectionsError(
        {("127.0.0.1", 2200): OSError(111, "refused")})),
     "bastion root@127.0.0.1:2200: connection refused (127.0.0.1:2200): check the port, and that sshd runs there"),
    (BastionError(HOP, paramiko.AuthenticationException("no")),
     "bastion root@127.0.0.1:2200: authentication failed for root (127.0.0.1:2200): check --ssh-user and --ssh-key"),
    (BastionError(HOP, socket.timeout()), "bastion root@127.0.0.1:2200: no answer within 10 s (127.0.0.1:2200): "
                                      "check the address, and that no firewall drops port 2200"),
    (BastionError(HOP, paramiko.ChannelException(2, "Connect failed"), ENDPOINT),
     "bastion root@127.0.0.1:2200 could not open the way to 10.0.0.11:22 (Connect failed)"),
    (paramiko.AuthenticationException("no"),  # the host itself, named as resolved through the config
     "authentication failed for root (10.0.0.11:22): check --ssh-user and --ssh-key"),
])
def test_a_failed_bastion_is_named_in_one_line(cause, why):
    assert connect_problem(HOST, raised(cause)) == why


def test_a_project_file_cannot_give_a_proxycommand(tmp_path):
    from harmony import project

    path = tmp_path / "harmony.yaml"
    path.write_text("ssh:\n  proxy_command: nc %h %p\n")
    with pytest.raises(BadInput, match="never gives a command to run on this machine") as refused:
        project.load(path)
    assert "\n" not in str(refused.value) and refused.value.exit_code == 2
    path.write_text("ssh:\n  bastion: [ops@b1, b2:2200]\n")
    assert project.load(path).ssh["bastion"] == ["ops@b1", "b2:2200"]


def test_connect_timeout_is_the_file_s_for_the_host_and_each_hop(tmp_path):
    path = tmp_path / "config"
    path.write_text("Host slow\n  HostName 10.0.0.9\n  ConnectTimeout 45\n  ProxyJump hop\n"
                    "Host hop\n  ConnectTimeout 20\nHost plain\n  HostName 10.0.0.8\n")
    config = sshconfig.load(str(path))
    slow = sshconfig.resolve("slow", config)
    assert slow.connect_timeout == 45
    assert [hop.connect_timeout for hop in sshconfig.route(slow, config)] == [20]
    assert sshconfig.resolve("plain", config).connect_timeout is None  # the run's own (pyinfra's 10 s)
    host = SimpleNamespace(name="slow", data={}, connector=SimpleNamespace(endpoint=slow),
                           state=SimpleNamespace(config=SimpleNamespace(CONNECT_TIMEOUT=10)))
    stalled = paramiko.SSHException("No existing session")
    assert connect_problem(host, raised(stalled)) == "no SSH answer within 45 s (10.0.0.9:22)"
    for given, seconds in (("5s", 5), ("1m30s", 90), ("2M", 120), ("0", None)):  # OpenSSH's time format
        path.write_text(f"Host slow\n  ConnectTimeout {given}\n")
        assert sshconfig.resolve("slow", sshconfig.load(str(path))).connect_timeout == seconds, given
    path.write_text("Host slow\n  ConnectTimeout soon\n")
    with pytest.raises(BadInput, match=r"ConnectTimeout 'soon' for slow: give seconds, as 30 or 1m30s"):
        sshconfig.resolve("slow", sshconfig.load(str(path)))


def test_the_connector_gives_paramiko_the_file_s_connect_timeout(tmp_path):
    from pyinfra.api import Config, Inventory, State
    from harmony.sshconnect import Connector

    path = tmp_path / "config"
    path.write_text("Host slow\n  HostName 127.0.0.1\n  ConnectTimeout 45\nHost plain\n  HostName 127.0.0.1\n")
    inventory = Inventory(([("slow", {"ssh_config_file": str(path)}),
                            ("plain", {"ssh_config_file": str(path)})], {}))
    state = State(inventory, Config())
    timeouts = {name: Connector(state, inventory.get_host(name)).make_paramiko_kwargs()["timeout"]
                for name in ("slow", "plain")}
    assert timeouts == {"slow": 45, "plain": Config().CONNECT_TIMEOUT}
