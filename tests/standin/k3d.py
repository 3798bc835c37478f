#!/usr/bin/env python3
"""STAND-IN for the k3d binary, for harmony's tests only. Never shipped, never called by harmony.

The real k3d cannot be downloaded here (no internet). This script follows the parts of k3d's
contract that harmony uses, and really runs the cluster in Docker:

- `k3d version` prints k3d's two lines;
- `k3d cluster create --config FILE` reads a `k3d.io/v1alpha5` `Simple` config (name, servers,
  agents, image, kubeAPI host IP and port, k3s extra args, token) and runs one container per
  node from the config's image (`rancher/k3s:<tag>`, which the tests build locally around the
  stand-in k3s), on a network `k3d-<name>` (one of that name already there is re-used and
  labelled external, as k3d's ClusterPrepNetwork does; `cluster delete` then keeps it), with
  k3d's labels. As k3d v5.7.4's ClusterRun, it first creates every node's container (none
  started), then starts the servers one by one, each waited for until k3s is up, then the
  agents, then puts host.k3d.internal in. Unlike k3d, the API port is published by the first
  server itself, not by a load-balancer container;
- a create killed midway (SIGTERM, SIGINT) rolls nothing back: k3d installs no signal handler
  (cmd/cluster/clusterCreate.go rolls back only an error ClusterRun returns), so Go's default
  ends it where it is. What it made stays: the network, containers never started (Docker's
  state `created`), the servers it started, host.k3d.internal in no node. `cluster list` lists
  such a cluster as any (by its containers' labels), `cluster create` of its name fails as for
  any existing cluster, and `kubeconfig get` fails until its first server has run (k3s writes
  the kubeconfig when it starts);
- the config's `ports` (`[{port: "[IP:][HOSTPORT:]PORT[/PROTO]", nodeFilters: [loadbalancer]}]`,
  Docker's port syntax, which k3d parses with Docker's own `nat.ParsePortSpec`): real k3d
  publishes them from its load-balancer container `k3d-NAME-serverlb`, which forwards each to
  that port of every node; the stand-in publishes them from the first server's container, as it
  does the API port (node filters `loadbalancer` and `server:0` only; others are refused).
  Nothing listens behind them: the stand-in k3s runs no Traefik. Where Docker cannot publish a
  host port (another container publishes it: `Bind for IP:PORT failed: port is already
  allocated`; another program listens on it: `Error starting userland proxy: listen tcp4
  IP:PORT: bind: address already in use`), it fails as k3d v5.7.4 does when it starts its
  load balancer (pkg/client/cluster.go, cmd/cluster/clusterCreate.go): `ERRO Failed Cluster
  Start: Failed to add one or more helper nodes: runtime failed to start node
  'k3d-NAME-serverlb': docker failed to start container for node 'k3d-NAME-serverlb': <Docker's
  error>`, `ERRO Failed to create cluster >>> Rolling Back`, the cluster's containers and network
  deleted, then `FATA Cluster creation FAILED, all changes have been rolled back!`, exit 1;
- `k3d cluster list -o json` lists clusters with their nodes and running counts (no token);
- `k3d node create NAME --cluster C --role agent --image I` adds an agent container `k3d-NAME-0`,
  and `k3d node delete NODE` removes one, as k3d names and removes them;
- every node container gets the restart policy k3d gives it (`unless-stopped`): Docker starts it
  again when the engine comes back, on its own, unless it was stopped;
- host.k3d.internal (the cluster network's gateway, as k3d's GetHostIP finds it on Linux) goes
  into the /etc/hosts of each node that `cluster create`, `node create` and `cluster start` start,
  and of no other: Docker writes /etc/hosts anew at every start of a container, so a node Docker
  restarted by itself lacks it (k3d issue #1221);
- `k3d cluster start NAME` (pkg/client/cluster.go ClusterStart) starts a cluster's stopped
  containers: servers one by one in name order, each waited for until it logs that k3s is up
  after its start, then agents (waited for until they join), then the others; and
  `k3d cluster stop NAME` stops every container of the cluster;
- Not modelled: the load-balancer container `k3d-NAME-serverlb` (the API and the ports are
  published by the first server, above; its state would be read from `cluster list` as any
  container's; a create killed before it starts leaves it `created`, its config, which only the
  create writes, never in it), the tools node k3d starts to find the host's address (a killed
  create leaves it running), the image volume `k3d-NAME-images`, CoreDNS's NodeHosts (the
  stand-in k3s writes no CoreDNS manifest for k3d to rewrite), registries k3d creates, `subnet`
  and the static IPs it gives servers, `cluster start`'s `--timeout`, the agents started at
  once (one by one here);
- `k3d cluster delete NAME` removes a cluster's containers and the network its create made; a
  name with no containers is `nothing to delete`;
- `k3d kubeconfig get NAME` prints the cluster's kubeconfig, named `k3d-<name>`, pointing at
  the published API port, copied out of the first server's container (`docker cp`, as k3d's
  GetKubeconfig: a stopped server's too);
- with STANDIN_K3D_NO_REGISTRY set in its environment (a test's knob, not k3d's), every node
  container it starts is marked as reaching no registry (/etc/standin-no-registry, put in
  before k3s starts: the stand-in kubelet then runs only images its node holds);
- `k3d image import [-c|--cluster NAME]... [-m|--mode auto|direct|tools-node] IMAGE|TARBALL...`
  (alias `load`; flags anywhere, as cobra takes them) follows k3d v5.7.4's cmd/image and
  pkg/client/tools.go: every `--cluster` (default `k3s-default`) must have nodes, else `FATA
  failed to get cluster NAME: No nodes found for given cluster`, exit 1, before anything is
  imported; then per cluster `INFO Importing image(s) into cluster 'NAME'`. An argument that is
  a file is a tarball (taken as it is: a gzipped one is no tar to containerd), else an image of
  the host's Docker (by name, `:latest` added), else `WARN Image 'X' is not a file and couldn't
  be found in the container runtime`; none left is `no valid images specified`. Each goes into
  every server and agent container of the cluster (stopped ones too, which fail), by
  `docker exec -i NODE k3s ctr image import --all-platforms -` fed the tarball (or `docker
  save`), into the stand-in k3s's containerd, which records it per node and reports it in the
  Node's status.images. Mode `direct` (and `auto` with a local Docker) returns a node's failure:
  `ERRO Failed to import image(s) into cluster 'NAME': ... failed to import images in node
  'NODE': Exec process in node 'NODE' failed with exit code 'N'...`, then `WARN At least one
  error occured...` and exit 1; success ends `INFO Successfully imported N image(s) into M
  cluster(s)`. Mode `tools-node` (k3d's default) needs the tools image
  (ghcr.io/k3d-io/k3d-tools:VERSION): without it, it fails as k3d does where it cannot pull it;
  with it, a node's failed import is only logged and the exit is 0 (k3d issue #1072). `-`
  (stdin) imports, and then fails whatever happened, as v5.7.4 does (`failed to load image to
  cluster from stdin: <nil>`). INFO lines go to stdout, WARN and worse to stderr, as k3d's
  logger hooks send them. Not modelled: the tools container and its shared volume (tools-node
  imports as direct does, but for the exit), the concurrent imports into the nodes, `docker
  save` of several images as one stream (one each here), `--keep-tarball`, `--keep-tools`
  (taken, ignored), the real `ctr` link (the stand-in's rancher/k3s image has `k3s` alone, so
  `k3s ctr`: the same program), colours and timestamps in the log lines.
- it reaches Docker through the real docker CLI, so `DOCKER_HOST`, `DOCKER_CONTEXT` and the
  config's `currentContext` choose its engine as they choose real k3d's (v5.7.4,
  pkg/runtimes/docker/util.go: GetDockerClient initialises the docker CLI's own client). Not
  modelled: `DOCKER_SOCK` (the socket k3d mounts into its tools container: the stand-in runs none)
  and k3d's guess of the API's host from `DOCKER_HOST` where the API's host IP is 0.0.0.0.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time

import yaml

VERSION = "v0.0.0"  # replaced by the mirror with the version it serves
K3S_DEFAULT = "v1.31.4-k3s1"
# Set (to anything) in k3d's environment: the node containers are of a Docker host that reaches
# no registry, marked with the stand-in k3s's NO_REGISTRY file (a test's knob, not k3d's).
NO_REGISTRY_ENV = "STANDIN_K3D_NO_REGISTRY"
NO_REGISTRY = "/etc/standin-no-registry"
# k3d's label saying the cluster's network was there before it (re-used): delete then keeps it.
NETWORK_EXTERNAL = "k3d.cluster.network.external"
KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"  # where the stand-in k3s writes it (k3s's K3S_KUBECONFIG_OUTPUT: /output)


class PortTaken(Exception):
    """Docker could not publish a node's host port: Docker's error, as k3d shows it."""


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
    """k3d's ClusterRun: the network (an existing one of the name re-used, ClusterPrepNetwork),
    every node's container created (ClusterCreate: `docker create`, none started), then started
    (ClusterStart: the servers one by one, each waited for, then the agents), then
    host.k3d.internal. Like k3d, which handles no signal, a create killed midway rolls nothing
    back: what it made so far stays, never-started containers ("created") among it."""
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
    external = bool(docker("network", "ls", "-q", "--filter", f"name=^{network}$"))
    if external:
        warn("INFO", f"Re-using existing network '{network}'")
    else:
        docker("network", "create", "--label", "app=k3d", network)
    labels = ["--label", "app=k3d", "--label", f"k3d.cluster={name}",
              "--label", f"{NETWORK_EXTERNAL}={str(external).lower()}"]
    server0 = f"k3d-{name}-server-0"
    published = []
    for mapping in config.get("ports") or []:
        filters = mapping.get("nodeFilters") or ["loadbalancer"]
        if any(f not in ("loadbalancer", "server:0") for f in filters):
            fail(f"stand-in k3d does not implement the node filters {filters}")
        published += ["-p", str(mapping["port"])]
    servers = int(config.get("servers", 1))
    made = []
    for i in range(servers):
        node = f"k3d-{name}-server-{i}"
        ports = ["-p", f"{host_ip}:{host_port}:6443", *published] if i == 0 else []
        join = ["--cluster-init"] if i == 0 and servers > 1 else \
            ([] if i == 0 else ["--server", f"https://{server0}:6443"])
        made.append((node, "is up and running", create_node(
            "--name", node, "--hostname", node, "--network", network, *labels, "--label", "k3d.role=server",
            *ports, "-e", f"K3S_TOKEN={token}", image,
            "server", "--tls-san", host_ip, "--tls-san", "127.0.0.1", *join, *extra)))
    for i in range(int(config.get("agents", 0))):
        made.append(agent_node(name, f"k3d-{name}-agent-{i}", image, token, labels[-2:]))
    for node, ready, container in made:
        try:
            start_container("start", container)
        except PortTaken as error:
            roll_back(name, f"Failed Cluster Start: Failed to add one or more helper nodes: runtime failed to start "
                            f"node 'k3d-{name}-serverlb': docker failed to start container for node "
                            f"'k3d-{name}-serverlb': {error}")
        wait_for_log(node, ready)
    inject_host_alias(name, [node for node, _, _ in made])
    print(f"INFO[0000] Cluster '{name}' created successfully!", file=sys.stderr)


def agent_node(cluster: str, node: str, image: str, token: str, network_label: list[str]) -> tuple[str, str, str]:
    """An agent's container, created (not started): its name, the log line it is ready at, its ID."""
    return node, "joined", create_node(
        "--name", node, "--hostname", node, "--network", f"k3d-{cluster}", "--label", "app=k3d",
        "--label", f"k3d.cluster={cluster}", "--label", "k3d.role=agent", *network_label,
        "-e", f"K3S_URL=https://k3d-{cluster}-server-0:6443", "-e", f"K3S_TOKEN={token}", image, "agent")


