"""The Docker engine a k3d run uses (`harmony.engine`), decided from what the host fact reads
(simulated here for each engine and platform: the CLI's environment, `docker context inspect`,
`docker info`, `docker version`, the engines' sockets), and the fact's own script run by a real
shell against a fake `docker` that answers as the real CLI does."""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import replace

import pytest

from harmony import engine
from harmony.engine import Seen, decide
from harmony.k3d import render
from harmony.k3d.facts import K3dHost, K3dHostState
from harmony.k3d.hostrun import USER, K3dHostRun, as_user
from harmony.k3d.phases.p1_preflight import docker_problem
from harmony.k3d.settings import from_data
from harmony.errors import BadInput
from harmony.facts import Platform as PlatformFact
from harmony.k3d.settings import K3dSettings
from harmony.k3s.settings import Settings
from harmony.resolved import Resolved
from harmony.runtime import Platform, choose
from harmony.runtimes import K3S
from harmony.k3d.runtime import K3D

HOME = "/Users/ann"


def context(name: str, host: str, tls: bool = False) -> str:
    return json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
                       "TLSMaterial": {"docker": ["ca.pem", "cert.pem", "key.pem"]} if tls else {}})


def info(name: str = "vm", os_name: str = "Debian GNU/Linux 12 (bookworm)", version: str = "27.4.0",
         cgroup: str = "2", rootless: bool = False) -> dict:
    return {"Name": name, "OperatingSystem": os_name, "ServerVersion": version, "CgroupVersion": cgroup,
            "SecurityOptions": ["name=seccomp,profile=default"] + (["name=rootless"] if rootless else [])}


PODMAN = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}], "Version": "4.3.1"}


def seen(ctx: str, answer: dict | None = None, server: dict | None = None, **more) -> Seen:
    env = more.pop("env", {"DOCKER_HOST": "", "DOCKER_CONTEXT": ""})
    return Seen(env=env, context=ctx, info=answer or {}, server=server or {}, **more)


@pytest.mark.parametrize("answer, ctx, kind, title", [
    (info(), context("default", "unix:///var/run/docker.sock"), "docker", "Docker Engine 27.4.0"),
    (info("docker-desktop", "Docker Desktop"), context("desktop-linux", f"unix://{HOME}/.docker/run/docker.sock"),
     "docker-desktop", "Docker Desktop (Docker 27.4.0)"),
    (info("orbstack", "OrbStack", "28.5.2"), context("orbstack", f"unix://{HOME}/.orbstack/run/docker.sock"),
     "orbstack", "OrbStack (Docker 28.5.2)"),
    (info("colima", "Ubuntu 24.04 LTS"), context("colima", f"unix://{HOME}/.colima/default/docker.sock"),
     "colima", "Colima (Docker 27.4.0)"),
    (info("colima-work", "Ubuntu 24.04 LTS"), context("colima-work", f"unix://{HOME}/.colima/work/docker.sock"),
     "colima", "Colima (Docker 27.4.0)"),
    (info("lima-rancher-desktop", "Alpine Linux v3.20", "26.1.5"),
     context("rancher-desktop", f"unix://{HOME}/.rd/docker.sock"), "rancher-desktop",
     "Rancher Desktop (Docker 26.1.5)"),
    (info(rootless=True), context("rootless", "unix:///run/user/1000/docker.sock"), "docker",
     "Docker Engine 27.4.0, rootless"),
])
def test_each_engine_is_named_with_its_version_and_reached_at_the_clis_endpoint(answer, ctx, kind, title):
    found = decide(seen(ctx, answer), "Darwin")
    assert (found.kind, found.title, found.problem) == (kind, title, "")
    assert found.env == {"DOCKER_HOST": json.loads(ctx)["Endpoints"]["docker"]["Host"]}
    assert found.summary()["title"] == title and found.summary()["context"] == json.loads(ctx)["Name"]


def test_what_chose_the_endpoint_is_said_in_the_clis_order():
    ctx = context("colima", f"unix://{HOME}/.colima/default/docker.sock")
    assert decide(seen(ctx, info(), env={"DOCKER_HOST": "unix:///x.sock"})).source == "DOCKER_HOST"
    assert decide(seen(ctx, info(), env={"DOCKER_CONTEXT": "colima", "currentContext": "other"})).source == \
        "DOCKER_CONTEXT"
    assert decide(seen(ctx, info(), env={"currentContext": "colima"})).source == "config.json"
    assert decide(seen(ctx, info(), env={"DOCKER_HOST": ""})).source == "default"


