"""Which Docker engine a host's login user reaches, what it is, and whether k3d can run on it:
found as the user's own `docker` CLI finds it, so that a k3d cluster's containers are where the
user's `docker ps` and `k3d cluster list` look, and every later run finds them there again. Read
twice in a run, by the same script: in the platform fact that chooses the runtime
(`harmony.facts.Platform`) and in the k3d deploy's (`harmony.k3d.facts.K3dHost`).

The CLI picks its endpoint (docker/cli, cli/command/cli.go, resolveContextName) from
`DOCKER_HOST`; else the context `DOCKER_CONTEXT` names; else `currentContext` in
`$DOCKER_CONFIG/config.json` (~/.docker/config.json); else the default socket. k3d v5.7.4 builds
its client the same way (pkg/runtimes/docker/util.go, GetDockerClient: the docker CLI's own
`Initialize`), so it honours contexts too; harmony still passes the endpoint it found to every
k3d and docker command it runs there (`Engine.env`, pyinfra's `_env`, each `KEY=VALUE` quoted),
so a context switched between the fact and a command cannot split a run over two engines.

Where the CLI's endpoint does not answer but an engine's own socket does (Colima's, OrbStack's,
Rancher Desktop's, Docker Desktop's, Podman's), harmony refuses with the command that points the
CLI there, rather than use it: a cluster made behind the user's back would be invisible to their
`docker`, and the next run, after they fixed their context, would make a second one.

What each engine is, from `docker info` and `docker version` (their sources):
- Docker Desktop: OperatingSystem "Docker Desktop" (k3d's own test, pkg/runtimes/docker/util.go
  IsDockerDesktop);
- OrbStack: OperatingSystem "OrbStack", Name "orbstack" (`docker info` as OrbStack users post it,
  orbstack/orbstack issues);
- Colima: Name "colima", "colima-PROFILE" for another profile (the VM's host name; k3d's
  pkg/client/host.go tests Name == "colima"); its socket ~/.colima/PROFILE/docker.sock and its
  context "colima" or "colima-PROFILE" (abiosoft/colima issues #142, #311, #1309);
- Rancher Desktop with dockerd (moby): Name "lima-rancher-desktop", socket ~/.rd/docker.sock,
  context "rancher-desktop". With containerd it serves nerdctl only, no Docker API, yet may leave
  ~/.rd/docker.sock in place (rancher-desktop#5641): its settings.json says which
  (`containerEngine.name`, pkg/rancher-desktop/config/settings.ts; ~/Library/Preferences/
  rancher-desktop on macOS, ~/.config/rancher-desktop on Linux), read for that one key only;
- Podman: `docker version` lists the component "Podman Engine"; `docker info`'s ServerVersion is
  Podman's version and SecurityOptions hold "name=rootless" when rootless
  (containers/podman, pkg/api/handlers/compat/info.go and version.go).
Anything else that answers is Docker Engine. An endpoint's path names the engine where `docker
info` does not tell (a socket that does not answer).

What k3d needs of Podman (k3d.io, "Using Podman", docs/usage/advanced/podman.md at v5.7.4):
Podman 4 or newer; its API socket served (podman.socket, or `podman system service --time=0`);
`DOCKER_SOCK` set to that socket (k3d mounts it into its tools container, default
/var/run/docker.sock: pkg/runtimes/docker/docker.go GetRuntimePath), which harmony sets; rootless,
cgroup v2 with the cpu, cpuset and io controllers delegated to the user. Checked where the host can
see them (the engine's `docker info`; the user's cgroup on a Linux host), refused with the line
that fixes each.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlparse

# The sockets engines put where the user's own files are (or, Podman's rootful one, in /run),
# in the order a refusal names them.
SOCKETS = ('"$HOME"/.colima/*/docker.sock "$HOME/.colima/docker.sock" "$HOME/.orbstack/run/docker.sock" '
           '"$HOME/.rd/docker.sock" "$HOME/.docker/run/docker.sock" "$HOME/.docker/desktop/docker.sock" '
           '"${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/podman/podman.sock" /run/podman/podman.sock '
           '"$HOME"/.local/share/containers/podman/machine/*/podman.sock '
           '"${TMPDIR:-/tmp}"/podman/*-api.sock')

# The fact's fragment (`harmony.k3d.facts.K3dHost`): sets "$docker" (running, stopped, absent)
# for the fragments after it, and prints what `read` decides from. Of config.json it prints
# `currentContext` alone (the file may hold registry credentials), of Rancher Desktop's settings
# the container engine alone (they may hold a proxy password).
SCRIPT = r"""docker=absent
if command -v docker >/dev/null 2>&1; then
  limit=; command -v timeout >/dev/null 2>&1 && limit="timeout 20"
  printf 'engine_env\tDOCKER_HOST\t%s\nengine_env\tDOCKER_CONTEXT\t%s\n' "${DOCKER_HOST:-}" "${DOCKER_CONTEXT:-}"
  config="${DOCKER_CONFIG:-$HOME/.docker}/config.json"
  if [ -f "$config" ]; then
    printf 'engine_env\tcurrentContext\t%s\n' \
      "$(tr -d '\n' < "$config" | sed -n 's/.*"currentContext"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
  fi
  printf 'engine_context\t%s\n' "$($limit docker context inspect --format '{{json .}}' 2>&1 | tr -d '\n')"
  if info=$($limit docker info --format '{{json .}}' 2>/dev/null); then
    docker=running
    printf 'engine_info\t%s\n' "$info"
    printf 'engine_server\t%s\n' "$($limit docker version --format '{{json .Server}}' 2>/dev/null | tr -d '\n')"
  else
    docker=stopped
    for sock in """ + SOCKETS + r"""; do
      [ -S "$sock" ] || continue
      printf 'engine_socket\t%s\t%s\n' "$sock" \
        "$(DOCKER_HOST="unix://$sock" $limit docker info --format '{{json .}}' 2>/dev/null | tr -d '\n')"
    done
  fi
  for rd in "$HOME/Library/Preferences/rancher-desktop/settings.json" "$HOME/.config/rancher-desktop/settings.json"; do
    [ -f "$rd" ] || continue
    printf 'engine_rancher\t%s\n' "$(tr -d ' \n' < "$rd" |
      grep -oE '"containerEngine":(\{([^{}]|\{[^{}]*\})*\}|"[a-z]*")' | grep -oE '"(containerd|moby)"' | head -n 1 | tr -d '"')"
  done
  cgroup="/sys/fs/cgroup/user.slice/user-$(id -u).slice/user@$(id -u).service/cgroup.controllers"
  [ -r "$cgroup" ] && printf 'engine_delegated\t%s\n' "$(cat "$cgroup")"