def roll_back(name: str, error: str) -> None:
    """What k3d's cluster create does when a node fails to start: the cluster deleted, exit 1."""
    warn("ERRO", error)
    warn("ERRO", "Failed to create cluster >>> Rolling Back")
    warn("INFO", f"Deleting cluster '{name}'")
    delete(name)
    fail("Cluster creation FAILED, all changes have been rolled back!")


def start_container(*args: str) -> None:
    """`docker run -d ...` or `docker start ...`; PortTaken where Docker cannot publish a port."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if result.returncode == 0:
        return
    said = result.stderr.strip()
    if "port is already allocated" in said or "address already in use" in said:
        line = next(line for line in said.splitlines() if "Error response from daemon" in line)
        raise PortTaken(line.removeprefix("docker: ").rstrip("."))
    fail(f"docker {args[0]}: {said}")


def create_node(*args: str) -> str:
    """A node's container created, not started (`docker create ARGS`, as k3d's NodeCreate), with
    the restart policy k3d gives every node it creates (pkg/client/cluster.go: node.Restart;
    pkg/runtimes/docker/translate.go: `unless-stopped`), so that Docker starts it again when the
    engine comes back; where the tests ask for nodes that reach no registry (NO_REGISTRY_ENV),
    marked so before k3s starts. Its ID."""
    container = docker("create", "--restart", "unless-stopped", *args)
    if not os.environ.get(NO_REGISTRY_ENV):
        return container
    mark = io.BytesIO()
    with tarfile.open(fileobj=mark, mode="w") as tar:
        tar.addfile(tarfile.TarInfo(NO_REGISTRY.rpartition("/")[2]), io.BytesIO())
    copied = subprocess.run(["docker", "cp", "-", f"{container}:{NO_REGISTRY.rpartition('/')[0]}"],
                            input=mark.getvalue(), capture_output=True, timeout=60)
    if copied.returncode != 0:
        fail(f"docker cp: {copied.stderr.decode().strip()}")
    return container


def node_create(name: str, cluster: str, image: str) -> None:
    servers = [c for c in containers(cluster) if c["Name"].lstrip("/") == f"k3d-{cluster}-server-0"]
    if not servers:
        fail(f"Failed to find cluster '{cluster}'")
    env = dict(item.split("=", 1) for item in servers[0]["Config"]["Env"])
    external = servers[0]["Config"]["Labels"].get(NETWORK_EXTERNAL, "false")
    node, ready, container = agent_node(cluster, f"k3d-{name}-0", image or servers[0]["Config"]["Image"],
                                        env["K3S_TOKEN"], ["--label", f"{NETWORK_EXTERNAL}={external}"])
    start_container("start", container)
    wait_for_log(node, ready)
    inject_host_alias(cluster, [f"k3d-{name}-0"])
    print("INFO[0000] Successfully created 1 node(s)!", file=sys.stderr)


TOOLS_IMAGE = f"ghcr.io/k3d-io/k3d-tools:{VERSION.lstrip('v')}"
IMPORT_MODES = ("auto", "direct", "tools-node")


def info(message: str) -> None:
    print(f"INFO[0000] {message}", flush=True)  # k3d's logger: info and debug on stdout


def warn(level: str, message: str) -> None:
    print(f"{level}[0000] {message}", file=sys.stderr, flush=True)  # warnings and errors on stderr


class ImportFailed(Exception):
    """An error k3d's ImageImportIntoClusterMulti returns for a cluster."""