def test_a_context_with_tls_material_is_passed_by_name_else_docker_host_would_drop_its_certificates():
    remote = decide(seen(context("remote", "tcp://10.0.0.5:2376", tls=True), info(), env={"currentContext": "remote"}))
    assert remote.env == {"DOCKER_CONTEXT": "remote"}
    plain = decide(seen(context("remote", "tcp://10.0.0.5:2375"), info(), env={"currentContext": "remote"}))
    assert plain.env == {"DOCKER_HOST": "tcp://10.0.0.5:2375"}


def test_a_context_that_is_not_there_is_refused_naming_it():
    error = 'context "gone": context not found: open /home/ann/.docker/contexts/meta/x/meta.json: no such file'
    found = decide(seen(error, env={"DOCKER_CONTEXT": "gone"}))
    assert found.problem == (f"docker's context 'gone' (DOCKER_CONTEXT) cannot be used ({error}): `docker context "
                             "ls` lists them, `docker context use NAME` chooses one")
    assert "currentContext in docker's config.json" in decide(seen(error, env={"currentContext": "gone"})).problem


def test_no_docker_cli_is_no_engine_and_no_engine_problem():
    assert decide(Seen()) == engine.Engine()


DEAD = context("default", "unix:///var/run/docker.sock")


@pytest.mark.parametrize("socket_path, answer, fix", [
    (f"{HOME}/.colima/default/docker.sock", info("colima"),
     f"Colima does at {HOME}/.colima/default/docker.sock; harmony uses the engine your docker uses: "
     f"`docker context use colima` (or `export DOCKER_HOST=unix://{HOME}/.colima/default/docker.sock`)"),
    (f"{HOME}/.colima/work/docker.sock", info("colima-work"), "`docker context use colima-work`"),
    (f"{HOME}/.orbstack/run/docker.sock", info("orbstack", "OrbStack"), "`docker context use orbstack`"),
    (f"{HOME}/.rd/docker.sock", info("lima-rancher-desktop"), "`docker context use rancher-desktop`"),
    (f"{HOME}/.docker/run/docker.sock", info("docker-desktop", "Docker Desktop"),
     "Docker Desktop does at"),
    ("/run/user/1000/podman/podman.sock", info("fedora"), "Podman does at /run/user/1000/podman/podman.sock; "
     "harmony uses the engine your docker uses: `export DOCKER_HOST=unix:///run/user/1000/podman/podman.sock`"),
])
def test_an_engine_answering_only_at_its_own_socket_is_refused_with_the_command_that_selects_it(
        socket_path, answer, fix):
    found = decide(seen(DEAD, sockets={socket_path: answer}))
    assert found.problem.startswith("docker's endpoint (unix:///var/run/docker.sock, from docker's default) does "
                                    "not answer, but "), found.problem
    assert fix in found.problem and found.problem.endswith(", then run harmony again")


@pytest.mark.parametrize("socket_path, system, start", [
    (f"{HOME}/.colima/default/docker.sock", "Darwin", "colima start"),
    (f"{HOME}/.colima/work/docker.sock", "Darwin", "colima start --profile work"),
    (f"{HOME}/.orbstack/run/docker.sock", "Darwin", "orb start"),
    (f"{HOME}/.rd/docker.sock", "Darwin", "start Rancher Desktop (rdctl start)"),
    (f"{HOME}/.docker/run/docker.sock", "Darwin", "start Docker Desktop"),
    (f"{HOME}/.local/share/containers/podman/machine/podman-machine-default/podman.sock", "Darwin",
     "podman machine start"),
    ("/var/folders/xy/T/podman/podman-machine-default-api.sock", "Darwin", "podman machine start"),
    ("/run/user/1000/podman/podman.sock", "Linux", "systemctl --user enable --now podman.socket"),
    ("/run/podman/podman.sock", "Linux", "sudo systemctl enable --now podman.socket"),
])
def test_an_engine_whose_socket_is_there_but_silent_is_started_with_its_own_command(socket_path, system, start):
    found = decide(seen(context("colima", "unix:///nowhere.sock"), env={"currentContext": "colima"},
                        sockets={socket_path: {}}), system)
    assert found.problem.startswith(
        f"docker's endpoint (unix:///nowhere.sock, from docker context 'colima') does not answer: {start}")


