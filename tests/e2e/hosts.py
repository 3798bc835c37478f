"""Test hosts: Debian + sshd containers with systemd or OpenRC as init (or none), reached only
through ports on 127.0.0.1.

Each host publishes its SSH port and the k3s API port on 127.0.0.1; the containers reach each
other, and the release mirror on the bridge's gateway address, over the Docker bridge.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

IMAGES = {"systemd": "harmony-host:bookworm", "openrc": "harmony-host:bookworm-openrc"}
IMAGE = IMAGES["systemd"]  # also the image of hosts without init, which run sshd alone
LABEL = "harmony-e2e"
OWNER_LABEL = f"{LABEL}.owner"  # the process that started a host: its hosts are its own to remove
BUILD_SCRIPT = Path(__file__).parents[2] / "harmony" / "lab" / "host-image.sh"
SYSTEMD_RUN = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
]


def docker(*args: str, timeout: float = 60, input: str | None = None, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                            input=input)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}... failed: {result.stderr.strip()}")
    return result.stdout.strip()


def ensure_images() -> None:
    """Build the host images where missing or built by an older recipe (the script knows)."""
    for init in IMAGES:
        subprocess.run(["bash", str(BUILD_SCRIPT), f"--init={init}"], check=True, timeout=900)


def bridge_gateway() -> str:
    """The machine's own address on the Docker bridge: where the test mirror listens."""
    return docker("network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}") \
        or _docker0_address()


def _docker0_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True,
                         text=True, check=True).stdout
    return out.split()[3].split("/")[0]


@dataclass
class Host:
    """A running test host."""

    name: str
    ssh_port: int
    api_port: int
    ip: str  # on the Docker bridge
    init: str | None = "systemd"  # or openrc, or None

    @property
    def target(self) -> str:
        return f"root@127.0.0.1:{self.ssh_port}"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def sh(self, command: str, check: bool = True, timeout: float = 60) -> str:
        return docker("exec", self.name, "sh", "-c", command, timeout=timeout, check=check)

    def write(self, path: str, text: str) -> None:
        docker("exec", "-i", self.name, "sh", "-c", f"cat > {path}", input=text)

    def journal(self, unit: str = "k3s") -> list[tuple[int, str]]:
        """The unit's log lines with their CLOCK_MONOTONIC times (µs), which the host's
        ActiveEnterTimestampMonotonic uses too (all test hosts share this machine's kernel)."""
        out = self.sh(f"journalctl -u {unit} -o json --no-pager")
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [(int(e["__MONOTONIC_TIMESTAMP"]), str(e.get("MESSAGE", ""))) for e in entries]

    def exists(self, path: str) -> bool:
        return subprocess.run(["docker", "exec", self.name, "test", "-e", path],
                              capture_output=True, timeout=30).returncode == 0

    def started_at(self, unit: str = "k3s") -> int:
        """When the service last (re)started, to compare with other times of the same host's
        init: systemd's monotonic µs, or (OpenRC) the supervisor's pidfile's mtime in ns."""
        if self.init == "openrc":
            return int(self.sh(f"stat -c %.9Y /var/run/{unit}.pid").replace(".", ""))
        return int(self.sh(f"systemctl show -p ActiveEnterTimestampMonotonic --value {unit}"))

    def stop(self, unit: str = "k3s") -> None:
        self.sh(f"rc-service {unit} stop" if self.init == "openrc" else f"systemctl stop {unit}")

    def unit_file(self, unit: str = "k3s") -> str:
        return f"/etc/init.d/{unit}" if self.init == "openrc" else f"/etc/systemd/system/{unit}.service"

    def env_file(self, unit: str = "k3s") -> str:
        return f"/etc/rancher/k3s/{unit}.env" if self.init == "openrc" else f"/etc/systemd/system/{unit}.service.env"

    def is_active(self, unit: str = "k3s") -> bool:
        if self.init == "openrc":
            return subprocess.run(["docker", "exec", self.name, "rc-service", unit, "status"],
                                  capture_output=True, timeout=30).returncode == 0
        return self.sh(f"systemctl is-active {unit}", check=False) == "active"

    def leftovers(self) -> str:
        """harmony's temporary and staged files anywhere on the host (a half-done write or
        download, an upload not yet moved, a new file waiting for its node's turn)."""
        return self.sh("find / -xdev \\( -name '*.harmony-*' -o -path '/var/lib/harmony/staging/*' \\) 2>/dev/null",
                       check=False)

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)

    def kill(self) -> None:
        docker("kill", self.name)

    def revive(self) -> None:
        """Start a killed host again: Docker may publish its ports on new numbers."""
        docker("start", self.name)
        self.ssh_port, self.api_port = _port(self.name, 22), _port(self.name, 6443)
        _wait_for_ssh(self)