def image_import(argv: list[str]) -> None:
    """`k3d image import`: see the module's docstring."""
    clusters, mode, names = [], "tools-node", []
    flags = {"-c": "cluster", "--cluster": "cluster", "-m": "mode", "--mode": "mode"}
    args = iter(argv)
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in flags:
            value = value if eq else next(args, None)
            if value is None:
                print(f"Error: flag needs an argument: {name}", file=sys.stderr)
                sys.exit(1)
            if flags[name] == "cluster":
                clusters.append(value)
            else:
                mode = value
        elif arg in ("-k", "--keep-tarball", "-t", "--keep-tools"):
            continue
        elif arg.startswith("-") and arg != "-":
            print(f"Error: unknown flag: {name}", file=sys.stderr)
            sys.exit(1)
        else:
            names.append(arg)
    if not names:
        print("Error: requires at least 1 arg(s), only received 0", file=sys.stderr)
        sys.exit(1)
    nodes = {}
    for cluster in clusters or ["k3s-default"]:
        members = containers(cluster)
        if not members:
            fail(f"failed to get cluster {cluster}: No nodes found for given cluster")
        nodes[cluster] = [c for c in members if c["Config"]["Labels"]["k3d.role"] in ("server", "agent")]
    if mode not in IMPORT_MODES:
        fail(f"Unknown image loading mode '{mode}'")
    failed = False
    for cluster, members in nodes.items():
        info(f"Importing image(s) into cluster '{cluster}'")
        try:
            import_into(members, names, mode)
        except ImportFailed as error:
            warn("ERRO", f"Failed to import image(s) into cluster '{cluster}': {error}")
            failed = True
    if failed:
        warn("WARN", "At least one error occured while trying to import the image(s) into the selected cluster(s)")
        sys.exit(1)
    info(f"Successfully imported {len(names)} image(s) into {len(nodes)} cluster(s)")