fi
printf 'docker\t%s\n' "$docker"
"""

TITLES = {"docker": "Docker Engine", "docker-desktop": "Docker Desktop", "colima": "Colima", "orbstack": "OrbStack",
          "rancher-desktop": "Rancher Desktop", "podman": "Podman"}
# Where `docker info` does not say (the engine does not answer), its socket's path does.
PATH_KINDS = (("/.colima/", "colima"), ("/.orbstack/", "orbstack"), ("/.rd/", "rancher-desktop"),
              ("/.docker/run/", "docker-desktop"), ("/.docker/desktop/", "docker-desktop"), ("podman", "podman"))
DELEGATED = ("cpu", "cpuset", "io")  # what rootless Podman needs the user to have (k3d's docs)
DELEGATE = ("sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu cpuset io "
            "memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && sudo systemctl "
            "daemon-reload, then log in again")


@dataclass(frozen=True)
class Engine:
    """The engine a run uses on a host (`kind` "" where none answers the CLI), and why k3d
    cannot use it (`problem`, one line with its fix; "" where it can)."""

    endpoint: str = ""  # as the CLI reaches it: unix:///..., tcp://..., ssh://..., npipe://...
    context: str = ""  # the CLI's context ("default" where DOCKER_HOST or nothing chose one)
    source: str = ""  # what chose it: DOCKER_HOST, DOCKER_CONTEXT, config.json, or default
    kind: str = ""
    version: str = ""  # the engine's own (Docker's ServerVersion; Podman's version)
    name: str = ""  # docker info's Name and OperatingSystem
    os: str = ""
    rootless: bool = False
    tls: bool = False  # the context holds TLS material, which DOCKER_HOST alone would drop
    problem: str = ""

    @property
    def title(self) -> str:
        """The engine in words: "Colima (Docker 27.4.0)", "Podman 4.3.1, rootless"."""
        if self.kind == "podman":
            return f"Podman {self.version}" + (", rootless" if self.rootless else "")
        if self.kind == "docker":
            return f"Docker Engine {self.version}" + (", rootless" if self.rootless else "")
        return f"{TITLES.get(self.kind, self.kind)} (Docker {self.version})"

    @property
    def env(self) -> dict[str, str]:
        """What harmony's k3d and docker commands on the host set to reach this engine (pyinfra's
        `_env`): the context by name where it holds TLS material, else the endpoint; for Podman
        also `DOCKER_SOCK`, the socket's path on the engine's side, which k3d mounts."""
        if not self.endpoint:
            return {}
        env = {"DOCKER_CONTEXT": self.context} if self.tls and self.source != "DOCKER_HOST" else \
            {"DOCKER_HOST": self.endpoint}
        path = urlparse(self.endpoint).path
        if self.kind == "podman" and path.startswith("/"):
            env["DOCKER_SOCK"] = path
        return env

    def summary(self) -> dict:
        """What `harmony status --json` says of it."""
        return {"kind": self.kind, "title": self.title if self.kind else "", "version": self.version,
                "endpoint": self.endpoint, "context": self.context, "source": self.source}


@dataclass
class Seen:
    """The fact's `engine_*` lines, as read."""

    env: dict[str, str] = field(default_factory=dict)
    context: str = ""  # `docker context inspect` of the CLI's context: JSON, or the CLI's error
    info: dict = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    sockets: dict[str, dict] = field(default_factory=dict)  # {path: docker info there ({}: no answer)}
    rancher: str = ""  # Rancher Desktop's container engine, if its settings are there
    delegated: set[str] | None = None  # the controllers the user's cgroup has, where readable

    def read(self, kind: str, fields: list[str]) -> bool:
        """Take one line of the fact's output, if it is one of these."""
        if kind == "engine_env" and len(fields) == 2:
            self.env[fields[0]] = fields[1]
        elif kind == "engine_context":
            self.context = "\t".join(fields)
        elif kind in ("engine_info", "engine_server"):
            setattr(self, kind.removeprefix("engine_"), _json("\t".join(fields)))
        elif kind == "engine_socket" and len(fields) == 2:
            self.sockets[fields[0]] = _json(fields[1])
        elif kind == "engine_rancher":
            self.rancher = self.rancher or fields[0]
        elif kind == "engine_delegated":
            self.delegated = set(fields[0].split())
        else:
            return False
        return True


