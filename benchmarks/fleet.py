"""Times harmony over a fleet of N test hosts: one server and N-1 agents.

    .venv/bin/python -m benchmarks.fleet 10

Starts N systemd test hosts (as the e2e tests do: containers reached through 127.0.0.1 ports),
serves the stand-in k3s from the test mirror, and prints wall times for: a cold `harmony up`,
three no-op `harmony up` runs, and three no-op runs of the plain `pyinfra` deploy. Every host is
removed at the end, also on failure. Needs what `bash tests/setup.sh` installs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e import hosts as test_hosts
from tests.e2e.conftest import CHANNELS, NEW, OLD, write_inventory
from tests.standin.mirror import Mirror


def timed(command: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr[-3000:]}")
    return time.monotonic() - start, result


def main(count: int) -> None:
    test_hosts.ensure_image()
    work = Path(tempfile.mkdtemp(prefix="harmony-bench-"))
    (work / "home").mkdir()
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    env = {**os.environ, "HOME": str(work / "home")}
    mirror = Mirror(work / "mirror", [OLD, NEW], CHANNELS, test_hosts.bridge_gateway()).start()
    fleet: list[test_hosts.Host] = []
    try:
        for _ in range(count):
            fleet.append(test_hosts.start(key.with_suffix(".pub").read_text()))
        server, agents = fleet[0], fleet[1:]
        inventory = write_inventory(work / "fleet.py", servers={"s1": (server, {})},
                                    agents={f"a{i}": (h, {}) for i, h in enumerate(agents, 1)})
        connection = ["--ssh-user", "root", "--ssh-key", str(key)]
        up = [sys.executable, "-m", "harmony", "up", str(inventory), *connection, "--version", NEW,
              "--release-url", mirror.release_url, "--allow-http", "--kubeconfig-server", server.api_url,
              "--yes"]
        pyinfra = [sys.executable, "-m", "pyinfra", "-y", *connection, "--data", f"k3s_version={NEW}",
                   "--data", f"k3s_release_url={mirror.release_url}", "--data", "harmony_allow_http=true",
                   str(inventory), "deploys/k3s.py"]
        cold, _ = timed(up, env)
        print(f"hosts: {count} (1 server, {count - 1} agents)")
        print(f"harmony up, cold:            {cold:6.1f} s")
        for label, command in (("harmony up, no-op:", up), ("pyinfra deploys/k3s.py, no-op:", pyinfra)):
            runs = []
            for _ in range(3):
                seconds, result = timed(command, env)
                if command is up and result.stdout.count(": unchanged") != count:
                    sys.exit(f"a no-op run changed something:\n{result.stdout}")
                runs.append(seconds)
            print(f"{label:<29}{min(runs):6.1f} s (best of 3; all: {', '.join(f'{r:.1f}' for r in runs)})")
    finally:
        for host in fleet:
            host.remove()
        mirror.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
