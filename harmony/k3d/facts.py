"""The k3d deploy's one question to a host (`K3dHost`), asked as the login user."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field, replace

import yaml
from pyinfra.api import FactBase

from harmony import engine, runlock
from harmony.engine import Engine
from harmony.facts import UNKEPT, FileState
from harmony.k3d import bindir
from harmony.k3d.unfinished import marker
from harmony.runlock import Lock
from harmony.runtime import Platform


@dataclass(frozen=True)
class K3dCluster:
    """A k3d cluster as `k3d cluster list -o json` shows it."""

    servers: int
    agents: int
    running: int
    image: str
    agent_names: tuple[str, ...] = ()  # the agents' containers, by name
    # The cluster's containers that do not run, whatever their role (load balancer, registry too).
    down: tuple[str, ...] = ()
    # Where host.k3d.internal is gone from a running cluster (`HEALTH`): "NODE's /etc/hosts",
    # "CoreDNS's NodeHosts"; and the host ports its stopped containers published ("IP:PORT->PORT/tcp").
    lost_alias: tuple[str, ...] = ()
    unpublished: tuple[str, ...] = ()
    unfinished: bool = False  # harmony's create of it began and never ended (`harmony.k3d.unfinished`)


@dataclass
class K3dHostState:
    """What one host looks like to the k3d deploy."""

    system: str = ""
    arch: str = ""
    home: str = ""
    bin_dir: str = ""
    on_path: bool = False  # whether the login shell's PATH has bin_dir (`harmony.k3d.bindir`)
    shell: str = ""  # the login shell's name, for how to put bin_dir on its PATH
    docker: str = "absent"
    engine: Engine = field(default_factory=Engine)  # the Docker engine the login user's docker reaches
    files: dict[str, FileState] = field(default_factory=dict)
    clusters: dict[str, K3dCluster] = field(default_factory=dict)
    # Where a run ships images (`harmony.k3d.images`): the cluster's running server and agent
    # containers, each with those of the run's images its containerd holds.
    nodes: dict[str, set[str]] = field(default_factory=dict)
    # Where the run publishes the cluster's ports 80 and 443 (`harmony.k3d.ports`): the mappings
    # of the config kept beside the cluster, and, where the cluster is about to be created, the
    # host ports something listens on or Docker publishes.
    kept_ports: tuple[str, ...] = ()
    listening: set[int] = field(default_factory=set)
    lock: Lock = field(default_factory=Lock)  # the login user's k3d run lock on the host


def k3d_state_dir(home: str) -> str:
    """Where harmony keeps each k3d cluster's spec and kubeconfig on a host (the user's own)."""
    return f"{home}/.config/harmony/k3d"


# Each running server and agent container of "$cluster" (by k3d's labels: agents that `k3d node
# create` added too), and which of "$images" its containerd holds in the kubelet's namespace,
# asked as k3d asks a node (`docker exec`; the rancher/k3s image has k3s, whose ctr it is).
NODE_IMAGES = """if [ "$docker" = running ]; then
  docker ps --filter label=app=k3d --filter "label=k3d.cluster=$cluster" \\
      --format '{{.Names}} {{.Label "k3d.role"}}' 2>/dev/null |
  while read -r node role; do
    case "$role" in server|agent) ;; *) continue ;; esac
    printf 'node\\t%s\\n' "$node"
    docker exec "$node" k3s ctr -n k8s.io images ls -q </dev/null 2>/dev/null | while read -r ref; do
      case " $images " in *" $ref "*) printf 'image\\t%s\\t%s\\n' "$node" "$ref" ;; esac
    done
  done
fi
"""


# The mappings of "$cluster"'s kept config (its `ports:` section, as harmony renders it: nothing
# else of the file, which may hold the cluster's token); and, unless k3d lists the cluster (it
# is about to be created), the host's listening TCP ports (hexadecimal: /proc/net's, else
# netstat's: macOS's `tcp4 0 0 *.80 *.* LISTEN`, Windows' `TCP 0.0.0.0:80 0.0.0.0:0 LISTENING`
# with CRLF) and the host ports Docker publishes (its own are not all listeners).
PORTS = r"""kept="$state_dir/$cluster.yaml"
if [ -f "$kept" ]; then
  awk 'p && /^[^ -]/ { exit } p { printf "kept\t%s\n", $0 } /^ports:/ { p = 1 }' "$kept"
