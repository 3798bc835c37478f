"""Inventories of pyinfra `@fake` hosts that answer harmony's host fact with a scripted state.

pyinfra's own planner and runner then run the real deploy over them: good for what a run's
order and results are, never proof of what a host does (the e2e suite's real hosts are).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = "v1.31.4+k3s1"


def fact_output(name: str, running: bool) -> list[str]:
    """What harmony's K3sHost fact prints for a Debian host, with k3s running or not."""
    lines = ["arch\tx86_64", f"hostname\t{name}", "uid\t0", "init\tsystemd",
             "module\tbr_netfilter", "module\toverlay", "command\tcurl\t/usr/bin/curl"]
    lines += [f"sysctl\t{key}\t1" for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables",
                                              "net.bridge.bridge-nf-call-ip6tables")]
    if running:
        unit = "k3s" if name.startswith("s") else "k3s-agent"
        lines += [f"version\tk3s version {VERSION} (abc)", f"unitprop\tId={unit}.service",
                  "unitprop\tLoadState=loaded", "unitprop\tActiveState=active", "unitprop\tUnitFileState=enabled",
                  "unitprop\tActiveEnterTimestamp=@100",
                  "filestat\t/etc/rancher/k3s/config.yaml\t600\t50",  # not what harmony writes
                  f"filesum\t/etc/rancher/k3s/config.yaml\t{'0' * 64}",
                  "filestat\t/var/lib/rancher/k3s/server/token\t600\t50", f"filesum\t/var/lib/rancher/k3s/server/token\t{'1' * 64}"]
    return lines


def inventory(tmp_path: Path, servers: list[str], agents: list[str], running: bool,
              responses: dict[str, dict] | None = None) -> Path:
    """An inventory file of fake servers and agents, installing k3s from an airgap bundle of its
    own (nothing to download); `responses` scripts more commands, per host name."""
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "VERSION").write_text(VERSION + "\n")
    (bundle / "k3s").write_bytes(b"k3s stand-in bytes")
    digest = hashlib.sha256(b"k3s stand-in bytes").hexdigest()
    (bundle / "sha256sum-amd64.txt").write_text(f"{digest}  k3s\n")

    def entry(name: str) -> str:
        scripted = {**(responses or {}).get(name, {}), "printf 'arch": fact_output(name, running)}
        data = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": scripted, "k3s_airgap_dir": str(bundle),
                "k3s_version": VERSION, "k3s_node_labels": {"order": "test"}}
        return f"({f'@fake/{name}'!r}, {data!r})"

    path = tmp_path / "inventory.py"
    path.write_text(f"k3s_servers = [{', '.join(map(entry, servers))}]\n"
                    f"k3s_agents = [{', '.join(map(entry, agents))}]\n")
    return path