def _json(text: str) -> dict:
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def decide(seen: Seen, system: str = "Linux") -> Engine:
    """The engine the CLI reaches (`seen`, on a host whose `uname -s` is `system`), and, where
    k3d cannot use it or the CLI reaches none, why, with the fix."""
    if not seen.env and not seen.context:
        return Engine()  # no docker CLI: nothing to find
    context = _json(seen.context)
    endpoint = str(((context.get("Endpoints") or {}).get("docker") or {}).get("Host") or "")
    name = str(context.get("Name") or "")
    source = ("DOCKER_HOST" if seen.env.get("DOCKER_HOST") else "DOCKER_CONTEXT" if seen.env.get("DOCKER_CONTEXT")
              else "config.json" if seen.env.get("currentContext") else "default")
    found = Engine(endpoint=endpoint, context=name, source=source, tls=bool(context.get("TLSMaterial")))
    if not context:
        chosen = seen.env.get("DOCKER_CONTEXT") or seen.env.get("currentContext") or "default"
        where = "DOCKER_CONTEXT" if source == "DOCKER_CONTEXT" else "currentContext in docker's config.json"
        return replace(found, context=chosen, problem=f"docker's context '{chosen}' ({where}) cannot be used "
                     f"({seen.context.strip() or 'no answer'}): `docker context ls` lists them, "
                     "`docker context use NAME` chooses one")
    if seen.info.get("ServerVersion"):
        return _answering(found, seen, system)
    return replace(found, problem=_not_answering(found, seen, system))


def _kind(info: dict, server: dict) -> str:
    """The engine that answered with this `docker info` (and `docker version`'s Server)."""
    if "Podman Engine" in {c.get("Name") for c in server.get("Components") or [] if isinstance(c, dict)}:
        return "podman"
    system, name = str(info.get("OperatingSystem") or ""), str(info.get("Name") or "")
    if system.lower() == "docker desktop":
        return "docker-desktop"
    if system == "OrbStack":
        return "orbstack"
    if name == "colima" or name.startswith("colima-"):
        return "colima"
    return "rancher-desktop" if name == "lima-rancher-desktop" else "docker"


def _kind_at(path: str, info: dict) -> str:
    """The engine behind a socket that is not the CLI's: as it answers, else as its path says."""
    kind = _kind(info, {}) if info.get("ServerVersion") else "docker"
    return kind if kind != "docker" else next((k for marker, k in PATH_KINDS if marker in path), "docker")


def _answering(found: Engine, seen: Seen, system: str) -> Engine:
    info = seen.info
    engine = replace(found, kind=_kind(info, seen.server), version=str(info.get("ServerVersion")),
                   name=str(info.get("Name") or ""), os=str(info.get("OperatingSystem") or ""),
                   rootless="name=rootless" in (info.get("SecurityOptions") or []))
    return replace(engine, problem=_podman_problem(engine, info, seen, system) if engine.kind == "podman" else "")


