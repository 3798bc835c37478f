"""The Docker engine a k3d run uses is the one the user's `docker` reaches: through a
`DOCKER_HOST` socket and through a named `docker context`, as Colima sets them (its socket
~/.colima/PROFILE/docker.sock, its context "colima"). Each socket is a small proxy of the test's
in front of this machine's dockerd, counting the connections made through it, so the test sees
which endpoint harmony's commands (and the stand-in k3d's, which are the real docker CLI's) took.
One cluster serves every step."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e import hosts as test_hosts, test_k3d
from tests.e2e.conftest import NEW
from tests.e2e.test_k3d import containers, free_port

k3d_cluster = test_k3d.k3d_cluster  # the fixture, shared
pytestmark = test_k3d.pytestmark
DOCKERD = "/var/run/docker.sock"


class SocketProxy:
    """A unix socket at `path` that forwards every connection, both ways, byte for byte, to
    this machine's dockerd (so `docker exec`'s upgraded streams pass too), and counts them."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        assert len(str(path)) < 104, f"{path} is too long for a unix socket"
        self.path, self.connections, self._stop = path, 0, False
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(str(path))
        self._server.listen(64)
        self._server.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(DOCKERD)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._stop = True
        self._server.close()
        self._thread.join(timeout=5)
        self.path.unlink(missing_ok=True)


@pytest.fixture
def proxies(harmony):
    """Colima-shaped sockets in the test user's HOME: its default profile's and a profile 'work'."""
    made = [SocketProxy(harmony.home / ".colima" / profile / "docker.sock") for profile in ("default", "work")]
    yield made
    for proxy in made:
        proxy.close()


def engine_of(harmony, settings: list[str], env: dict) -> dict:
    status = harmony("status", "--json", *settings, env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    (row,) = json.loads(status.stdout)["hosts"]
    return row["engine"]


def test_engine_endpoints(harmony, mirror, k3d_cluster, proxies, tmp_path):
    colima, work = proxies
    found = ["--name", k3d_cluster, "--set", f"k3d_bin_dir={tmp_path / 'bin'}"]  # k3d chosen by itself here
    settings = [*found, "--version", NEW, "--set", f"k3d_release_url={mirror.k3d_release_url}", "--allow-http",
                "--set", f"k3d_api_port={free_port()}"]

    # DOCKER_HOST: the cluster is made through it, and status names it.
    by_host = {"DOCKER_HOST": colima.url}
    first = harmony("up", "--yes", *settings, env=by_host)
    assert first.returncode == 0, first.stdout + first.stderr
    version = test_hosts.docker("version", "-f", "{{.Server.Version}}").strip()
    assert f"Docker is running: Docker Engine {version} at {colima.url})" in first.stderr, first.stderr
    made, through = containers(k3d_cluster), colima.connections
    assert len(made) == 1 and through > 5 and work.connections == 0
    engine = engine_of(harmony, found, by_host)
    assert engine["endpoint"] == colima.url and engine["source"] == "DOCKER_HOST"
    assert engine["kind"] == "docker" and engine["version"] == version
    status = harmony("status", *found, env=by_host)
    assert f"k3d, Docker Engine {engine['version']} at {colima.url}, 1 server(s)" in status.stdout, status.stdout

    # A named context in the user's docker config (a private DOCKER_CONFIG: never this machine's
    # own ~/.docker): the same engine behind another socket, the same cluster, nothing changed.
    config = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    for args in (("context", "create", "colima", "--docker", f"host={work.url}"), ("context", "use", "colima")):
        made_context = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=30,
                                      env={**os.environ, **config})
        assert made_context.returncode == 0, made_context.stderr
    colima_before = colima.connections
    again = harmony("up", "--yes", *settings, env=config)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
    assert work.connections > 0 and colima.connections == colima_before
    engine = engine_of(harmony, found, config)
    assert (engine["endpoint"], engine["context"], engine["source"]) == (work.url, "colima", "config.json")

    # The CLI's endpoint answers nothing, Colima's socket does: refused with the command that
    # points docker there, when harmony chooses the runtime (exit 2) and when k3d is asked for
    # (its preflight fails the host), the cluster untouched.
    dead = {"DOCKER_HOST": f"unix://{tmp_path / 'none.sock'}"}
    said = (f"docker's endpoint ({dead['DOCKER_HOST']}, from DOCKER_HOST) does not answer, but Colima does at "
            f"{colima.path}; harmony uses the engine your docker uses: `docker context use colima` (or "
            f"`export DOCKER_HOST={colima.url}`), then run harmony again")
    chosen = harmony("up", "--yes", *settings, env=dead)
    assert chosen.returncode == 2 and said in chosen.stderr, chosen.stdout + chosen.stderr
    asked = harmony("up", "--yes", "--runtime", "k3d", *settings, env=dead)
    assert asked.returncode == 1 and said in asked.stdout, asked.stdout + asked.stderr
    assert containers(k3d_cluster) == made

    down = harmony("down", "--yes", *found, env=by_host)
    assert down.returncode == 0, down.stdout + down.stderr
    assert containers(k3d_cluster) == {}