def import_into(nodes: list[dict], names: list[str], mode: str) -> None:
    if names == ["-"]:
        error = stream_into(nodes, sys.stdin.buffer.read(), ["stdin"])
        raise ImportFailed(f"failed to load image to cluster from stdin: {error or '<nil>'}")
    tarballs = [n for n in names if os.path.isfile(n)]
    held = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    images = []
    for name in names:
        if name in tarballs:
            continue
        found = runtime_image(name, held)
        if found:
            images.append(found)
        else:
            warn("WARN", f"Image '{name}' is not a file and couldn't be found in the container runtime")
    if not tarballs and not images:
        raise ImportFailed("no valid images specified")
    if mode == "tools-node":
        if not docker("image", "ls", "-q", TOOLS_IMAGE):
            raise ImportFailed(f"failed to ensure that tools node is running: failed to run k3d-tools node for "
                               f"cluster '{nodes[0]['Config']['Labels']['k3d.cluster']}': failed to create node: "
                               f"failed to pull image '{TOOLS_IMAGE}'")
        info("Importing images into nodes...")
        for source, label in sources(images, tarballs):
            error = stream_into(nodes, source, label)
            if error:  # k3d's tools-node import logs a node's failure, and goes on
                warn("ERRO", error)
    else:
        for source, label in sources(images, tarballs):
            error = stream_into(nodes, source, label)
            if error:
                raise ImportFailed(f"could not load image to cluster from stream {' '.join(label)}: "
                                   f"error loading image to cluster, first error: {error}")
    info("Successfully imported image(s)")


