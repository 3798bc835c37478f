"""A k3d cluster through what a laptop does to it (issue #27: sleep, reboot, an engine restart):
its containers stopped, then its Docker engine stopped and started again. `status` says each
state, with `--json` in its fields, and `up` brings the cluster back, then does nothing.

The engine is a second dockerd of this test's own (its socket, data root, exec root and pidfile
in a temporary directory), never this machine's: harmony, k3d and docker reach it through
DOCKER_HOST, as the docker CLI takes it. Its default bridge is an interface the test makes with
an address of its own: `--bip` would reconfigure docker0, which the main engine owns, and dockerd
deletes docker0 where it starts with `--bridge=none`, or starts again over its own data root with
a `--default-address-pool` (moby's daemon_unix.go, "Clear stale bridge network"): the pool (a
subnet of its own for the cluster's network, which the main engine cannot be choosing at the same
moment) is given to its first start only, and every start checks that docker0 is still there. With `--iptables=false` it leaves the
main engine's rules alone; its published ports work through docker-proxy on 127.0.0.1, but its
containers do not reach one another (this machine's FORWARD policy drops what crosses a bridge
that engine does not know), so the cluster is one server, whose only peer is Docker's gateway."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.e2e import test_k3d
from tests.e2e.conftest import NEW, REAL, until
from tests.e2e.test_k3d import free_port

k3d_cluster = test_k3d.k3d_cluster  # the fixture, shared
pytestmark = [test_k3d.pytestmark, pytest.mark.skipif(REAL, reason="loads the stand-in k3s image into its engine")]


class Engine:
    """A dockerd of the test's own, stopped and started again as the test says."""

    def __init__(self, root: Path, bridge: str, pool: str):
        self.root, self.bridge, self.pool, self.process = root, bridge, pool, None

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def docker(self, *args: str, timeout: float = 60, check: bool = True, **kwargs) -> str:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "DOCKER_HOST": self.host}, **kwargs)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])}... on the test's engine: {result.stderr.strip()}")
        return result.stdout.strip()

    def answers(self) -> bool:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30,
                              env={**os.environ, "DOCKER_HOST": self.host}).returncode == 0

    def start(self) -> None:
        had_docker0 = docker0()
        first = [] if (self.root / "data").exists() else ["--default-address-pool", f"base={self.pool},size=24"]
        with open(self.root / "dockerd.log", "ab") as log:
            self.process = subprocess.Popen(
                ["dockerd", "-H", self.host, "--data-root", f"{self.root}/data", "--exec-root", f"{self.root}/exec",
                 "--pidfile", f"{self.root}/docker.pid", f"--bridge={self.bridge}", "--iptables=false",
                 "--ip6tables=false", *first],
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        if not until(lambda: self.answers() or self.process.poll() is not None, 60) or self.process.poll() is not None:
            raise RuntimeError(f"the test's dockerd did not answer: {self.log()}")
        assert docker0() or not had_docker0, "the test's dockerd deleted the main engine's docker0"

    def stop(self) -> None:
        """SIGTERM, as a laptop's shutdown stops it, and wait; SIGKILL after a minute."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-2000:]


def docker0() -> bool:
    return subprocess.run(["ip", "link", "show", "docker0"], capture_output=True, timeout=30).returncode == 0


def bridges() -> dict[str, list[str]]:
    """This machine's bridge interfaces, each with its IPv4 addresses."""
    listed = subprocess.run(["ip", "-j", "addr", "show", "type", "bridge"], capture_output=True, text=True,
                            check=True, timeout=30).stdout
    return {link["ifname"]: [a["local"] for a in link.get("addr_info", []) if a.get("family") == "inet"]
            for link in json.loads(listed or "[]") if "ifname" in link}


def free_subnet() -> int:
    """A third octet N where neither 10.213.N.0/24 (the test's bridge) nor 10.214.N.0/24 (its
    engine's pool) is on any interface: a pool that overlaps a route is no pool to dockerd."""
    taken = {address.split(".")[2] for addresses in bridges().values() for address in addresses
             if address.startswith(("10.213.", "10.214."))}
    start = int(uuid.uuid4().hex[:2], 16)  # two tests' engines at once: most likely apart
    return next(n for n in ((start + i) % 250 + 1 for i in range(250)) if str(n) not in taken)


def remove_bridges(pool: str, networks: list[str]) -> None:
    """Delete the bridges the test's engine made for its networks: Docker's `br-<ID[:12]>` of
    each of its `networks` (as it listed them, where it still answered), and any bridge with an
    address in its `pool` (10.214.N.0/24, where it did not). Its data root goes with the test,
    and with it the engine's record of them: no dockerd would ever remove them, and a later
    engine whose pool overlaps one would find no pool at all."""
    prefix = pool.rsplit(".", 1)[0] + "."
    for name, addresses in bridges().items():
        if name in {f"br-{network[:12]}" for network in networks} or any(a.startswith(prefix) for a in addresses):
            subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=30)


