"""The k3d deploy's one question to a host (`K3dHost`), asked as the login user."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from harmony import runlock
from harmony.facts import FileState
from harmony.runlock import Lock


@dataclass(frozen=True)
class K3dCluster:
    """A k3d cluster as `k3d cluster list -o json` shows it."""

    servers: int
    agents: int
    running: int
    image: str
    agent_names: tuple[str, ...] = ()  # the agents' containers, by name


@dataclass
class K3dHostState:
    """What one host looks like to the k3d deploy."""

    system: str = ""
    arch: str = ""
    home: str = ""
    bin_dir: str = ""
    docker: str = "absent"
    files: dict[str, FileState] = field(default_factory=dict)
    clusters: dict[str, K3dCluster] = field(default_factory=dict)
    # Where a run ships images (`harmony.k3d.images`): the cluster's running server and agent
    # containers, each with those of the run's images its containerd holds.
    nodes: dict[str, set[str]] = field(default_factory=dict)
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


class K3dHost(FactBase):
    """Everything the k3d deploy needs to know about a host, in one round trip, as the login
    user (who runs Docker and k3d), under that user's run lock when `lock` is given.
    `k3d cluster list` prints no cluster token without --token. With `images` (references,
    space-separated), also which of them each running node of `cluster` holds (`NODE_IMAGES`)."""

    def command(self, bin_dir: str = "", lock: str = "", wait: int = 60, who: str = "", watch: str = "",
                cluster: str = "", images: str = "") -> str:
        default = '$( [ "$(id -u)" = 0 ] && echo /usr/local/bin || echo "$HOME/.local/bin")'
        state_dir = k3d_state_dir("$HOME")
        return (runlock.script(runlock.K3D_LOCK, lock, wait, who, watch) if lock else "") + f"""bin={shlex.quote(bin_dir) if bin_dir else default}
printf 'system\\t%s\\narch\\t%s\\nhome\\t%s\\nbin_dir\\t%s\\n' "$(uname -s)" "$(uname -m)" "$HOME" "$bin"
docker=absent
if command -v docker >/dev/null 2>&1; then
  if docker info >/dev/null 2>&1; then docker=running; else docker=stopped; fi
fi
printf 'docker\\t%s\\n' "$docker"
for f in "$bin/k3d" "{state_dir}"/*; do
  [ -f "$f" ] || continue
  mode=$(stat -c %a "$f" 2>/dev/null || stat -f %Lp "$f")
  sum=$( (sha256sum "$f" 2>/dev/null || shasum -a 256 "$f") | cut -d' ' -f1)
  printf 'file\\t%s\\t%s\\t%s\\n' "$f" "$mode" "$sum"
done
[ -x "$bin/k3d" ] && printf 'clusters\\t%s\\n' "$("$bin/k3d" cluster list -o json 2>/dev/null | tr -d '\\n')"
""" + (f"cluster={shlex.quote(cluster)}\nimages={shlex.quote(images)}\n{NODE_IMAGES}" if images else "") + "true"

    def process(self, output: list[str]) -> K3dHostState:
        state = K3dHostState()
        for line in output:
            kind, _, rest = line.partition("\t")
            fields = rest.split("\t")
            if state.lock.read(kind, rest):
                continue
            if kind in ("system", "arch", "home", "bin_dir", "docker"):
                setattr(state, kind, rest)
            elif kind == "file" and len(fields) == 3:
                state.files[fields[0]] = FileState(mode=fields[1], sha256=fields[2])
            elif kind == "clusters":
                state.clusters = _k3d_clusters(rest)
            elif kind == "node":
                state.nodes.setdefault(rest, set())
            elif kind == "image" and len(fields) == 2:
                state.nodes.setdefault(fields[0], set()).add(fields[1])
        return state


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
        )
    return clusters


class K3dStatus(K3dHost):
    """A JSON-friendly summary of `K3dHost`, for `harmony status`."""

    def process(self, output: list[str]) -> dict:
        state = super().process(output)
        return {"docker": state.docker, "clusters": {name: vars(c) for name, c in state.clusters.items()}}