def _podman_problem(engine: Engine, info: dict, seen: Seen, system: str) -> str:
    major = re.match(r"\d+", engine.version)
    if not major or int(major.group()) < 4:
        return (f"k3d needs Podman 4 or newer (k3d.io, Using Podman); {engine.endpoint} is Podman "
                f"{engine.version}: upgrade Podman")
    if not engine.rootless:
        return ""
    if str(info.get("CgroupVersion") or "") != "2":
        return (f"rootless Podman ({engine.endpoint}) runs k3d's nodes only on cgroup v2, and this engine runs "
                "cgroup v1: boot its Linux with systemd.unified_cgroup_hierarchy=1, or use rootful Podman "
                "(sudo systemctl enable --now podman.socket; export DOCKER_HOST=unix:///run/podman/podman.sock)")
    missing = [c for c in DELEGATED if seen.delegated is not None and c not in seen.delegated]
    if system == "Linux" and urlparse(engine.endpoint).scheme == "unix" and missing:
        return (f"rootless Podman needs the {', '.join(missing)} cgroup controller(s) delegated to this user for "
                f"k3d's nodes (k3d.io, Using Podman): {DELEGATE}")
    return ""


def _not_answering(found: Engine, seen: Seen, system: str) -> str:
    """Why nothing answers at the CLI's endpoint, and what to do, in that engine's own words."""
    how = f"{found.endpoint or 'its default socket'}, from {_chosen_by(found)}"
    if seen.rancher == "containerd" and (not found.endpoint or "/.rd/" in found.endpoint
                                         or any("/.rd/" in s for s in seen.sockets)):
        return ("the Docker engine here is Rancher Desktop's containerd (nerdctl), which has no Docker API "
                "for k3d: choose dockerd (moby) as its Container Engine (Preferences, Container Engine; or `rdctl set "
                "--container-engine.name=moby`), then run harmony again")
    answering = [(path, info) for path, info in seen.sockets.items() if info.get("ServerVersion")]
    if answering:
        path, info = answering[0]
        kind = _kind_at(path, info)
        return (f"docker's endpoint ({how}) does not answer, but {TITLES[kind]} does at {path}; harmony uses "
                f"the engine your docker uses: {_select(kind, path)}, then run harmony again")
    present = list(seen.sockets)
    if present:
        return f"docker's endpoint ({how}) does not answer: {_start(_kind_at(present[0], {}), present[0], system)}"
    return ""


def _chosen_by(engine: Engine) -> str:
    if engine.source == "DOCKER_HOST":
        return "DOCKER_HOST"
    if engine.source == "default":
        return "docker's default"
    return f"docker context '{engine.context}'" + (" (DOCKER_CONTEXT)" if engine.source == "DOCKER_CONTEXT" else "")


def _profile(path: str) -> str:
    """Colima's profile of a socket ~/.colima/PROFILE/docker.sock ("default" for ~/.colima/docker.sock)."""
    parts = path.split("/.colima/", 1)[1].split("/")
    return parts[0] if len(parts) > 1 else "default"


def _select(kind: str, path: str) -> str:
    """The command that points the user's docker (and so harmony) at an engine's socket."""
    export = f"export DOCKER_HOST=unix://{path}"
    contexts = {"orbstack": "orbstack", "rancher-desktop": "rancher-desktop", "docker-desktop": "desktop-linux"}
    if kind == "colima":
        profile = _profile(path)
        contexts["colima"] = "colima" if profile == "default" else f"colima-{profile}"
    if kind in contexts:
        return f"`docker context use {contexts[kind]}` (or `{export}`)"
    return f"`{export}`"


def _start(kind: str, path: str, system: str) -> str:
    """How to start the engine whose socket is there but does not answer."""
    if kind == "colima":
        profile = _profile(path)
        return "colima start" + ("" if profile == "default" else f" --profile {profile}")
    if kind == "podman":
        if "/machine/" in path or system != "Linux" or path.endswith("-api.sock"):
            return "podman machine start"
        if path.startswith("/run/podman/"):
            return "sudo systemctl enable --now podman.socket (or sudo podman system service --time=0 &)"
        return "systemctl --user enable --now podman.socket (or podman system service --time=0 &)"
    return {"orbstack": "orb start", "rancher-desktop": "start Rancher Desktop (rdctl start)",
            "docker-desktop": "start Docker Desktop"}.get(kind, f"start the engine behind {path}")
