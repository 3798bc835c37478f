"""Active firewalls get k3s's ports opened, and nothing else: ufw, and a plain nftables ruleset that
drops. (firewalld is covered by unit tests only: it does not run in these containers.)"""

from __future__ import annotations

from tests.e2e.conftest import write_inventory
from tests.e2e.test_multi_node import nodes, ready, summary

UFW = "ufw default deny incoming >/dev/null && ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null"
NFT_RULESET = """flush ruleset
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iif lo accept
        tcp dport 22 accept
    }
}
"""


def reachable(client, url: str) -> bool:
    """Whether `client` gets any HTTP answer from `url` within 3 s (a dropped packet gets none)."""
    code = client.sh(f"curl -sk --max-time 3 -o /dev/null -w '%{{http_code}}' {url}", check=False, timeout=30)
    return code not in ("", "000")


def test_ufw_opens_k3s_ports_only_and_down_removes_its_rules(harmony, start_host, tmp_path):
    server, agent = start_host(), start_host()
    for host in (server, agent):
        host.sh(UFW)
    # Something else listening on the server stays closed to the agent: the firewall filters.
    server.sh("(nohup python3 -m http.server 7000 >/dev/null 2>&1 &)")
    assert not reachable(agent, f"http://{server.ip}:7000/")

    inventory = write_inventory(tmp_path / "fw.py", servers={"s1": (server, {"k3s_node_name": "s1"})},
                                agents={"a1": (agent, {"k3s_node_name": "a1"})})
    first = harmony.up_cluster(inventory, server)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Open k3s's ports in ufw" in summary(first)["s1"]
    listed = nodes(harmony)
    assert sorted(listed) == ["a1", "s1"] and all(ready(n) for n in listed.values())
    assert reachable(agent, f"https://{server.ip}:6443/ping")
    assert not reachable(agent, f"http://{server.ip}:7000/")
    added = server.sh("ufw show added")
    assert "ufw allow 6443/tcp comment 'k3s (harmony)'" in added and "ufw allow 8472/udp" in added
    assert "6443" not in agent.sh("ufw show added")  # an agent serves no API

    again = harmony.up_cluster(inventory, server)
    assert again.returncode == 0, again.stderr
    assert summary(again) == {} and "2 hosts: 0 changed, 2 unchanged, 0 failed" in again.stdout

    down = harmony("down", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    for host in (server, agent):
        assert "harmony" not in host.sh("ufw show added") and "ufw allow 22/tcp" in host.sh("ufw show added")


def test_nftables_gets_k3s_ports_at_each_start_of_k3s_and_down_removes_them(harmony, start_host):
    host, client = start_host(), start_host()
    host.write("/etc/nftables.conf", NFT_RULESET)
    host.sh("nft -f /etc/nftables.conf && (nohup python3 -m http.server 7000 >/dev/null 2>&1 &)")
    assert not reachable(client, f"http://{host.ip}:7000/")

    first = harmony.up(host)
    assert first.returncode == 0, first.stdout + first.stderr  # the controller reached the API
    assert "Open k3s's ports in nftables" in first.stdout
    chain = host.sh("nft list chain inet filter input")
    assert chain.count('comment "k3s (harmony)') == 3 and "tcp dport 22 accept" in chain
    assert "ExecStartPre=/usr/local/bin/k3s-firewall.sh" in host.sh("cat /etc/systemd/system/k3s.service")
    assert reachable(client, f"https://{host.ip}:6443/ping") and not reachable(client, f"http://{host.ip}:7000/")
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in harmony.up(host).stdout

    # The ruleset loaded anew (as at boot): k3s's start opens its ports again, once.
    host.sh("nft -f /etc/nftables.conf && systemctl restart k3s")
    assert host.sh("nft list chain inet filter input").count('comment "k3s (harmony)') == 3
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in harmony.up(host).stdout

    down = harmony("down", host.target, "--ssh-key", str(harmony.ssh_key), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    chain = host.sh("nft list chain inet filter input")
    assert "harmony" not in chain and "tcp dport 22 accept" in chain
    assert not host.exists("/usr/local/bin/k3s-firewall.sh")
