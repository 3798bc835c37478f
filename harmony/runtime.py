"""A runtime, and which one a host gets.

A runtime is how harmony runs a cluster on its hosts: k3s under the host's init system
(harmony.k3s.runtime) or k3s in Docker through k3d (harmony.k3d.runtime). Both implement
`Runtime`, and `harmony.runtimes` lists them in the order they are preferred: nothing outside a
runtime's package asks which one it is, the verbs' steps (harmony.steps) call its methods.

Which one is decided from facts about the host (`harmony.facts.Platform`), never guessed: the
first runtime that fits it (k3s: a Linux host with systemd or OpenRC and root or sudo; k3d: a
host whose Docker engine answers, as on macOS, Windows, Linux without an init system or without
root). A user's choice (`--runtime`, or `harmony_runtime` in the data) wins, but is checked by
its deploy's preflight against the same facts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harmony.engine import Engine
from harmony.errors import BadInput

INITS = ("systemd", "openrc")  # the init systems harmony runs k3s (and installs Docker) under


@dataclass(frozen=True)
class Platform:
    system: str  # uname -s: Linux, Darwin, or MINGW64_NT-... / CYGWIN_NT-... / MSYS_NT-... on Windows
    init: str  # systemd | openrc | none
    root: str  # root | nopasswd | password | none: how the login user can become root
    docker: str  # running | stopped | absent: `docker info` as the login user
    engine: Engine = Engine()  # which engine that is (`harmony.engine`), or why k3d cannot use it

    @property
    def os(self) -> str:
        if self.system == "Linux":
            return "linux"
        if self.system == "Darwin":
            return "macos"
        return "windows" if self.system.upper().startswith(("MINGW", "CYGWIN", "MSYS", "WINDOWS")) else self.system


@dataclass(frozen=True)
class Fit:
    """Whether a runtime can run on a host, and why (or why not, and how to get what is missing)."""

    ok: bool
    why: str
    # It cannot run now, but a cluster of it may be there, out of reach: its engine is installed
    # and does not answer (a laptop's Docker after a sleep or a reboot). `status` still reads it.
    asleep: bool = False


@dataclass(frozen=True)
class Api:
    """Where the controller finds a cluster's API, and which nodes it must list."""

    fetched: Path | None  # the kubeconfig its deploy fetched from a healthy server, if any
    url: str | None  # None: the fetched kubeconfig's own (k3d publishes the API itself)
    expected: set[str]  # node names known in advance
    count: int
    address: str = "127.0.0.1"  # the host's address, for an API published on all its addresses

    def url_for(self, fetched: dict) -> str:
        if self.url:
            return self.url
        server = str(((fetched.get("clusters") or [{}])[0].get("cluster") or {}).get("server", ""))
        return server.replace("://0.0.0.0:", f"://{self.address}:")


