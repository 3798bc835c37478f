"""Which runtime a host gets: k3s under its init system, or k3s in Docker through k3d.

Decided from facts about the host (`harmony.facts.Platform`), never guessed: a Linux host with
systemd or OpenRC and root (or sudo) gets k3s; a host where Docker is the runtime (macOS, Windows, Linux
without an init system or without root) gets k3d, if its Docker engine answers. A user's choice
(`--runtime`, or `harmony_runtime` in the data) wins, but is checked against the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from harmony.errors import BadInput
from harmony.k3s.paths import INITS

RUNTIMES = ("k3s", "k3d")


@dataclass(frozen=True)
class Platform:
    system: str  # uname -s: Linux, Darwin, or MINGW64_NT-... / CYGWIN_NT-... / MSYS_NT-... on Windows
    init: str  # systemd | openrc | none
    root: str  # root | nopasswd | password | none: how the login user can become root
    docker: str  # running | stopped | absent: `docker info` as the login user

    @property
    def os(self) -> str:
        if self.system == "Linux":
            return "linux"
        if self.system == "Darwin":
            return "macos"
        return "windows" if self.system.upper().startswith(("MINGW", "CYGWIN", "MSYS", "WINDOWS")) else self.system


@dataclass(frozen=True)
class Choice:
    runtime: str
    reason: str


GET_DOCKER = {
    "linux": "install Docker (Debian/Ubuntu: sudo apt-get install docker.io; others: "
             "https://docs.docker.com/engine/install/) and start it",
    "macos": "install Docker Desktop (https://docs.docker.com/desktop/setup/install/mac-install/) "
             "or colima (brew install colima docker && colima start)",
    "windows": "install Docker Desktop with the WSL 2 backend "
               "(https://docs.docker.com/desktop/setup/install/windows-install/)",
}
START_DOCKER = {
    "linux": "start it (sudo systemctl start docker), and let this user use it "
             "(sudo usermod -aG docker $USER, then log in again) or connect as root",
    "macos": "start Docker Desktop (or colima start)",
    "windows": "start Docker Desktop",
}


def _k3s_problem(platform: Platform) -> str | None:
    if platform.os != "linux":
        return f"k3s runs on Linux, and this host runs {platform.system}"
    if platform.init not in INITS:
        return f"k3s needs an init system harmony supports (systemd or OpenRC), and this host has {platform.init}"
    if platform.root == "none":
        return "k3s needs root, and the login user is not root and has no sudo"
    return None


def _docker_problem(platform: Platform) -> str | None:
    how = platform.os if platform.os in GET_DOCKER else "linux"
    if platform.docker == "absent":
        return f"Docker is not installed: {GET_DOCKER[how]}"
    if platform.docker != "running":
        return f"Docker is installed but its engine does not answer: {START_DOCKER[how]}"
    return None


def can_install_docker(platform: Platform) -> bool:
    """harmony installs Docker from the distribution's packages (when asked) only where an init
    system can run it and the login user can become root."""
    return platform.os == "linux" and platform.init in INITS and platform.root != "none"


def choose(host: str, platform: Platform, install_docker: bool = False) -> Choice:
    """The runtime for `host` when none is asked for (an asked-for one is checked by its deploy's
    preflight), or BadInput saying what is missing and how to get it."""
    k3s_problem, docker_problem = _k3s_problem(platform), _docker_problem(platform)
    if docker_problem and platform.docker == "absent" and install_docker and can_install_docker(platform):
        docker_problem = None
    if not k3s_problem:
        return Choice("k3s", f"Linux with {platform.init} and root")
    if not docker_problem:
        return Choice("k3d", f"{k3s_problem}; Docker is running")
    raise BadInput(f"{host}: no runtime: {k3s_problem}, and {docker_problem[0].lower()}{docker_problem[1:]}")
