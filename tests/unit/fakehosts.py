"""Inventories of pyinfra `@fake` hosts that answer harmony's host fact with a scripted state.

pyinfra's own planner and runner then run the real deploy over them: good for what a run's
order and results are, never proof of what a host does (the e2e suite's real hosts are).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = "v1.31.4+k3s1"
BINARY = b"k3s stand-in bytes"  # the airgap bundle's k3s


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


def in_place(path: str, content: bytes, mode: str) -> list[str]:
    """The host fact's lines for a file the host has."""
    return [f"filestat\t{path}\t{mode}\t50", f"filesum\t{path}\t{hashlib.sha256(content).hexdigest()}"]


def inventory(tmp_path: Path, servers: list[str], agents: list[str], running: bool,
              responses: dict[str, dict] | None = None, facts: dict[str, list[str]] | None = None) -> Path:
    """An inventory file of fake servers and agents, installing k3s from an airgap bundle of its
    own (nothing to download); `responses` scripts more commands, `facts` more lines of the host
    fact's answer, per host name."""
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "VERSION").write_text(VERSION + "\n")
    (bundle / "k3s").write_bytes(BINARY)
    digest = hashlib.sha256(BINARY).hexdigest()
    (bundle / "sha256sum-amd64.txt").write_text(f"{digest}  k3s\n")

    def entry(name: str) -> str:
        scripted = {**(responses or {}).get(name, {}),
                    "printf 'arch": fact_output(name, running) + (facts or {}).get(name, [])}
        data = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": scripted, "k3s_airgap_dir": str(bundle),
                "k3s_version": VERSION, "k3s_node_labels": {"order": "test"}}
        return f"({f'@fake/{name}'!r}, {data!r})"

    path = tmp_path / "inventory.py"
    path.write_text(f"k3s_servers = [{', '.join(map(entry, servers))}]\n"
                    f"k3s_agents = [{', '.join(map(entry, agents))}]\n")
    return path


def run(tmp_path: Path, inventory_path: Path, dry: bool, data: str = "{}", deploy: str = "harmony.k3s.deploy.up") -> dict:
    """harmony's runner, in a process of its own (patched by gevent, as harmony's is), running
    `deploy` (the k3s deploy; a module of `tmp_path` may be named too) over the fake hosts of
    `inventory_path` with the run's `data` (a Python expression): {"hosts": {host: its
    HostResult as a dict}, "phases": the phase counts}."""
    script = ("from gevent import monkey; monkey.patch_all()\n"
              "import dataclasses, json, sys\n"
              "from harmony import runner, targets\n"
              "from harmony.k3s.cluster import Cluster\n"
              "from harmony.resolved import Resolved, Unknown\n"
              f"sys.path.append({str(tmp_path)!r})\n"
              f"result = runner.run(targets.resolve(sys.argv[1]), {deploy!r},"
              f" runner.RunOptions(data={data}), dry=sys.argv[2] == 'dry', quiet=True)\n"
              "print(json.dumps({'hosts': {n: dataclasses.asdict(h) for n, h in result.hosts.items()},"
              " 'phases': [dataclasses.asdict(c) for c in result.phase_counts()]}))\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script, str(inventory_path), "dry" if dry else "apply"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