def start(public_key: str, init: str | None = "systemd", privileged: bool = False, prefix: str = "h",
          docker_args: tuple[str, ...] = (), publish_ssh: bool = True) -> Host:
    """Start a host with `init` (systemd, openrc, or None: sshd alone), with `docker_args` for
    `docker run`, and wait (bounded) until it takes SSH logins with `public_key`. Without
    `publish_ssh`, its SSH port is not published (ssh_port 0): only the bridge reaches it."""
    name = f"{LABEL}-{prefix}-{uuid.uuid4().hex[:8]}"
    command = ["/sbin/init"] if init else ["sh", "-c", "mkdir -p /run/sshd && ssh-keygen -A && exec /usr/sbin/sshd -D"]
    docker("run", "-d", "--name", name, "--hostname", name[-12:], "--label", LABEL,
           "--label", f"{OWNER_LABEL}={os.getpid()}",
           *(SYSTEMD_RUN if init else []), *(["--privileged"] if privileged else []), *docker_args,
           *(["-p", "127.0.0.1::22"] if publish_ssh else []), "-p", "127.0.0.1::6443",
           IMAGES.get(init or "", IMAGE), *command)
    try:
        docker("exec", "-i", name, "sh", "-c",
               "mkdir -p -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys", input=public_key)
        host = Host(name, _port(name, 22) if publish_ssh else 0, _port(name, 6443),
                    docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name),
                    init)
        _wait_for_ssh(host)
        return host
    except BaseException:
        docker("rm", "-f", name, check=False)
        raise


def _port(name: str, port: int) -> int:
    return int(docker("port", name, f"{port}/tcp").splitlines()[0].rsplit(":", 1)[1])


def _wait_for_ssh(host: Host, timeout: float = 60) -> None:
    """Until sshd answers with its banner through the published port, as harmony will reach it
    (a host without one: until sshd listens inside it)."""
    deadline = time.monotonic() + timeout
    if not host.ssh_port:
        while time.monotonic() < deadline:
            if host.sh("bash -c 'head -c 4 < /dev/tcp/127.0.0.1/22'", check=False).startswith("SSH-"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{host.name}: sshd not listening after {timeout}s")
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", host.ssh_port), timeout=5) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{host.name}: sshd not answering on 127.0.0.1:{host.ssh_port} after {timeout}s")


def remove_all() -> None:
    """Remove this process's test hosts, and those a run that is no longer alive left behind;
    not those of another test run going on beside this one."""
    listed = docker("ps", "-a", "--filter", f"label={LABEL}", "--format",
                    f'{{{{.ID}}}} {{{{.Label "{OWNER_LABEL}"}}}}', check=False)
    ids = [cid for cid, _, owner in (line.partition(" ") for line in listed.splitlines())
           if owner == str(os.getpid()) or not _alive(owner)]
    if ids:
        docker("rm", "-f", *ids, check=False, timeout=120)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # someone else's process, alive
        return True
    return True


def k3s_image(version: str, binary: bytes) -> str:
    """The image k3d runs for a k3s version (`rancher/k3s:<tag>`), built here around the stand-in
    k3s from the test-host image, as the real one cannot be pulled. Rebuilt when the stand-in
    changes (its hash is a label)."""
    tag = f"rancher/k3s:{version.replace('+', '-')}"
    digest = hashlib.sha256(binary).hexdigest()
    current = docker("image", "inspect", "-f", '{{index .Config.Labels "harmony.standin"}}', tag, check=False)
    if current == digest:
        return tag
    container = docker("create", IMAGE)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "k3s"
            path.write_bytes(binary)
            path.chmod(0o755)
            docker("cp", str(path), f"{container}:/usr/local/bin/k3s")
        docker("commit", "--change", 'ENTRYPOINT ["/usr/local/bin/k3s"]', "--change", 'CMD ["server"]',
               "--change", f"LABEL harmony.standin={digest}", container, tag)
    finally:
        docker("rm", "-f", container, check=False)
    return tag


def remove_k3d_cluster(name: str) -> None:
    """Remove a k3d cluster's containers and network, whatever state a test left them in."""
    ids = docker("ps", "-aq", "--filter", f"label=k3d.cluster={name}", check=False).split()
    if ids:
        docker("rm", "-f", *ids, check=False, timeout=120)
    docker("network", "rm", f"k3d-{name}", check=False)
