"""Fixtures for the end-to-end suite: test hosts, the release mirror, and an isolated user.

Each test runs `harmony` as a user of its own (a temporary HOME, so its own ~/.kube/config and
~/.ssh/known_hosts) against hosts it starts, with every container removed afterwards, also when
the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harmony import releases
from harmony.k3d import settings as k3d_settings
from tests.e2e import hosts as test_hosts, tls
from tests.standin.mirror import Mirror

OLD, NEW = "v1.30.8+k3s1", "v1.31.4+k3s1"  # both are real k3s releases too
EXAMPLE = Path(__file__).parents[2] / "examples" / "shop"  # the worked example project
CHANNELS = {"stable": NEW, "latest": NEW, "v1.30": OLD, "v1.31": NEW}

# HARMONY_E2E_REAL=1: run the suite against the real k3s releases and channel server (needs the
# internet, and privileged containers for the real k3s); tests that inject mirror faults skip.
REAL = os.environ.get("HARMONY_E2E_REAL") == "1"
needs_mirror = pytest.mark.skipif(REAL, reason="injects faults into the test mirror")


@dataclass
class RealReleases:
    """The real release site and channel server, in place of the test mirror."""

    release_url: str = releases.DEFAULT_RELEASE_URL
    channel_url: str = releases.DEFAULT_CHANNEL_URL
    k3d_release_url: str = k3d_settings.DEFAULT_RELEASE_URL


def assert_untouched(host) -> None:
    """Nothing of k3s or harmony on the host."""
    for path in ("/usr/local/bin/k3s", "/etc/rancher/k3s", "/etc/systemd/system/k3s.service",
                 "/var/lib/harmony"):
        assert not host.exists(path), path


def until(condition, timeout: float = 15) -> bool:
    """Whether `condition()` comes true within `timeout` seconds (asked every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def interrupt_when(run: subprocess.Popen, ready, never: str, timeout: float, settle: float,
                   ends_within: float) -> tuple[str, str]:
    """SIGINT a spawned harmony `settle` seconds after `ready()` comes true (failing with `never`
    if it does not within `timeout`, or the run ends first); its stdout and stderr, once it has
    ended, within `ends_within` seconds. The run is killed if it is still there when this fails."""
    try:
        assert until(lambda: ready() or run.poll() is not None, timeout) and run.poll() is None, never
        time.sleep(settle)
        os.kill(run.pid, signal.SIGINT)
        return run.communicate(timeout=ends_within)
    finally:
        if run.poll() is None:
            run.kill()


def one_error_line(result) -> str:
    """The one line a refused command prints on stderr."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("harmony: error: ")
    return lines[0]


@pytest.fixture(scope="session", autouse=True)
def docker_hosts_available():
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("the end-to-end tests need a running Docker engine (see .ci/run)")
    test_hosts.ensure_images()
    test_hosts.remove_all()
    yield
    test_hosts.remove_all()


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory) -> Path:
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def start_mirror(directory: Path, **options) -> Mirror:
    """A release mirror on the Docker bridge's gateway, where the test hosts reach it: by
    default, one that redirects every download to expiring links on another origin, as
    github.com does."""
    return Mirror(directory, [OLD, NEW], CHANNELS, test_hosts.bridge_gateway(), **options).start()


@pytest.fixture(scope="session")
def mirror(tmp_path_factory):
    if REAL:
        yield RealReleases()
        return
    server = start_mirror(tmp_path_factory.mktemp("mirror"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def private_ca(tmp_path_factory) -> tls.PrivateCA:
    """A CA of the test's own, and a certificate it signs for the mirror's address."""
    return tls.make(tmp_path_factory.mktemp("ca"), test_hosts.bridge_gateway())


@pytest.fixture(scope="session")
def https_mirror(tmp_path_factory, private_ca):
    """The redirecting mirror on HTTPS, with a certificate of a private CA (a company's mirror)."""
    server = start_mirror(tmp_path_factory.mktemp("https-mirror"), tls=private_ca.server)
    yield server
    server.stop()


@pytest.fixture
def start_host(ssh_key):
    """Start test hosts: `start_host()` for a systemd host, `start_host(init="openrc")` for an
    OpenRC one, `start_host(init=None)` for one without init; `docker_args` for more `docker run`
    options."""
    started = []

    def start(init: str | None = "systemd", docker_args: tuple[str, ...] = ()) -> test_hosts.Host:
        host = test_hosts.start(ssh_key.with_suffix(".pub").read_text(), init=init, privileged=REAL,
                                docker_args=docker_args)
        started.append(host)
        return host

    yield start
    for host in started:
        host.remove()


@pytest.fixture
def host(start_host, request) -> test_hosts.Host:
    """A systemd host; under `@each_init`, one of each init system harmony supports."""
    return start_host(init=getattr(request, "param", "systemd"))


INITS = tuple(test_hosts.IMAGES)
# A test of one host that runs once under each init system (systemd, OpenRC).
each_init = pytest.mark.parametrize("host", INITS, indirect=True)


@dataclass
class Harmony:
    """Runs the `harmony` CLI as an isolated user, with the mirror and SSH key as defaults."""

    home: Path
    ssh_key: Path
    mirror: Mirror | RealReleases

    @property
    def kubeconfig(self) -> Path:
        return self.home / ".kube" / "config"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "XDG_"))}
        env["HOME"] = str(self.home)
        return env

    def __call__(self, *args: str, timeout: float = 300, env: dict | None = None, cwd: Path | None = None):
        return subprocess.run([sys.executable, "-m", "harmony", *args], capture_output=True,
                              text=True, timeout=timeout, env={**self.env(), **(env or {})},
                              stdin=subprocess.DEVNULL, cwd=cwd)

    def spawn(self, *args: str, cwd: Path | None = None) -> subprocess.Popen:
        """Start `harmony` without waiting, in a session of its own (to kill it whole)."""
        return subprocess.Popen([sys.executable, "-m", "harmony", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env(), cwd=cwd,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def release_args(self, version: str = NEW) -> list[str]:
        return ["--version", version, "--release-url", self.mirror.release_url, "--allow-http"]

    def up(self, host: test_hosts.Host, *extra: str, version: str = NEW):
        return self(
            "up", host.target, "--ssh-key", str(self.ssh_key), *self.release_args(version),
            "--kubeconfig-server", host.api_url, "--yes", *extra,
        )

    def up_cluster(self, inventory: Path, first_server: test_hosts.Host, *extra: str,
                   version: str = NEW, **kwargs):
        """`harmony up` over an inventory file; the controller reaches the API through the first
        server's published port (the registration address is on the Docker bridge)."""
        return self(
            "up", str(inventory), "--ssh-user", "root", "--ssh-key", str(self.ssh_key),
            *self.release_args(version), "--kubeconfig-server", first_server.api_url, "--yes",
            *extra, **kwargs,
        )

    def kubectl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
                              capture_output=True, text=True, timeout=60)


def write_inventory(path: Path, servers: dict, agents: dict | None = None, data: dict | None = None) -> Path:
    """A pyinfra inventory file: {host name: (test host, host data)} per group. Each host is
    reached on its published SSH port; the others reach a server at its bridge address."""

    def group(members: dict, server: bool) -> list:
        return [
            (name, {"ssh_hostname": "127.0.0.1", "ssh_port": h.ssh_port,
                    **({"k3s_server_address": h.ip} if server else {}), **extra})
            for name, (h, extra) in members.items()
        ]

    path.write_text(
        f"k3s_servers = ({group(servers, True)!r}, {data or {}!r})\n"
        f"k3s_agents = ({group(agents or {}, False)!r}, {data or {}!r})\n"
    )
    return path


@pytest.fixture
def harmony(tmp_path, ssh_key, mirror) -> Harmony:
    home = tmp_path / "home"
    home.mkdir()
    return Harmony(home, ssh_key, mirror)