fi
case "$(printf '%s' "$listed" | tr -d ' ')" in
  *"\"name\":\"$cluster\""*) ;;
  *)
    if [ -r /proc/net/tcp ]; then
      awk 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); if (!seen[a[n]]++) printf "listening\t%s\n", a[n] }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
    else
      netstat -an 2>/dev/null | awk '{ sub(/\r$/, "") } $NF ~ /^LISTEN(ING)?$/ {
        n = split(NF == 4 ? $2 : $4, a, /[.:]/); printf "listening\t%x\n", a[n] }'
    fi
    [ "$docker" = running ] && docker ps --format '{{.Ports}}' 2>/dev/null | sed 's/^/published\t/'
    ;;
esac
"""


# What "$cluster" lost that k3d gives it when it starts it (harmony.k3d.health): each stopped
# container's published host ports; whether each running server's and agent's /etc/hosts (which
# Docker writes anew at every start of a container) has host.k3d.internal; whether each running
# server's CoreDNS manifest (which k3s writes anew at every start, unless CoreDNS is disabled)
# has it in NodeHosts. Read with `cat` through `docker exec`, as k3d's own file actions do.
HEALTH = r"""if [ "$docker" = running ]; then
  docker ps -a --filter label=app=k3d --filter "label=k3d.cluster=$cluster" \
      --format '{{.Names}} {{.Label "k3d.role"}} {{.State}}' 2>/dev/null |
  while read -r node role status; do
    if [ "$status" != running ]; then
      bindings='{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}}:{{.HostPort}}->{{$p}} {{end}}{{end}}'
      for port in $(docker inspect -f "$bindings" "$node" 2>/dev/null); do
        printf 'unpublished\t%s\t%s\n' "$cluster" "$port"
      done
      continue
    fi
    case "$role" in server|agent) ;; *) continue ;; esac
    hosts=$(docker exec "$node" cat /etc/hosts </dev/null 2>/dev/null) || continue
    case "$hosts" in *host.k3d.internal*) ;; *) printf 'unaliased\t%s\t%s\n' "$cluster" "$node" ;; esac
    [ "$role" = server ] || continue
    dns=$(docker exec "$node" cat /var/lib/rancher/k3s/server/manifests/coredns.yaml </dev/null 2>/dev/null) || continue
    case "$dns" in *host.k3d.internal*) found=has ;; *) found=lacks ;; esac
    printf 'coredns\t%s\t%s\n' "$cluster" "$found"
  done
