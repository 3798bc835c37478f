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
    lock: Lock = field(default_factory=Lock)  # the login user's k3d run lock on the host


def k3d_state_dir(home: str) -> str:
    """Where harmony keeps each k3d cluster's spec and kubeconfig on a host (the user's own)."""
    return f"{home}/.config/harmony/k3d"


class K3dHost(FactBase):
    """Everything the k3d deploy needs to know about a host, in one round trip, as the login
    user (who runs Docker and k3d), under that user's run lock when `lock` is given.
    `k3d cluster list` prints no cluster token without --token."""

    def command(self, bin_dir: str = "", lock: str = "", wait: int = 60, who: str = "", watch: str = "") -> str:
        default = '$( [ "$(id -u)" = 0 ] && echo /usr/local/bin || echo "$HOME/.local/bin")'
        state_dir = k3d_state_dir("$HOME")
        return (runlock.script(runlock.K3D_LOCK, lock, wait, who, watch) if lock else "") + f"""bin={shlex.quote(bin_dir) if bin_dir else default}
printf 'system\\t%s\\narch\\t%s\\nhome\\t%s\\nbin_dir\\t%s\\n' "$(uname -s)" "$(uname -m)" "$HOME" "$bin"
if ! command -v docker >/dev/null 2>&1; then printf 'docker\\tabsent\\n'
elif docker info >/dev/null 2>&1; then printf 'docker\\trunning\\n'
else printf 'docker\\tstopped\\n'; fi
for f in "$bin/k3d" "{state_dir}"/*; do
  [ -f "$f" ] || continue
  mode=$(stat -c %a "$f" 2>/dev/null || stat -f %Lp "$f")
  sum=$( (sha256sum "$f" 2>/dev/null || shasum -a 256 "$f") | cut -d' ' -f1)
  printf 'file\\t%s\\t%s\\t%s\\n' "$f" "$mode" "$sum"
done
[ -x "$bin/k3d" ] && printf 'clusters\\t%s\\n' "$("$bin/k3d" cluster list -o json 2>/dev/null | tr -d '\\n')"
true"""

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