def runtime_image(name: str, held: list[str]) -> str | None:
    """k3d's findRuntimeImage: the Docker image a name means (`:latest` where it has no tag; then
    without a docker.io/library/, docker.io/ or library/ prefix), if the host's Docker has it."""
    def same(requested: str, image: str) -> bool:
        tagged = ":" in (requested.partition("/")[2] if "/" in requested else requested)
        return requested == image or (requested if tagged else f"{requested}:latest") == image

    for image in held:
        if same(name, image):
            return image
    prefix = next((p for p in ("docker.io/library/", "docker.io/", "library/") if name.startswith(p)), None)
    return next((image for image in held if prefix and same(name[len(prefix):], image)), None)


def sources(images: list[str], tarballs: list[str]):
    """Each image's archive and its name(s), as k3d logs them."""
    if images:
        info(f"Loading {len(images)} image(s) from runtime into nodes...")
        for image in images:
            yield subprocess.run(["docker", "save", image], capture_output=True, timeout=600).stdout, [image]
    if tarballs:
        info(f"Importing images from {len(tarballs)} tarball(s)...")
        for path in tarballs:
            with open(path, "rb") as f:
                yield f.read(), [path]


def stream_into(nodes: list[dict], archive: bytes, label: list[str]) -> str | None:
    """The archive fed to each node's ctr, as k3d's direct mode does; the first failure, in k3d's words."""
    first = None
    for node in nodes:
        name = node["Name"].lstrip("/")
        info(f"Importing images '[{' '.join(label)}]' into node '{name}'...")
        if not json.loads(docker("inspect", node["Id"]))[0]["State"]["Running"]:
            first = first or (f"failed to import images in node '{name}': docker failed to create exec config for "
                              f"node '{name}': Error response from daemon: Container {node['Id']} is not running")
            continue
        done = subprocess.run(["docker", "exec", "-i", node["Id"], "k3s", "ctr", "image", "import",
                               "--all-platforms", "-"], input=archive, capture_output=True, timeout=600)
        if done.returncode != 0:
            logs = (done.stdout + done.stderr).decode(errors="replace")
            first = first or (f"failed to import images in node '{name}': Exec process in node '{name}' failed "
                              f"with exit code '{done.returncode}': Logs from failed access process:\n{logs}")
    return first


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else ""


