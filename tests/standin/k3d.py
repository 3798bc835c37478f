#!/usr/bin/env python3
"""STAND-IN for the k3d binary, for harmony's tests only. Never shipped, never called by harmony.

The real k3d cannot be downloaded here (no internet). This script follows the parts of k3d's
contract that harmony uses, and really runs the cluster in Docker:

- `k3d version` prints k3d's two lines;
- `k3d cluster create --config FILE` reads a `k3d.io/v1alpha5` `Simple` config (name, servers,
  agents, image, kubeAPI host IP and port, k3s extra args, token) and starts one container per
  node from the config's image (`rancher/k3s:<tag>`, which the tests build locally around the
  stand-in k3s), on a network `k3d-<name>`, with k3d's labels; it returns once the first server
  logs that k3s is up, as k3d waits for. Unlike k3d, the API port is published by the first
  server itself, not by a load-balancer container;
- `k3d cluster list -o json` lists clusters with their nodes and running counts (no token);
- `k3d node create NAME --cluster C --role agent --image I` adds an agent container `k3d-NAME-0`,
  and `k3d node delete NODE` removes one, as k3d names and removes them;
- `k3d cluster start NAME` starts a cluster's stopped containers, servers first;
- `k3d cluster delete NAME` removes a cluster's containers and network;
- `k3d kubeconfig get NAME` prints the cluster's kubeconfig, named `k3d-<name>`, pointing at
  the published API port.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import yaml

VERSION = "v0.0.0"  # replaced by the mirror with the version it serves
K3S_DEFAULT = "v1.31.4-k3s1"


def fail(message: str) -> None:
    print(f"FATA[0000] {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        fail(f"docker {args[0]}: {result.stderr.strip()}")
    return result.stdout.strip()


def containers(cluster: str | None = None) -> list[dict]:
    label = f"k3d.cluster={cluster}" if cluster else "k3d.cluster"
    ids = docker("ps", "-aq", "--filter", "label=app=k3d", "--filter", f"label={label}").split()
    return json.loads(docker("inspect", *ids)) if ids else []


def list_clusters() -> list[dict]:
    clusters: dict[str, dict] = {}
    for c in containers():
        labels = c["Config"]["Labels"]
        cluster = clusters.setdefault(labels["k3d.cluster"], {
            "name": labels["k3d.cluster"], "network": {"name": f"k3d-{labels['k3d.cluster']}"},
            "nodes": [], "serversCount": 0, "serversRunning": 0, "agentsCount": 0, "agentsRunning": 0,
        })
        role, running = labels["k3d.role"], c["State"]["Running"]
        cluster["nodes"].append({
            "name": c["Name"].lstrip("/"), "role": role, "image": c["Config"]["Image"],
            "runtimeLabels": labels,
            "State": {"Running": running, "Status": c["State"]["Status"], "Started": c["State"]["StartedAt"]},
        })
        cluster[f"{role}sCount"] += 1
        cluster[f"{role}sRunning"] += int(running)
    return sorted(clusters.values(), key=lambda c: c["name"])


def create(config_path: str) -> None:
    with open(config_path) as f:
        config = yaml.safe_load(f)
    if config.get("apiVersion") != "k3d.io/v1alpha5" or config.get("kind") != "Simple":
        fail(f"{config_path}: not a k3d.io/v1alpha5 Simple config")
    name = config["metadata"]["name"]
    if containers(name):
        fail(f"Failed to create cluster '{name}' because a cluster with that name already exists")
    image = config.get("image") or f"rancher/k3s:{K3S_DEFAULT}"
    api = config.get("kubeAPI", {})
    host_ip, host_port = api.get("hostIP", "0.0.0.0"), str(api.get("hostPort", "6443"))
    token = config.get("token") or "k3d-standin-token"
    extra = [a["arg"] for a in config.get("options", {}).get("k3s", {}).get("extraArgs", [])]
    network = f"k3d-{name}"
    docker("network", "create", "--label", "app=k3d", network)
    labels = ["--label", "app=k3d", "--label", f"k3d.cluster={name}"]
    server0 = f"k3d-{name}-server-0"
    for i in range(int(config.get("servers", 1))):
        node = f"k3d-{name}-server-{i}"
        ports = ["-p", f"{host_ip}:{host_port}:6443"] if i == 0 else []
        join = ["--cluster-init"] if i == 0 and int(config.get("servers", 1)) > 1 else \
            ([] if i == 0 else ["--server", f"https://{server0}:6443"])
        docker("run", "-d", "--name", node, "--hostname", node, "--network", network, *labels,
               "--label", "k3d.role=server", *ports, "-e", f"K3S_TOKEN={token}", image,
               "server", "--tls-san", host_ip, "--tls-san", "127.0.0.1", *join, *extra)
        wait_for_log(node, "is up and running")
    for i in range(int(config.get("agents", 0))):
        start_agent(name, f"k3d-{name}-agent-{i}", image, token)
    print(f"INFO[0000] Cluster '{name}' created successfully!", file=sys.stderr)


def start_agent(cluster: str, node: str, image: str, token: str) -> None:
    docker("run", "-d", "--name", node, "--hostname", node, "--network", f"k3d-{cluster}",
           "--label", "app=k3d", "--label", f"k3d.cluster={cluster}", "--label", "k3d.role=agent",
           "-e", f"K3S_URL=https://k3d-{cluster}-server-0:6443", "-e", f"K3S_TOKEN={token}", image, "agent")
    wait_for_log(node, "joined")


def node_create(name: str, cluster: str, image: str) -> None:
    servers = [c for c in containers(cluster) if c["Name"].lstrip("/") == f"k3d-{cluster}-server-0"]
    if not servers:
        fail(f"Failed to find cluster '{cluster}'")
    env = dict(item.split("=", 1) for item in servers[0]["Config"]["Env"])
    start_agent(cluster, f"k3d-{name}-0", image or servers[0]["Config"]["Image"], env["K3S_TOKEN"])
    print("INFO[0000] Successfully created 1 node(s)!", file=sys.stderr)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else ""


def wait_for_log(node: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = subprocess.run(["docker", "logs", node], capture_output=True, text=True, timeout=30)
        if text in logs.stdout + logs.stderr:
            return
        if "level=fatal" in logs.stderr:
            fail(f"node {node} failed: {logs.stderr.strip().splitlines()[-1]}")
        time.sleep(0.5)
    fail(f"node {node} not ready after {timeout:.0f}s")


def start(name: str) -> None:
    nodes = sorted(containers(name), key=lambda c: c["Config"]["Labels"]["k3d.role"] != "server")
    if not nodes:
        fail(f"No nodes found for cluster '{name}'")
    for node in nodes:
        if not node["State"]["Running"]:
            docker("start", node["Id"])
    print(f"INFO[0000] Started cluster '{name}'", file=sys.stderr)


def delete(name: str) -> None:
    ids = [c["Id"] for c in containers(name)]
    if ids:
        docker("rm", "-f", *ids)
    docker("network", "rm", f"k3d-{name}", check=False)
    print(f"INFO[0000] Successfully deleted cluster {name}!", file=sys.stderr)


def kubeconfig(name: str) -> None:
    nodes = [c for c in containers(name) if c["Name"].lstrip("/") == f"k3d-{name}-server-0"]
    if not nodes:
        fail(f"Failed to get cluster '{name}': No nodes found for given cluster")
    binding = nodes[0]["HostConfig"]["PortBindings"]["6443/tcp"][0]
    config = yaml.safe_load(docker("exec", nodes[0]["Id"], "cat", "/etc/rancher/k3s/k3s.yaml"))
    context = f"k3d-{name}"
    config["clusters"][0].update(name=context)
    config["clusters"][0]["cluster"]["server"] = f"https://{binding['HostIp']}:{binding['HostPort']}"
    config["users"][0]["name"] = f"admin@{context}"
    config["contexts"] = [{"name": context, "context": {"cluster": context, "user": f"admin@{context}"}}]
    config["current-context"] = context
    print(yaml.safe_dump(config), end="")


def main(argv: list[str]) -> None:
    if argv[:1] == ["version"]:
        print(f"k3d version {VERSION}\nk3s version {K3S_DEFAULT} (default)")
    elif argv[:2] == ["cluster", "list"] and "json" in argv:
        print(json.dumps(list_clusters()))
    elif argv[:2] == ["cluster", "create"] and "--config" in argv:
        create(argv[argv.index("--config") + 1])
    elif argv[:2] == ["node", "create"] and len(argv) > 2 and option(argv, "--role") == "agent":
        node_create(argv[2], option(argv, "--cluster"), option(argv, "--image"))
    elif argv[:2] == ["node", "delete"] and len(argv) > 2:
        docker("rm", "-f", argv[2])
    elif argv[:2] == ["cluster", "start"] and len(argv) > 2:
        start(argv[2])
    elif argv[:2] == ["cluster", "delete"] and len(argv) > 2:
        delete(argv[2])
    elif argv[:2] == ["kubeconfig", "get"] and len(argv) > 2:
        kubeconfig(argv[2])
    else:
        fail(f"stand-in k3d does not implement '{' '.join(argv)}'")


if __name__ == "__main__":
    main(sys.argv[1:])
