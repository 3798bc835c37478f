"""`--json` prints one object on every exit path: here the paths that end before a report
(bad input, exit 2; no host to read a runtime from, exit 1), through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HARMONY = [sys.executable, "-m", "harmony"]


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run([*HARMONY, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)


@pytest.mark.parametrize("command", ["up", "plan", "check", "status", "down", "kubeconfig"])
def test_bad_input_prints_one_json_object_with_the_error(tmp_path, command):
    result = run(tmp_path, command, "local", "--yes" if command in ("up", "down") else "--json", "--json",
                 "--set", "k3s_version=nope")
    assert result.returncode == 2, result.stderr
    said = json.loads(result.stdout)
    assert said == {"command": command, "ok": False, "exit": 2, "error": said["error"]}
    assert said["error"] in result.stderr and "k3s_version" in said["error"]


def test_a_subcommand_names_itself_in_its_object(tmp_path):
    result = run(tmp_path, "certs", "rotate", "local", "--yes", "--json", "--set", "k3s_version=nope")
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["command"] == "rotate"


def test_a_host_that_cannot_be_read_gets_an_object_too(tmp_path):
    result = run(tmp_path, "status", "root@127.0.0.1:1", "--json", "--ssh-host-keys", "off")
    assert result.returncode == 1, result.stderr
    said = json.loads(result.stdout)
    assert (said["command"], said["ok"], said["exit"]) == ("status", False, 1)
    assert "cannot read its facts" in said["error"]