def test_nothing_found_leaves_the_platforms_own_advice_to_preflight():
    state = K3dHostState(system="Darwin", docker="stopped", engine=decide(seen(DEAD)))
    assert state.engine.problem == ""
    assert docker_problem(state) == "Docker does not answer: start Docker Desktop (or colima start)"


RANCHER = f"unix://{HOME}/.rd/docker.sock"


def test_rancher_desktop_on_containerd_is_refused_with_its_own_switch_even_where_its_socket_is_left():
    found = decide(seen(context("rancher-desktop", RANCHER), env={"currentContext": "rancher-desktop"},
                        sockets={f"{HOME}/.rd/docker.sock": {}}, rancher="containerd"), "Darwin")
    assert found.problem == ("the Docker engine here is Rancher Desktop's containerd (nerdctl), which has no "
                             "Docker API for k3d: choose dockerd (moby) as its Container Engine (Preferences, Container Engine; or `rdctl set "
                             "--container-engine.name=moby`), then run harmony again")
    assert docker_problem(K3dHostState(system="Darwin", docker="stopped", engine=found)) == found.problem
    # Another engine the CLI reaches is used whatever Rancher Desktop is set to.
    answered = decide(seen(context("desktop-linux", f"unix://{HOME}/.docker/run/docker.sock"),
                           info("docker-desktop", "Docker Desktop"), rancher="containerd"), "Darwin")
    assert answered.problem == "" and answered.kind == "docker-desktop"


ROOTFUL = context("default", "unix:///run/podman/podman.sock")
ROOTLESS = context("default", "unix:///run/user/1000/podman/podman.sock")


def test_podman_is_told_apart_by_its_component_and_given_its_socket_as_docker_sock():
    found = decide(seen(ROOTFUL, info("deb", version="4.3.1", cgroup="1"), PODMAN))
    assert (found.kind, found.title, found.problem) == ("podman", "Podman 4.3.1", "")
    assert found.env == {"DOCKER_HOST": "unix:///run/podman/podman.sock", "DOCKER_SOCK": "/run/podman/podman.sock"}
    machine = decide(seen(context("podman-machine-default", "ssh://core@localhost:53685/run/user/501/podman/podman.sock"),
                          info("localhost.localdomain", "fedora", "5.2.0", rootless=True), PODMAN), "Darwin")
    assert machine.problem == "" and machine.title == "Podman 5.2.0, rootless"
    assert machine.env["DOCKER_SOCK"] == "/run/user/501/podman/podman.sock"


def test_podman_older_than_k3ds_minimum_is_refused():
    found = decide(seen(ROOTFUL, info("deb", version="3.4.4"), PODMAN))
    assert found.problem == ("k3d needs Podman 4 or newer (k3d.io, Using Podman); unix:///run/podman/podman.sock "
                             "is Podman 3.4.4: upgrade Podman")


def test_rootless_podman_needs_cgroup_v2_and_the_controllers_delegated():
    v1 = decide(seen(ROOTLESS, info("deb", version="4.3.1", cgroup="1", rootless=True), PODMAN))
    assert v1.problem.startswith("rootless Podman (unix:///run/user/1000/podman/podman.sock) runs k3d's nodes only "
                                 "on cgroup v2, and this engine runs cgroup v1: ")
    v2 = info("deb", version="4.3.1", cgroup="2", rootless=True)
    short = decide(seen(ROOTLESS, v2, PODMAN, delegated={"memory", "pids"}))
    assert short.problem == ("rootless Podman needs the cpu, cpuset, io cgroup controller(s) delegated to this user "
                             f"for k3d's nodes (k3d.io, Using Podman): {engine.DELEGATE}")
    assert decide(seen(ROOTLESS, v2, PODMAN, delegated={"cpu", "cpuset", "io", "memory", "pids"})).problem == ""
    assert decide(seen(ROOTLESS, v2, PODMAN)).problem == ""  # the user's cgroup not readable: not guessed


def test_commands_that_run_k3d_or_docker_carry_the_endpoint_found():
    state = K3dHostState(engine=decide(seen(ROOTFUL, info(version="4.3.1"), PODMAN)))
    assert as_user(state) == {**USER, "_env": {"DOCKER_HOST": "unix:///run/podman/podman.sock",
                                               "DOCKER_SOCK": "/run/podman/podman.sock"}}
    assert as_user(K3dHostState()) == USER