def wait_for_log(node: str, text: str, timeout: float = 60, since: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = subprocess.run(["docker", "logs", *(["--since", since] if since else []), node],
                              capture_output=True, text=True, timeout=30)
        if text in logs.stdout + logs.stderr:
            return
        if "level=fatal" in logs.stderr:
            fail(f"node {node} failed: {logs.stderr.strip().splitlines()[-1]}")
        time.sleep(0.5)
    fail(f"node {node} not ready after {timeout:.0f}s")


def start(name: str) -> None:
    """k3d's ClusterStart: the stopped servers one by one in name order, each waited for until it
    logs that k3s is up (a log line after its start, as NodeStart's ReadyLogMessage since the
    start time), then the stopped agents, then the other stopped containers; then
    host.k3d.internal into /etc/hosts of the servers and agents it started (and only those: a
    node Docker started again by its restart policy keeps the /etc/hosts Docker wrote anew)."""
    nodes = containers(name)
    if not nodes:
        fail(f"No nodes found for cluster '{name}'")
    order = {"server": 0, "agent": 1}
    stopped = sorted((n for n in nodes if not n["State"]["Running"]),
                     key=lambda n: (order.get(n["Config"]["Labels"]["k3d.role"], 2), n["Name"]))
    started = []
    for node in stopped:
        role, node_name = node["Config"]["Labels"]["k3d.role"], node["Name"].lstrip("/")
        since = docker("info", "-f", "{{.SystemTime}}")
        docker("start", node["Id"])
        if role in order:
            wait_for_log(node_name, "is up and running" if role == "server" else "joined", since=since)
            started.append(node_name)
    if started:
        inject_host_alias(name, started)
    print(f"INFO[0000] Started cluster '{name}'", file=sys.stderr)


def stop(name: str) -> None:
    """k3d's ClusterStop: every container of the cluster stopped (`docker stop`: Docker then
    leaves it stopped when the engine comes back, whatever its restart policy)."""
    ids = [c["Id"] for c in containers(name)]
    if not ids:
        fail(f"No nodes found for cluster '{name}'")
    docker("stop", *ids)
    print(f"INFO[0000] Stopped cluster '{name}'", file=sys.stderr)


def inject_host_alias(cluster: str, nodes: list[str]) -> None:
    """host.k3d.internal, the cluster network's gateway on Linux (pkg/client/host.go GetHostIP),
    appended to each node's /etc/hosts, as k3d's cluster create, cluster start and node create do
    (pkg/client/cluster.go ClusterStart, node.go NodeAddToCluster). Docker writes /etc/hosts anew
    whenever it starts a container, so the entry lasts until the node's next start."""
    gateway = docker("network", "inspect", f"k3d-{cluster}", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
    for node in nodes:
        docker("exec", node, "sh", "-c", f"echo '{gateway} host.k3d.internal' >> /etc/hosts")


def delete(name: str) -> None:
    """k3d's ClusterDelete: the cluster's containers removed, and its network where the create
    made it (not where it re-used one: NETWORK_EXTERNAL); a name with no containers is nothing
    to delete (cmd/cluster/clusterDelete.go), its network left."""
    nodes = containers(name)
    if not nodes:
        print(f"INFO[0000] No nodes found for cluster '{name}', nothing to delete.", file=sys.stderr)
        return
    docker("rm", "-f", *(c["Id"] for c in nodes))
    if all(c["Config"]["Labels"].get(NETWORK_EXTERNAL) != "true" for c in nodes):
        docker("network", "rm", f"k3d-{name}", check=False)
    print(f"INFO[0000] Successfully deleted cluster {name}!", file=sys.stderr)


def kubeconfig(name: str) -> None:
    nodes = [c for c in containers(name) if c["Name"].lstrip("/") == f"k3d-{name}-server-0"]
    if not nodes:
        fail(f"Failed to get cluster '{name}': No nodes found for given cluster")
    binding = nodes[0]["HostConfig"]["PortBindings"]["6443/tcp"][0]
    # Copied out of the container, as k3d's GetKubeconfig does (a stopped server's too; a server
    # never started has none yet: k3s writes it when it starts).
    copied = subprocess.run(["docker", "cp", f"{nodes[0]['Id']}:{KUBECONFIG}", "-"], capture_output=True, timeout=60)
    if copied.returncode != 0:
        fail(f"runtime failed to pull kubeconfig from node 'k3d-{name}-server-0': "
             f"{copied.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as tar:
        config = yaml.safe_load(tar.extractfile(tar.getmembers()[0]).read())
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
    elif argv[:2] == ["cluster", "stop"] and len(argv) > 2:
        stop(argv[2])
    elif argv[:2] == ["cluster", "delete"] and len(argv) > 2:
        delete(argv[2])
    elif argv[:2] == ["kubeconfig", "get"] and len(argv) > 2:
        kubeconfig(argv[2])
    elif argv[:1] == ["image"] and argv[1:2] in (["import"], ["load"]):
        image_import(argv[2:])
    else:
        fail(f"stand-in k3d does not implement '{' '.join(argv)}'")


if __name__ == "__main__":
    main(sys.argv[1:])