@pytest.fixture
def engine():
    """The test's own dockerd, running, holding the stand-in k3s image (the main engine's, as
    `k3d_cluster` built it); removed with everything in it, also when the test fails."""
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        pytest.skip("a second dockerd needs root and the dockerd binary")
    root = Path(tempfile.mkdtemp(prefix="hrec-", dir="/tmp"))  # short: unix socket paths are
    bridge = f"hrec{uuid.uuid4().hex[:8]}"
    subnet = free_subnet()
    started = Engine(root, bridge, f"10.214.{subnet}.0/24")
    try:
        # In memory: the image's files are written once and dropped at once (on disk, deleting
        # them took 15 s, about as long as the rest of the engine's part).
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g,mode=0700", "harmony-e2e-engine", str(root)],
                       check=True, timeout=30)
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True, timeout=30)
        subprocess.run(["ip", "addr", "add", f"10.213.{subnet}.1/24", "dev", bridge], check=True, timeout=30)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True, timeout=30)
        started.start()
        yield started
    finally:
        networks = []
        if started.process is not None and started.process.poll() is None:
            ids = started.docker("ps", "-aq", check=False).split()
            if ids:
                started.docker("rm", "-f", *ids, check=False, timeout=120)
            networks = started.docker("network", "ls", "-q", "--no-trunc", "--filter", "driver=bridge",
                                      check=False).split()
        started.stop()
        if started.process is not None:
            try:
                os.killpg(started.process.pid, signal.SIGKILL)  # its containerd, should it outlive it
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=30)
        remove_bridges(started.pool, networks)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1] == str(root) or line.split()[1].startswith(f"{root}/")]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], timeout=30)
        root.rmdir()


def test_status_tells_and_up_brings_back_a_stopped_cluster_and_one_through_an_engine_restart(
        harmony, mirror, k3d_cluster, engine, tmp_path):
    image = f"rancher/k3s:{NEW.replace('+', '-')}"
    saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    engine.docker("load", stdin=saved.stdout, timeout=300)
    assert saved.wait(timeout=60) == 0
    env = {"DOCKER_HOST": engine.host}
    bin_dir, port = tmp_path / "bin", free_port()
    settings = ["--version", NEW, "--name", k3d_cluster, "--set", f"k3d_release_url={mirror.k3d_release_url}",
                "--allow-http", "--set", f"k3d_bin_dir={bin_dir}", "--set", f"k3d_api_port={port}",
                "--set", "k3d_ingress_ports=false"]
    server = f"k3d-{k3d_cluster}-server-0"

    def status() -> tuple[int, dict]:
        result = harmony("status", "--json", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}", env=env)
        (row,) = json.loads(result.stdout)["hosts"]
        return result.returncode, row

    def aliased() -> bool:
        return "host.k3d.internal" in engine.docker("exec", server, "cat", "/etc/hosts")

    def brought_back(step: str) -> None:
        """up does `step`, and status finds the cluster healthy again, host.k3d.internal back."""
        up = harmony("up", "--yes", *settings, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"{step} the k3d cluster {k3d_cluster}" in up.stdout, up.stdout
        code, row = status()
        assert code == 0 and row["healthy"] and aliased(), row

    up = harmony("up", "--yes", *settings, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert engine.docker("ps", "-q", "--filter", f"name={server}") and aliased()
    assert not subprocess.run(["docker", "ps", "-aq", "--filter", f"label=k3d.cluster={k3d_cluster}"],
                              capture_output=True, text=True, timeout=60).stdout.strip()  # not on the main engine
    code, row = status()
    assert code == 0 and (row["state"], row["down"], row["lost"], row["healthy"]) == ("running", [], [], True), row

    # Its containers stopped (`docker stop`: Docker leaves them stopped, whatever their restart policy).
    engine.docker("stop", server)
    code, row = status()
    assert code == 0 and (row["state"], row["down"], row["healthy"]) == ("stopped", [server], False), row
    assert row["lost"] == [f"port 127.0.0.1:{port}->6443/tcp"]
    brought_back("Start")

    # The engine stopped: status says so, and exits as for a host it cannot reach.
    engine.stop()
    code, row = status()
    assert code == 1 and (row["status"], row["state"]) == ("unreachable", "engine not answering"), row
    assert row["reason"].startswith("Docker does not answer: start it")
    text = harmony("status", "--name", k3d_cluster, "--set", f"k3d_bin_dir={bin_dir}", env=env)
    assert text.returncode == 1 and "@local: unreachable: Docker does not answer: start it" in text.stdout, text.stdout

    # The engine back: Docker starts the node again itself (k3d's restart policy), with an
    # /etc/hosts of its own making, without host.k3d.internal (k3d-io/k3d#1221).
    engine.start()
    assert until(lambda: engine.docker("ps", "-q", "--filter", f"name={server}", check=False) != "", 60)
    assert not aliased()
    code, row = status()
    assert code == 0 and (row["state"], row["down"], row["healthy"]) == ("running", [], False), row
    assert row["lost"] == [f"host.k3d.internal in {server}'s /etc/hosts"]
    brought_back("Restart (host.k3d.internal lost)")
    again = harmony("up", "--yes", *settings, env=env)
    assert again.returncode == 0 and "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout, again.stdout