def test_status_names_the_engine_its_version_and_endpoint():
    row = {"docker": "running", "cluster": None, "nodes_ready": [],
           "engine": decide(seen(context("colima", f"unix://{HOME}/.colima/default/docker.sock"),
                                 info("colima"))).summary()}
    assert K3D.status_line(row) == f"k3d, Colima (Docker 27.4.0) at unix://{HOME}/.colima/default/docker.sock, no cluster"
    assert K3D.status_line({**row, "engine": None}) == "k3d, Docker running, no cluster"


FAKE_DOCKER = r"""#!/bin/sh
# docker as the CLI answers: the endpoint from DOCKER_HOST, else the context's (one context 'colima').
host=${DOCKER_HOST:-}
name=default
if [ -z "$host" ]; then
  name=${DOCKER_CONTEXT:-$(sed -n 's/.*"currentContext": *"\([^"]*\)".*/\1/p' "$DOCKER_CONFIG/config.json" 2>/dev/null)}
  name=${name:-default}
  case "$name" in
    default) host=unix:///var/run/nothing.sock ;;
    colima) host=unix://$HOME/.colima/default/docker.sock ;;
    *) echo "context \"$name\": context not found" >&2; exit 1 ;;
  esac
fi
case "$1 $2" in
  "context inspect") printf '{"Name":"%s","Endpoints":{"docker":{"Host":"%s"}},"TLSMaterial":{}}\n' "$name" "$host" ;;
  "info --format") [ "$host" = "$ANSWERS" ] || exit 1; echo '{"Name":"colima","ServerVersion":"27.4.0"}' ;;
  "version --format") [ "$host" = "$ANSWERS" ] || exit 1; echo '{"Components":[{"Name":"Engine"}]}' ;;
  *) exit 1 ;;
esac
"""


@pytest.fixture
def host_home(tmp_path):
    """A HOME with a fake docker on PATH, a Colima socket (bound: a real unix socket), Rancher
    Desktop's settings, and a docker config holding credentials next to its current context."""
    home = tmp_path / "h"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "docker").write_text(FAKE_DOCKER)
    (home / "bin" / "docker").chmod(0o755)
    (home / ".colima" / "default").mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(home / ".colima" / "default" / "docker.sock"))
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(
        '{\n\t"auths": {"registry.example": {"auth": "YW5uOnNlY3JldA=="}},\n\t"currentContext": "colima"\n}')
    (home / ".config" / "rancher-desktop").mkdir(parents=True)
    (home / ".config" / "rancher-desktop" / "settings.json").write_text(json.dumps({
        "version": 8, "containerEngine": {"allowedImages": {"enabled": False, "patterns": []}, "name": "moby"},
        "experimental": {"virtualMachine": {"proxy": {"password": "hunter2"}}}}))
    yield home
    listener.close()


def run_fact(home, **env) -> tuple[K3dHostState, str]:
    environment = {"PATH": f"{home / 'bin'}:/usr/bin:/bin", "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker"),
                   **env}
    out = subprocess.run(["sh", "-c", K3dHost().command(bin_dir=str(home / "nobin"))], capture_output=True,
                         text=True, env=environment, timeout=30)
    assert out.returncode == 0, out.stderr
    return K3dHost().process(out.stdout.splitlines()), out.stdout


def test_the_fact_reads_the_clis_context_and_engine_and_nothing_secret(host_home):
    answers = f"unix://{host_home}/.colima/default/docker.sock"
    state, printed = run_fact(host_home, ANSWERS=answers)
    assert state.docker == "running"
    assert (state.engine.kind, state.engine.context, state.engine.source, state.engine.endpoint) == \
        ("colima", "colima", "config.json", answers)
    assert "YW5uOnNlY3JldA" not in printed and "hunter2" not in printed
    assert "engine_rancher\tmoby" in printed.splitlines()


def test_the_fact_probes_the_engines_sockets_where_the_clis_endpoint_is_silent(host_home):
    answers = f"unix://{host_home}/.colima/default/docker.sock"
    state, _ = run_fact(host_home, ANSWERS=answers, DOCKER_CONTEXT="default")
    assert state.docker == "stopped"
    assert state.engine.problem.startswith("docker's endpoint (unix:///var/run/nothing.sock, from docker context "
                                           "'default' (DOCKER_CONTEXT)) does not answer, but Colima does at ")
    silent, _ = run_fact(host_home, ANSWERS="none", DOCKER_HOST="unix:///var/run/nothing.sock")
    assert silent.engine.problem == ("docker's endpoint (unix:///var/run/nothing.sock, from DOCKER_HOST) does not "
                                     "answer: colima start")
    missing, _ = run_fact(host_home, ANSWERS="none", DOCKER_CONTEXT="gone")
    assert missing.engine.problem.startswith("docker's context 'gone' (DOCKER_CONTEXT) cannot be used")


