"""The controller's own system (`harmony.controller`) and the local connector
(`harmony.localconnect`): each choice made for Linux, macOS and Windows, with the system
simulated; what can run here runs for real (process groups ended, the connector's commands and
file copies in this machine's sh, Git for Windows' sh found from a `git` on PATH)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.command import QuoteString, StringCommand

from harmony import controller, localconnect, runlock, runner
from harmony.controller import CREATE_NEW_PROCESS_GROUP, CTRL_BREAK_EVENT, SIGBREAK, Controller
from harmony.errors import BadInput

LINUX, MACOS, WINDOWS = Controller("linux"), Controller("macos"), Controller("windows")


# What runs a POSIX process or sh script for real runs on Linux and macOS; on a Windows runner
# (.github/workflows/desktop.yml) the local connector's tests run in Git for Windows' sh.
posix = pytest.mark.skipif(os.name == "nt", reason="a POSIX process, signal or sh script")


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not), as `ps` shows it on Linux and macOS."""
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


def wait_until(condition, seconds: float = 10) -> bool:
    until = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.05)
    return True


def test_the_stop_signals_are_those_each_system_delivers():
    assert LINUX.stop_signals == MACOS.stop_signals == (signal.SIGINT, signal.SIGTERM)
    assert WINDOWS.stop_signals == (signal.SIGINT, SIGBREAK)  # no SIGTERM reaches a Windows process


def test_how_children_are_grouped_on_each_system():
    for posix in (LINUX, MACOS):
        assert posix.own_group() == {"start_new_session": True}
    assert WINDOWS.own_group() == {"creationflags": CREATE_NEW_PROCESS_GROUP}
    assert not WINDOWS.needs_sudo()
    assert LINUX.environment("/bin/sh") is MACOS.environment("/bin/sh") is None  # harmony's own
    path = WINDOWS.environment("C:/Program Files/Git/usr/bin/sh.exe")["PATH"]
    assert path == os.pathsep.join(("C:/Program Files/Git/usr/bin", os.environ["PATH"]))
    if hasattr(os, "geteuid"):
        assert LINUX.needs_sudo() == (os.geteuid() != 0)


@posix
def test_a_group_is_asked_to_end_and_its_script_cleans_up_then_what_ignores_sigterm_is_killed(tmp_path):
    cleaned = tmp_path / "cleaned"
    process = subprocess.Popen(["sh", "-c", f"trap 'echo yes > {cleaned}; exit 1' TERM; "
                                "sh -c \"trap '' TERM; exec sleep 60\" & echo $!; wait"],
                               stdout=subprocess.PIPE, text=True, **LINUX.own_group())
    stubborn = int(process.stdout.readline())
    started = time.monotonic()
    LINUX.end(process, grace=1)
    assert process.wait(5) == 1 and cleaned.read_text() == "yes\n"
    assert wait_until(lambda: not alive(stubborn), 5)
    assert time.monotonic() - started < 5


class Recorded:
    """A Windows child as `Controller.end` sees it: running until it `ends_after` calls."""

    def __init__(self, ends_on_break: bool) -> None:
        self.pid, self.ends_on_break, self.broken = 4242, ends_on_break, False

    def poll(self):
        return 0 if self.broken and self.ends_on_break else None

    def wait(self, timeout=None):
        if self.poll() is None:
            raise subprocess.TimeoutExpired("sh", timeout)
        return 0


@pytest.mark.parametrize("ends_on_break", [True, False], ids=["ends on ctrl-break", "ignores it"])
def test_on_windows_a_child_gets_ctrl_break_then_its_tree_is_terminated(monkeypatch, ends_on_break):
    calls = []
    child = Recorded(ends_on_break)

    def kill(pid, sig):
        calls.append(("kill", pid, sig))
        child.broken = True

    monkeypatch.setattr(controller.os, "kill", kill)
    monkeypatch.setattr(controller.subprocess, "run", lambda argv, **_: calls.append(("run", argv)))
    WINDOWS.end(child, grace=0)
    assert calls[0] == ("kill", 4242, CTRL_BREAK_EVENT)
    assert calls[1:] == ([] if ends_on_break else [("run", ["taskkill", "/T", "/F", "/PID", "4242"])])


