"""Which rules each firewall gets, decided from the fact's report (pure logic; the e2e tests run
ufw and nftables for real)."""

import subprocess

from harmony.k3s.facts import parse
from harmony.k3s import firewall
from harmony.k3s.firewall import Firewall, NftChain

SERVER_HA = firewall.openings("server", True, {})
AGENT = firewall.openings("agent", False, {})


def test_openings_follow_role_ha_and_the_clusters_networks():
    assert SERVER_HA == firewall.Openings(("6443", "10250", "2379-2380"), ("8472",), ("10.42.0.0/16", "10.43.0.0/16"))
    assert firewall.openings("server", False, {}).tcp == ("6443", "10250")
    assert AGENT.tcp == ("10250",)
    custom = firewall.openings("agent", False, {"cluster-cidr": "10.1.0.0/16,fd00:1::/56", "service-cidr": "10.2.0.0/16"})
    assert custom.sources == ("10.1.0.0/16", "fd00:1::/56", "10.2.0.0/16")
    assert firewall.openings("server", False, {"https-listen-port": 7443}).tcp[0] == "7443"


def test_ufw_gets_only_the_rules_it_lacks_and_down_removes_only_harmonys():
    rules = firewall.ufw_rules(SERVER_HA)
    assert "ufw allow 2379:2380/tcp comment 'k3s (harmony)'" in rules
    assert "ufw allow from 10.42.0.0/16 comment 'k3s (harmony)'" in rules
    present = Firewall("ufw", {*rules[1:], "ufw allow 22/tcp"})
    assert firewall.open_commands(present, SERVER_HA) == [f"{rules[0]} >/dev/null"]
    assert firewall.open_commands(Firewall("ufw", set(rules)), SERVER_HA) == []
    closing = firewall.close_commands(present)
    assert "ufw delete allow 2379:2380/tcp >/dev/null" in closing and len(closing) == len(rules) - 1


def test_firewalld_gets_permanent_ports_and_trusted_sources_then_a_reload():
    present = Firewall("firewalld", {"port 10250/tcp", "port 8472/udp", "source 10.42.0.0/16"})
    assert firewall.open_commands(present, AGENT) == [
        "firewall-cmd --permanent --zone=trusted --add-source=10.43.0.0/16 >/dev/null",
        "firewall-cmd --reload >/dev/null"]
    assert firewall.open_commands(Firewall("firewalld", present.rules | {"source 10.43.0.0/16"}), AGENT) == []
    assert firewall.close_commands(present) == []  # firewalld keeps no owner: the ports stay


def test_an_nftables_chain_needs_rules_only_where_it_drops():
    assert NftChain(policy="drop").blocks
    assert NftChain(last_rule="drop").blocks and NftChain(last_rule="reject with icmpx admin-prohibited").blocks
    assert not NftChain(last_rule="ct state invalid drop").blocks
    assert not NftChain(last_rule="jump KUBE-FIREWALL").blocks
    fw = Firewall("nftables", chains={"inet filter input": NftChain(policy="drop"),
                                      "ip k3s INPUT": NftChain(last_rule="jump KUBE-FIREWALL")})
    assert firewall.blocking_chains(fw) == ["inet filter input"]
    assert firewall.nft_missing(fw, AGENT) == ["inet filter input"]


def test_nftables_rules_are_recognised_by_their_tag_and_replaced_when_they_differ():
    rules = firewall.nft_rules(SERVER_HA, "inet")
    assert rules[0].startswith("tcp dport { 6443, 10250, 2379-2380 } accept comment \"k3s (harmony) ")
    assert any(r.startswith("ip saddr { 10.42.0.0/16, 10.43.0.0/16 } accept") for r in rules)
    assert not any("saddr" in r for r in firewall.nft_rules(SERVER_HA, "ip6"))  # IPv4 networks only
    tag = rules[0].split('"')[1]
    current = NftChain(policy="drop", marked={str(h): tag for h in range(len(rules))})
    assert firewall.nft_missing(Firewall("nftables", chains={"inet filter input": current}), SERVER_HA) == []
    # An agent's rules differ: the server's are stale there.
    assert firewall.nft_missing(Firewall("nftables", chains={"inet filter input": current}), AGENT)
    assert firewall.close_commands(Firewall("nftables", chains={"inet filter input": current}))[0] == \
        "nft delete rule inet filter input handle 0"


def test_the_nftables_script_is_valid_shell():
    script = firewall.nft_script(SERVER_HA, ["inet filter input", "ip filter INPUT"])
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert "open_chain inet filter input 'tcp dport" in script


def test_the_fact_reports_the_firewall():
    ufw = parse(["firewall\tufw", "fw_rule\tufw allow 6443/tcp comment 'k3s (harmony)'"])
    assert ufw.firewall.kind == "ufw" and ufw.firewall.rules == {"ufw allow 6443/tcp comment 'k3s (harmony)'"}
    nft = parse(["firewall\tnftables", "nft_chain\tinet filter input\tdrop\tdrop",
                 "nft_mark\tinet filter input\t6\tk3s (harmony) abc"])
    assert nft.firewall.chains == {"inet filter input": NftChain("drop", "drop", {"6": "k3s (harmony) abc"})}
    assert parse([]).firewall.kind == ""