def test_rancher_desktops_engine_is_read_from_its_settings_old_and_new(host_home):
    settings = host_home / ".config" / "rancher-desktop" / "settings.json"
    (host_home / ".rd").mkdir()
    left = socket.socket(socket.AF_UNIX)  # the socket Rancher Desktop leaves on containerd (rancher-desktop#5641)
    left.bind(str(host_home / ".rd" / "docker.sock"))
    try:
        for text in ('{"version":4,"kubernetes":{"containerEngine":"containerd","memoryInGB":4}}',
                     json.dumps({"containerEngine": {"allowedImages": {"enabled": False}, "name": "containerd"}})):
            settings.write_text(text)
            state, _ = run_fact(host_home, ANSWERS="none", DOCKER_HOST=f"unix://{host_home}/.rd/docker.sock")
            assert state.engine.problem.startswith("the Docker engine here is Rancher Desktop's containerd"), text
    finally:
        left.close()


def test_a_rootless_engines_nodes_are_told_their_kubelet_runs_in_a_user_namespace():
    node = K3dHostRun(from_data({}, "@local"), Resolved("k3d", "v1.31.4+k3s1"))
    gate = {"arg": render.ROOTLESS_KUBELET, "nodeFilters": ["server:*", "agent:*"]}
    assert gate not in render.config_data(node.effective, node.version)["options"]["k3s"]["extraArgs"]
    node.state = K3dHostState(engine=decide(seen(ROOTLESS, info("deb", version="4.3.1", rootless=True), PODMAN,
                                                 delegated={"cpu", "cpuset", "io"})))
    assert gate in render.config_data(node.effective, node.version)["options"]["k3s"]["extraArgs"]
    own = replace(node.settings, k3s=replace(node.settings.k3s, extra_config={
        "kubelet-arg": ["feature-gates=KubeletInUserNamespace=true,Other=true"]}))
    args = render.config_data(replace(own, rootless=True), node.version)["options"]["k3s"]["extraArgs"]
    assert [a["arg"] for a in args] == ["--kubelet-arg=feature-gates=KubeletInUserNamespace=true,Other=true"]


def choice(platform: Platform):
    return choose("mac", platform, [(K3S, {}), (K3D, K3dSettings(Settings()))])


def test_the_runtime_choice_names_the_engine_and_refuses_with_the_engines_own_fix():
    colima = decide(seen(context("colima", f"unix://{HOME}/.colima/default/docker.sock"), info("colima")), "Darwin")
    chosen = choice(Platform("Darwin", "none", "password", "running", colima))
    assert chosen.reason.endswith(f"Docker is running: Colima (Docker 27.4.0) at unix://{HOME}/.colima/default/docker.sock")
    rancher = decide(seen(context("rancher-desktop", RANCHER), env={"currentContext": "rancher-desktop"},
                          sockets={f"{HOME}/.rd/docker.sock": {}}, rancher="containerd"), "Darwin")
    with pytest.raises(BadInput) as refused:
        choice(Platform("Darwin", "none", "password", "stopped", rancher))
    assert "and the Docker engine here is Rancher Desktop's containerd (nerdctl)" in str(refused.value)
    assert "start Docker Desktop" not in str(refused.value)
    old = decide(seen(ROOTFUL, info("deb", version="3.4.4"), PODMAN))
    with pytest.raises(BadInput, match="k3d needs Podman 4 or newer"):
        choice(Platform("Linux", "none", "root", "running", old))


def test_the_platform_fact_reads_the_engine_with_the_same_script(host_home):
    environment = {"PATH": f"{host_home / 'bin'}:/usr/bin:/bin", "HOME": str(host_home),
                   "DOCKER_CONFIG": str(host_home / ".docker"), "ANSWERS": f"unix://{host_home}/.colima/default/docker.sock"}
    out = subprocess.run(["sh", "-c", PlatformFact().command()], capture_output=True, text=True, env=environment,
                         timeout=30)
    facts = PlatformFact().process(out.stdout.splitlines())
    platform = Platform(**facts)
    assert (platform.system, platform.docker, platform.engine.kind, platform.engine.context) == \
        ("Linux", "running", "colima", "colima")