class Runtime(ABC):
    """How a runtime runs a cluster: its settings from the hosts' data, what the run resolves,
    its pyinfra deploys (`up`, `down`, `kubeconfig` in the module `deploys`), its status fact,
    how the controller reaches the API, and how status says what a host runs.

    `hosts` are `harmony.inventory.Host`s; `settings` is what `settings(hosts)` returned."""

    name: str
    deploys: str  # the module of its deploys, as pyinfra imports them
    image_deploy: str  # its deploy that sends a project's built images to the nodes that lack them

    @abstractmethod
    def check_data(self, host) -> None:
        """Refuse (BadInput, naming the host and key) the runtime's data keys of a host that
        are wrong: every host's, whatever runtime the run gets, before any is asked anything."""

    def hosts_problem(self, count: int) -> str | None:
        """Why the runtime cannot make one cluster of `count` hosts, if it cannot."""
        return None

    @abstractmethod
    def settings(self, hosts: list) -> Any:
        """The run's settings, checked (BadInput) before any connection."""

    @abstractmethod
    def fit(self, platform: Platform, settings: Any) -> Fit:
        """Whether it can run on a host of this platform."""

    def check_choice(self, hosts: list, settings: Any, reason: str) -> None:
        """Refuse (BadInput) what the hosts ask for that this runtime, chosen for `reason`, cannot do."""

    def bundle(self, settings: Any) -> str | None:
        """The airgap bundle the run installs from, if any (its images are the workloads' too)."""
        return None

    def bundled_builds(self, settings: Any, arch: str, names: list[str]) -> dict[str, str] | None:
        """The project's images (`names`) as the run's airgap bundle built them for linux/`arch`,
        where they were made: {name: content tag}; None where the run installs from no bundle."""
        return None

    @abstractmethod
    def resolve(self, hosts: list, settings: Any, pin: bool, whole: bool, offline: bool = False):
        """The run's `harmony.resolved.Resolved`: with `pin`, the version and the downloads'
        sha256 (the release must exist); unless `whole`, not the cluster the hosts make; with
        `offline` (plan, check), what a site that cannot be reached would tell left unknown."""

    @abstractmethod
    def api(self, hosts: list, settings: Any, resolved, ok: set[str], server: str | None,
            fetched: Callable[[Any], Path]) -> Api:
        """Where the cluster's API is, from the hosts in `ok` (`fetched(host)`: the kubeconfig
        fetched from it), at `server` where the user names one."""

    @property
    @abstractmethod
    def status_fact(self) -> type:
        """The pyinfra fact `status` reads on every host."""

    def fact_arguments(self, settings: Any) -> dict:
        return {}

    @abstractmethod
    def running(self, fact: dict, cluster: str) -> bool:
        """Whether the status fact shows the cluster running on the host."""

    @abstractmethod
    def status_row(self, host, fact: dict | None, nodes: dict, cluster: str, settings: Any) -> dict:
        """What status says of a host (`healthy`: running, its node(s) Ready), from its fact
        and the API's nodes by name; takes from `nodes` those the host is."""

    @abstractmethod
    def status_line(self, row: dict) -> str:
        """The status row of a reachable host, in words."""

    @abstractmethod
    def installed(self, row: dict) -> str:
        """The k3s release the host of a status row has ("" for none): what offline `plan` and
        `check` compare with the release asked for (`harmony.steps.known`)."""

    @abstractmethod
    def downloads(self, settings: Any, resolved, row: dict) -> list[str]:
        """What the host of a status row downloads for the run's release where it lacks it, with
        `harmony.resolved.VERSION` for a version not known (offline `plan`)."""

    def differences(self, row: dict) -> list[str]:
        """How what the host runs differs from what is installed on it, in words."""
        return []

    def ports(self, settings: Any, result: Any = None) -> tuple[str, ...] | None:
        """The host ports the cluster publishes, if it publishes its own (for the workloads' URLs),
        as the run's `result` (`harmony.runner.RunResult`) found them where there is one."""
        return None


@dataclass(frozen=True)
class Choice:
    runtime: Runtime
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


def docker_fix(system: str, docker: str) -> str | None:
    """Why a host of this `uname -s` cannot use Docker, which `docker info` finds `docker`
    (absent, stopped), and how to get it there or started; None where it runs."""
    how = Platform(system, "none", "none", docker).os
    if docker == "absent":
        return f"Docker is not installed: {GET_DOCKER.get(how, GET_DOCKER['linux'])}"
    if docker != "running":
        return f"Docker does not answer: {START_DOCKER.get(how, START_DOCKER['linux'])}"
    return None


def can_install_docker(platform: Platform) -> bool:
    """harmony installs Docker from the distribution's packages (when asked) only where an init
    system can run it and the login user can become root."""
    return platform.os == "linux" and platform.init in INITS and platform.root != "none"


def choose(host: str, platform: Platform, candidates: list[tuple[Runtime, Any]], reading: bool = False) -> Choice:
    """The first of the (runtime, settings) `candidates` that fits the host, when none is asked
    for; where none does and the verb only reads (`reading`), the first whose engine sleeps
    (`Fit.asleep`), for its cluster to be reported out of reach; else BadInput saying what each
    lacks and how to get it."""
    problems, asleep = [], None
    for candidate, settings in candidates:
        fit = candidate.fit(platform, settings)
        if fit.ok:
            return Choice(candidate, "; ".join([*problems, fit.why]))
        problems.append(fit.why)
        asleep = asleep or (Choice(candidate, fit.why) if fit.asleep and reading else None)
    if asleep:
        return asleep
    raise BadInput(f"{host}: no runtime: {', and '.join(p[0].lower() + p[1:] for p in problems)}")
