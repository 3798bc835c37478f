"""What harmony prints: one JSON shape for every command, a few plain lines on a pipe, a live
display per phase on a terminal; and `deploys/k3s.py` still runs with the plain `pyinfra`."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

from tests.e2e.conftest import NEW

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PHASES = ["binary", "configure", "service", "start", "kubeconfig"]


def check_shape(report: dict, command: str) -> None:
    """The envelope every command's --json has (docs/output.md)."""
    assert report["command"] == command and report["cluster"] == "harmony"
    assert isinstance(report["ok"], bool) and isinstance(report["seconds"], (int, float))
    assert report["summary"]["hosts"] == len(report["hosts"]) == sum(
        n for status, n in report["summary"].items() if status != "hosts")
    for host in report["hosts"]:
        assert {"host", "status", "changes", "reason"} <= set(host)
        assert all(set(change) == {"phase", "step"} for change in host["changes"])


def test_every_command_prints_one_json_object_of_the_documented_shape(harmony, host):
    common = [host.target, "--ssh-key", str(harmony.ssh_key), "--kubeconfig-server", host.api_url, "--json"]
    release = harmony.release_args()
    plan = json.loads(harmony("plan", *common, *release).stdout)
    check_shape(plan, "plan")
    assert plan["hosts"][0]["status"] == "would change" and plan["ok"]

    up = harmony("up", *common, *release, "--yes")
    assert up.returncode == 0, up.stdout + up.stderr
    first = json.loads(up.stdout)
    check_shape(first, "up")
    (changed,) = first["hosts"]
    assert changed["status"] == "changed" and changed["reason"] is None
    assert [c["phase"] for c in changed["changes"]][0] == "binary"
    assert {p["phase"] for p in first["phases"]} >= set(PHASES)
    assert [n["ready"] for n in first["nodes"]] == [True]
    assert up.stderr.count("\n") <= 1  # the runtime's line: no progress where a program reads

    again = json.loads(harmony("up", *common, *release, "--yes").stdout)
    assert again["summary"] == {"hosts": 1, "changed": 0, "unchanged": 1, "failed": 0}
    assert all(p["changed"] == 0 and p["unchanged"] == 1 for p in again["phases"])

    for command, status in (("check", "as specified"), ("status", "healthy"), ("kubeconfig", "unchanged")):
        result = harmony(command, *common, *(release if command == "check" else ()))
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        check_shape(report, command)
        assert report["hosts"][0]["status"] == status and report["ok"]

    down = harmony("down", *common, "--yes")
    report = json.loads(down.stdout)
    check_shape(report, "down")
    assert report["hosts"][0]["status"] == "removed" and report["ok"]


def test_a_no_op_on_a_pipe_prints_a_few_plain_lines(harmony, host):
    assert harmony.up(host).returncode == 0
    again = harmony.up(host)
    assert again.returncode == 0, again.stdout + again.stderr
    out, err = again.stdout.splitlines(), again.stderr.splitlines()
    assert out[-1].startswith("1 host: 0 changed, 1 unchanged, 0 failed in ") and out[-1].endswith(" s")
    assert out[0].startswith("cluster 'harmony': 1 node(s) Ready") and len(out) == 2
    assert err[0].startswith("runtime: k3s")
    assert [line.split(":")[0] for line in err[1:]] == PHASES  # a line as each phase ends
    assert all(re.fullmatch(r"[a-z]+: 1/1 hosts \(\d+\.\d s\)", line) for line in err[1:])
    assert not ANSI.search(again.stdout + again.stderr)


def test_on_a_terminal_the_phases_are_drawn_live_and_end_done(harmony, host):
    primary, secondary = pty.openpty()
    args = ["up", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
            "--kubeconfig-server", host.api_url, "--yes"]
    run = subprocess.Popen([sys.executable, "-m", "harmony", *args], stdin=secondary, stdout=secondary,
                           stderr=secondary, env={**harmony.env(), "COLUMNS": "100"}, close_fds=True)
    os.close(secondary)
    screen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: harmony has ended
                break
            if not chunk:
                break
            screen += chunk
        elif run.poll() is not None:
            break
    os.close(primary)
    assert run.wait(timeout=30) == 0, screen.decode(errors="replace")
    text = screen.decode(errors="replace")
    assert "\x1b[" in text  # drawn in place, not printed line by line
    final = ANSI.sub("", re.sub(r"\x1b\[\d*A|\r", "\n", text))  # a redraw starts a new line
    for phase in PHASES:  # the last drawing of each phase: every host, done
        rows = re.findall(rf"^{phase}\s+(\d+)/1 hosts\s+[\d.]+ s\s+(\S+)", final, re.M)
        assert rows and rows[-1] == ("1", "done"), (phase, final[-2000:])
    assert "1 host: 1 changed, 0 unchanged, 0 failed in " in final


def test_deploys_k3s_runs_with_the_plain_pyinfra_command(harmony, host, tmp_path):
    command = [sys.executable, "-m", "pyinfra", "-y", "--json", "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
               "--ssh-port", str(host.ssh_port), "--data", f"k3s_version={NEW}",
               "--data", f"k3s_release_url={harmony.mirror.release_url}", "--data", "harmony_allow_http=true",
               "127.0.0.1", "deploys/k3s.py"]
    env = {**harmony.env(), "PYINFRA_PROGRESS": "off"}
    (harmony.home / ".ssh").mkdir(mode=0o700, exist_ok=True)  # pyinfra records the host's key there
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert host.is_active() and NEW in host.sh("k3s --version")
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    results = json.loads(again.stdout)["results"]["operations"]
    assert all(not op["success"] and not op["error"] for op in results)  # no changes (and no phase declares any)