fi
"""


class K3dHost(FactBase):
    """Everything the k3d deploy needs to know about a host, in one round trip, as the login
    user (who runs Docker and k3d), under that user's run lock when `lock` is given.
    `k3d cluster list` prints no cluster token without --token. With `images` (references,
    space-separated), also which of them each running node of `cluster` holds (`NODE_IMAGES`).
    With `ports`, also what `harmony.k3d.ports` decides the cluster's ports from (`PORTS`); with
    `health`, what the cluster lost since k3d last started it (`HEALTH`)."""

    def command(self, bin_dir: str = "", lock: str = "", wait: int = 60, who: str = "", watch: str = "",
                cluster: str = "", images: str = "", ports: bool = False, health: bool = False) -> str:
        state_dir = k3d_state_dir("$HOME")
        locked = runlock.script(runlock.K3D_LOCK, lock, wait, who, watch) if lock else ""
        return locked + f"bin={shlex.quote(bin_dir)}\n" + bindir.SCRIPT + f"""printf 'system\\t%s\\narch\\t%s\\nhome\\t%s\\nbin_dir\\t%s\\n' "$(uname -s)" "$(uname -m)" "$HOME" "$bin"
{engine.SCRIPT}for f in "$bin/$exe" "{state_dir}"/*; do
  [ -f "$f" ] || continue
  mode=$(stat -c %a "$f" 2>/dev/null || stat -f %Lp "$f")
  sum=$( (sha256sum "$f" 2>/dev/null || shasum -a 256 "$f") | cut -d' ' -f1)
  printf 'file\\t%s\\t%s\\t%s\\n' "$f" "$mode" "$sum"
done
listed=
if [ -x "$bin/$exe" ]; then
  listed=$("$bin/$exe" cluster list -o json 2>/dev/null | tr -d '\\n')
  printf 'clusters\\t%s\\n' "$listed"
fi
state_dir="{state_dir}"
""" + (f"cluster={shlex.quote(cluster)}\n" if cluster else "") + (
            f"images={shlex.quote(images)}\n{NODE_IMAGES}" if images else "") + (PORTS if ports else "") + (
            HEALTH if health and cluster else "") + "true"

    def process(self, output: list[str]) -> K3dHostState:
        state, kept, health, seen = K3dHostState(), [], [], engine.Seen()
        for line in output:
            kind, _, rest = line.partition("\t")
            fields = rest.split("\t")
            if state.lock.read(kind, rest) or seen.read(kind, fields):
                continue
            if kind in ("system", "arch", "home", "bin_dir", "docker", "shell"):
                setattr(state, kind, rest)
            elif kind == "on_path":
                state.on_path = rest == "yes"
            elif kind == "file" and len(fields) == 3:
                state.files[fields[0]] = FileState(mode=fields[1], sha256=fields[2])
            elif kind == "clusters":
                state.clusters = _k3d_clusters(rest)
            elif kind == "node":
                state.nodes.setdefault(rest, set())
            elif kind == "image" and len(fields) == 2:
                state.nodes.setdefault(fields[0], set()).add(fields[1])
            elif kind == "kept":
                kept.append(rest)
            elif kind == "listening" and re.fullmatch(r"[0-9A-Fa-f]{1,4}", rest):
                state.listening.add(int(rest, 16))
            elif kind == "published":
                state.listening.update(int(p) for p in re.findall(r":(\d{1,5})->", rest))
            elif kind in ("unaliased", "coredns", "unpublished") and len(fields) == 2:
                health.append((kind, *fields))
        state.kept_ports = _kept_ports(kept)
        state.engine = engine.decide(seen, state.system)
        if Platform(state.system, "none", "none", state.docker).os == "windows":
            state.files = {path: replace(file, mode=UNKEPT) for path, file in state.files.items()}
        for name in [n for n in state.clusters if marker(k3d_state_dir(state.home), n) in state.files]:
            state.clusters[name] = replace(state.clusters[name], unfinished=True)
        for name in {cluster for _, cluster, _ in health} & set(state.clusters):
            state.clusters[name] = _with_health(state.clusters[name], [(k, v) for k, c, v in health if c == name])
        return state


def _kept_ports(lines: list[str]) -> tuple[str, ...]:
    """The kept config's `ports:` entries as k3d port mappings (`8080:80@loadbalancer`)."""
    try:
        entries = yaml.safe_load("\n".join(lines)) if lines else []
    except yaml.YAMLError:
        return ()
    found = []
    for entry in entries if isinstance(entries, list) else []:
        filters = entry.get("nodeFilters") if isinstance(entry, dict) else None
        if isinstance(entry.get("port") if isinstance(entry, dict) else None, str) and isinstance(filters, list) \
                and len(filters) == 1 and isinstance(filters[0], str):
            found.append(f"{entry['port']}@{filters[0]}")
    return tuple(found)


def _with_health(cluster: K3dCluster, found: list[tuple[str, str]]) -> K3dCluster:
    """The cluster with what `HEALTH` found lost. CoreDNS's NodeHosts counts as lost only where
    no running server's manifest has host.k3d.internal: k3d rewrites one server's alone."""
    coredns = [value for kind, value in found if kind == "coredns"]
    alias = [f"{value}'s /etc/hosts" for kind, value in found if kind == "unaliased"]
    if coredns and "has" not in coredns:
        alias.append("CoreDNS's NodeHosts")
    return replace(cluster, lost_alias=tuple(alias),
                   unpublished=tuple(value for kind, value in found if kind == "unpublished"))


def _k3d_clusters(text: str) -> dict[str, K3dCluster]:
    try:
        listed = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        return {}
    clusters = {}
    for item in listed:
        nodes = [n for n in item.get("nodes") or [] if n.get("role") in ("server", "agent")]
        clusters[item["name"]] = K3dCluster(
            servers=sum(n["role"] == "server" for n in nodes),
            agents=sum(n["role"] == "agent" for n in nodes),
            running=sum(bool((n.get("State") or {}).get("Running")) for n in nodes),
            image=next((n.get("image", "") for n in nodes if n["role"] == "server"), ""),
            agent_names=tuple(sorted(n["name"] for n in nodes if n["role"] == "agent")),
            down=tuple(sorted(n["name"] for n in item.get("nodes") or []
                              if not (n.get("State") or {}).get("Running"))),
        )
    return clusters


class K3dStatus(K3dHost):
    """A JSON-friendly summary of `K3dHost`, for `harmony status`."""

    def process(self, output: list[str]) -> dict:
        state = super().process(output)
        return {"docker": state.docker, "engine": state.engine.summary(), "system": state.system, "arch": state.arch,
                "engine_problem": state.engine.problem,  # why it cannot be used, with its fix (status's reason)
                "clusters": {name: vars(c) for name, c in state.clusters.items()}}
