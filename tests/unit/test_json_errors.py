"""`--json` prints one object on every exit path: here the paths that end before a report
(bad input, exit 2; no host to read a runtime from, exit 1; a stop, exit 130) and the commands
that make no report of hosts (init, schema, bundle, lab down), through the real command line.
Every object is checked against the schema `harmony schema --report` prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from harmony import report

HARMONY = [sys.executable, "-m", "harmony"]
SCHEMA = Draft202012Validator(json.loads(report.SCHEMA.read_text()))


def parsed(result: subprocess.CompletedProcess) -> dict:
    """stdout as the one JSON object it must be, valid by the output's schema."""
    said = json.loads(result.stdout)
    SCHEMA.validate(said)
    return said


def run(tmp_path, *args: str, path: str = os.environ["PATH"]) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path), "PATH": path}
    return subprocess.run([*HARMONY, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)


@pytest.mark.parametrize("command", ["up", "plan", "check", "status", "down", "kubeconfig"])
def test_bad_input_prints_one_json_object_with_the_error(tmp_path, command):
    result = run(tmp_path, command, "local", "--yes" if command in ("up", "down") else "--json", "--json",
                 "--set", "k3s_version=nope")
    assert result.returncode == 2, result.stderr
    said = parsed(result)
    assert said == {"command": command, "ok": False, "exit": 2, "error": said["error"]}
    assert said["error"] in result.stderr and "k3s_version" in said["error"]


def test_a_subcommand_names_itself_in_its_object(tmp_path):
    result = run(tmp_path, "certs", "rotate", "local", "--yes", "--json", "--set", "k3s_version=nope")
    assert result.returncode == 2, result.stderr
    assert parsed(result)["command"] == "rotate"


def test_a_host_that_cannot_be_read_gets_an_object_too(tmp_path):
    result = run(tmp_path, "status", "root@127.0.0.1:1", "--json", "--ssh-host-keys", "off")
    assert result.returncode == 1, result.stderr
    said = parsed(result)
    assert (said["command"], said["ok"], said["exit"]) == ("status", False, 1)
    assert "cannot read its facts" in said["error"]


def test_a_usage_error_click_finds_prints_one_object_too(tmp_path):
    result = run(tmp_path, "status", "--json", "--nope")
    assert result.returncode == 2
    assert parsed(result) == {"command": "status", "ok": False, "exit": 2,
                              "error": "No such option '--nope'. Did you mean '--name'?"}
    assert "No such option '--nope'" in result.stderr


@pytest.mark.parametrize("args, command, error", [
    (["chek", "--json"], "harmony", "No such command 'chek'. Did you mean 'check'?"),
    (["--json"], "harmony", "No such option '--json'. Did you mean '--version'?"),
    (["certs", "rotte", "--json"], "certs", "No such command 'rotte'. Did you mean 'rotate'?"),
    (["certs", "--json"], "certs", "No such option '--json'."),
    (["lab", "nope", "--json"], "lab", "No such command 'nope'."),
])
def test_a_usage_error_before_any_command_prints_one_object_too(tmp_path, args, command, error):
    result = run(tmp_path, *args)
    assert result.returncode == 2
    assert parsed(result) == {"command": command, "ok": False, "exit": 2, "error": error}
    assert error in result.stderr


def test_shell_completion_after_a_misspelt_command_completes_and_raises_nothing(tmp_path):
    # Click completes with resilient parsing: a command it cannot find is no error there.
    script = Path(sys.executable).parent / "harmony"
    env = {**os.environ, "HOME": str(tmp_path), "_HARMONY_COMPLETE": "bash_complete",
           "COMP_WORDS": "harmony chek st", "COMP_CWORD": "2"}
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert "plain,status" in result.stdout.splitlines()


def test_init_says_what_it_wrote_or_why_not_in_one_object(tmp_path):
    result = run(tmp_path, "init", "--json", "--k3s-version", "v1.31.4+k3s1")
    assert result.returncode == 0, result.stderr
    assert parsed(result) == {"command": "init", "ok": True, "exit": 0, "file": str(tmp_path / "harmony.yaml")}
    again = run(tmp_path, "init", "--json")
    assert again.returncode == 2
    assert parsed(again)["error"] == f"{tmp_path / 'harmony.yaml'} exists: edit it, or add --force to write a new one over it"


def test_schema_prints_either_schema_whole_or_in_its_object(tmp_path):
    from harmony import project

    for args, schema in ((["schema"], project.schema()), (["schema", "--report"], SCHEMA.schema)):
        text, wrapped = run(tmp_path, *args), run(tmp_path, *args, "--json")
        assert text.returncode == wrapped.returncode == 0
        assert json.loads(text.stdout) == schema
        assert parsed(wrapped) == {"command": "schema", "ok": True, "exit": 0, "schema": schema}


def test_bundle_refuses_in_one_object_and_leaves_no_directory(tmp_path):
    result = run(tmp_path, "bundle", "out", "--json", "--k3s-version", "1.31")
    assert result.returncode == 2
    assert "expected a release tag like v1.31.4+k3s1" in parsed(result)["error"]
    assert not (tmp_path / "out").exists()


def test_a_stopped_bundle_prints_one_object_that_says_so(tmp_path):
    """A release site that accepts and never answers: the bundle waits on it until SIGTERM."""
    import signal
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        env = {**os.environ, "HOME": str(tmp_path)}
        with subprocess.Popen([*HARMONY, "bundle", "out", "--json", "--k3s-version", "v1.31.4+k3s1", "--allow-http",
                               "--release-url", url], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as bundle:
            server.settimeout(30)
            connection, _ = server.accept()  # the download began
            with connection:
                bundle.send_signal(signal.SIGTERM)
                out, err = bundle.communicate(timeout=30)
    assert bundle.returncode == 130, err
    said = json.loads(out)
    SCHEMA.validate(said)
    assert (said["command"], said["exit"], said["stopped"]) == ("bundle", 130, True)
    assert said["error"].startswith("stopped by SIGTERM") and said["error"] in err


@pytest.fixture
def lab_dir(tmp_path):
    """A directory with a Vagrantfile and a `vagrant` on PATH that exits with $VAGRANT_EXIT (or
    sleeps $VAGRANT_SLEEP seconds, until harmony ends it): the lab's own part (its exit code, its
    output) is under test, not Vagrant."""
    (tmp_path / "Vagrantfile").write_text("# the lab\n")
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "vagrant.py").write_text("servers = []\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vagrant").write_text('#!/bin/sh\necho "vagrant $*"\ntouch .vagrant-ran\n'
                                     '[ -z "$VAGRANT_SLEEP" ] || exec sleep "$VAGRANT_SLEEP"\nexit "${VAGRANT_EXIT:-0}"\n')
    (bin_dir / "vagrant").chmod(0o755)
    return tmp_path, f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_lab_down_prints_one_object_done_or_failed_and_vagrant_says_its_part_on_stderr(lab_dir, monkeypatch):
    directory, path = lab_dir
    done = run(directory, "lab", "down", "--json", path=path)
    assert done.returncode == 0, done.stderr
    assert parsed(done) == {"command": "down", "ok": True, "exit": 0, "cluster": "harmony-lab"}
    assert "vagrant destroy -f" in done.stderr
    monkeypatch.setenv("VAGRANT_EXIT", "1")
    failed = run(directory, "lab", "down", "--json", path=path)
    assert failed.returncode == 1
    assert parsed(failed)["error"] == "vagrant destroy failed (exit 1); see above"


def test_lab_without_vagrant_is_bad_input_in_one_object(tmp_path):
    result = run(tmp_path, "lab", "status", "--json", path="/nonexistent")
    assert result.returncode == 2
    assert "vagrant" in parsed(result)["error"].lower()


def test_a_ctrl_c_while_vagrant_runs_is_a_stop_in_one_object_not_a_traceback(lab_dir):
    import signal
    import time

    directory, path = lab_dir
    env = {**os.environ, "HOME": str(directory), "PATH": path, "VAGRANT_SLEEP": "30"}
    with subprocess.Popen([*HARMONY, "lab", "down", "--json"], cwd=directory, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as lab:
        deadline = time.monotonic() + 30
        while not (directory / ".vagrant-ran").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        lab.send_signal(signal.SIGINT)
        out, err = lab.communicate(timeout=30)
    assert lab.returncode == 130, err
    said = json.loads(out)
    SCHEMA.validate(said)
    assert (said["command"], said["stopped"]) == ("down", True)
    assert "Traceback" not in err and said["error"] in err