def fake_git(directory: Path, exec_path: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    git = directory / "git"
    git.write_text(f"#!/bin/sh\n[ \"$1\" = --exec-path ] && echo '{exec_path}'\n")
    git.chmod(0o755)


@posix
@pytest.mark.parametrize("where", ["usr/bin", "bin"])
def test_on_windows_git_for_windows_sh_is_found_from_git_exec_path(tmp_path, monkeypatch, where):
    root = tmp_path / "Program Files" / "Git"
    (root / where).mkdir(parents=True)
    (root / where / "sh.exe").write_text("")
    fake_git(tmp_path / "path", f"{root}/mingw64/libexec/git-core")
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    controller.windows_shell.cache_clear()
    try:
        assert WINDOWS.shell() == str(root / where / "sh.exe")
        assert LINUX.shell() == MACOS.shell() == "/bin/sh"
    finally:
        controller.windows_shell.cache_clear()


@posix
def test_on_windows_without_a_posix_sh_the_run_is_refused_before_any_connection(tmp_path, monkeypatch):
    fake_git(tmp_path / "path", str(tmp_path / "no" / "git" / "here"))  # a git whose tree has no sh.exe
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setattr(localconnect.Connector, "system", WINDOWS)
    controller.windows_shell.cache_clear()
    try:
        with pytest.raises(BadInput) as refused:
            runner._connect_as_ssh_does(Inventory((["@local"], {})))
    finally:
        controller.windows_shell.cache_clear()
    assert str(refused.value) == controller.GET_SHELL
    assert "install Git for Windows" in str(refused.value) and "WSL 2" in str(refused.value)


@posix
def test_the_windows_argv_runs_pyinfras_command_line_whole_in_the_sh_never_through_cmd():
    """On Windows the command line goes to sh.exe as one argument; here it runs in this
    machine's sh, as it would there, quotes and all."""
    command = StringCommand("sh", "-c", QuoteString(StringCommand("printf", QuoteString("%s|"),
                                                                  QuoteString("it's $(x) `y` \"z\""), "a b")))
    argv = localconnect.argv("C:/Program Files/Git/usr/bin/sh.exe", command.get_raw_value())
    assert argv[0] == "C:/Program Files/Git/usr/bin/sh.exe" and argv[1] == "-c" and len(argv) == 3
    done = subprocess.run(["/bin/sh", *argv[1:]], capture_output=True, text=True, timeout=10)
    assert done.stdout == "it's $(x) `y` \"z\"|a|b|"


@pytest.fixture
def local_host():
    inventory = Inventory((["@local"], {}))
    runner._connect_as_ssh_does(inventory)
    State(inventory, Config())
    host = inventory.get_host("@local")
    assert isinstance(host.connector, localconnect.Connector)
    return host


def test_the_local_connector_runs_commands_with_their_input_and_exit_codes(local_host):
    ok, output = local_host.run_shell_command(StringCommand("read", "-r", "line", "&&", "printf", QuoteString("%s!"),
                                                            '"$line"', "&&", "echo", "err", ">&2"),
                                              _stdin="it's $(here)")
    assert ok and output.stdout == "it's $(here)!" and output.stderr == "err"
    ok, _ = local_host.run_shell_command(StringCommand("exit", "3"))
    assert not ok
    ok, _ = local_host.run_shell_command(StringCommand("exit", "3"), _success_exit_codes=[3])
    assert ok
    assert localconnect.running() == []


def test_the_local_connector_copies_files_to_and_from_paths_that_need_quoting(local_host, tmp_path):
    from io import BytesIO

    import tempfile

    def temporaries() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob("harmony-*"))

    before = temporaries()
    odd = tmp_path / "it's a $(dir)"
    odd.mkdir()
    assert local_host.put_file(BytesIO(b"secret\n"), (odd / "f 1").as_posix())  # C:/... on Windows
    assert (odd / "f 1").read_bytes() == b"secret\n"
    back = BytesIO()
    assert local_host.get_file((odd / "f 1").as_posix(), back)
    assert back.getvalue() == b"secret\n"
    with pytest.raises(OSError):
        local_host.get_file((odd / "missing").as_posix(), BytesIO())
    assert temporaries() == before  # each copy's temporary file removed, also when it failed


@posix
def test_a_run_that_is_ended_ends_the_local_commands_in_progress_with_what_they_started(local_host, tmp_path):
    """pyinfra's command line is `sh -c '...'` in the connector's sh: the script harmony wrote is
    a grandchild, and its own children below it; all of them end, the script cleaning up."""
    import gevent

    cleaned = tmp_path / "cleaned"
    command = StringCommand(f"trap 'echo yes > {cleaned}; exit 1' TERM; sleep 60 & wait")
    worker = gevent.spawn(local_host.run_shell_command, command)
    assert wait_until(lambda: (gevent.sleep(0.05), localconnect.running())[1], 10)
    (process,) = localconnect.running()
    gevent.sleep(0.3)  # the script has set its trap
    runner._terminate_children()
    worker.join(10)
    assert worker.value[0] is False and cleaned.read_text() == "yes\n"
    assert localconnect.running() == []
    assert subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True).stdout == b""


def test_on_windows_a_local_run_takes_no_lock_in_its_sh(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(runlock, "_HELD_HERE", set())
    monkeypatch.setattr(runlock, "HERE", LINUX)
    local = SimpleNamespace(name="@local", data={})
    assert runlock.take(local)["lock"] == "exclusive" and runlock.run_process(local) == str(os.getpid())
    monkeypatch.setattr(runlock, "HERE", WINDOWS)
    assert runlock.take(local) == {}  # MSYS has no flock, nor passes a descriptor to harmony's Python
    assert runlock.take(SimpleNamespace(name="10.0.0.1", data={}))["lock"] == "exclusive"
    assert runlock.run_process(local) == ""  # MSYS's kill -0 cannot watch a Windows process ID


@pytest.mark.parametrize("system,kept", [("MINGW64_NT-10.0-19045", False), ("MSYS_NT-10.0-19045", False),
                                         ("Darwin", True), ("Linux", True)])
def test_a_windows_hosts_file_modes_are_not_compared_as_msys_makes_them_up(system, kept):
    """Git for Windows' MSYS mounts with noacl: `stat` shows 644 or 755 whatever chmod did, so a
    mode compared would rewrite the cluster's config and chmod k3d on every run."""
    from harmony.facts import same_file
    from harmony.k3d.facts import K3dHost

    state = K3dHost().process([f"system\t{system}", "file\t/c/Users/me/.local/bin/k3d\t644\tabc"])
    (file,) = state.files.values()
    assert same_file(file, "abc", "755") is not kept and same_file(file, "abd", "755") is False
    assert same_file(file, "abc", "644")
