"""`harmony up --watch`: once up, a saved change of the project's code is built by the real
Docker engine, sent to the k3s node (which reaches no registry) and rolled, in one line; a
SIGINT between cycles ends it at once, exit 130, without a traceback."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time

import yaml

from tests.e2e import test_own_images
from tests.e2e.test_own_images import NO_REGISTRY, write_project

base_image = test_own_images.base_image  # the fixture


class Output:
    """A process's stdout and stderr, read to the end by threads (a full pipe would stop it),
    stdout's lines also handed out as they come."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: queue.Queue = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.threads = [threading.Thread(target=self._read, args=(process.stdout, self.stdout, True), daemon=True),
                        threading.Thread(target=self._read, args=(process.stderr, self.stderr, False), daemon=True)]
        for thread in self.threads:
            thread.start()

    def _read(self, stream, kept: list[str], hand_out: bool) -> None:
        for line in stream:
            kept.append(line)
            if hand_out:
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, process: subprocess.Popen, timeout: float) -> re.Match:
        """The first line of stdout from now on that `pattern` matches (re.search), within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = re.search(pattern, self.lines.get(timeout=1))
            except queue.Empty:
                if process.poll() is not None:
                    break
                continue
            if found:
                return found
        raise AssertionError(f"never saw {pattern!r} (exit {process.poll()}):\n{''.join(self.stdout)}\n"
                             f"{''.join(self.stderr)[-3000:]}")


def deployed_image(harmony) -> str:
    deployment = json.loads(harmony.kubectl("--context", "own", "get", "deployment", "web", "-o", "json").stdout)
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_saved_change_is_built_sent_and_rolled_until_a_stop(host, harmony, base_image, tmp_path):
    host.sh(f"touch {NO_REGISTRY}")
    root = tmp_path / "own"
    write_project(root, host, harmony, base_image)
    spec = yaml.safe_load((root / "harmony.yaml").read_text())  # its one Deployment only: nothing else to wait for
    spec["workloads"] = [w for w in spec["workloads"] if w["name"] == "web"]
    (root / "harmony.yaml").write_text(yaml.safe_dump(spec))
    process = harmony.spawn("up", "--yes", "--watch", cwd=root)
    try:
        output = Output(process)
        output.wait_for(r"^watching .* \(Ctrl-C to stop\)$", process, timeout=600)
        first = deployed_image(harmony)
        assert first.startswith("web:harmony-"), first

        (root / "web" / "index.html").write_text("<h1>hello, watched</h1>\n")
        line = output.wait_for(r"^web: rebuilt in [\d.]+ s \((harmony-[0-9a-f]{12})\), shipped [\d.]+ MB to 1 node, "
                               r"rolled out in [\d.]+ s$", process, timeout=300)
        tag = line.group(1)
        assert f"web:{tag}" != first and deployed_image(harmony) == f"web:{tag}"
        assert f"docker.io/library/web:{tag}" in host.sh("k3s ctr -n k8s.io images ls -q").split()

        time.sleep(1)  # between cycles
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 130
        for thread in output.threads:
            thread.join(timeout=10)
        stderr = "".join(output.stderr)
        assert "Traceback" not in stderr and "stopped by SIGINT" in stderr.splitlines()[-1], stderr[-2000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
