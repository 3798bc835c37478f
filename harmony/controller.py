"""The machine harmony runs on (the controller): what differs there between Linux, macOS and
Windows, in one place, so that the rest of harmony asks this module and never `sys.platform`.

Three things differ on the local k3d path (docs/runtimes.md, "macOS and Windows: the controller"):

- The shell a local run's commands run in. pyinfra's local connector hands each command to
  `Popen(command, shell=True)`: /bin/sh on Linux and macOS, but cmd.exe on Windows, which does
  not honour the single quotes of pyinfra's `sh -c '...'`. harmony runs them by argv with a POSIX
  sh instead (`harmony.localconnect`): /bin/sh, or on Windows Git for Windows' sh.exe, found from
  `git --exec-path` or PATH; where there is none, the run is refused before it begins (`shell`).
- The stop signals. A terminal's Ctrl-C is SIGINT everywhere; POSIX also delivers SIGTERM
  between processes. Windows delivers no SIGTERM (`os.kill(pid, SIGTERM)` there is
  TerminateProcess, which no handler sees): its console sends Ctrl-C (SIGINT) and Ctrl-Break
  (SIGBREAK) instead.
- How a child process is ended with everything it started. POSIX: a process group of its own
  (`start_new_session`), SIGTERM to the group, then SIGKILL. Windows has no process groups for
  signals: a child started with CREATE_NEW_PROCESS_GROUP gets CTRL_BREAK_EVENT (with every
  console process it started; Go programs such as k3d and docker take it as an interrupt), and
  what is left after the grace is ended with its whole tree by `taskkill /T /F`
  (TerminateProcess), as Windows has no SIGKILL either.

`Controller.here()` is this machine; the unit tests make a Controller of another system to
check each choice on Linux.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harmony.errors import BadInput

# Windows' own values, named here so that Linux can simulate a Windows controller.
CREATE_NEW_PROCESS_GROUP = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)
CTRL_BREAK_EVENT = getattr(signal, "CTRL_BREAK_EVENT", 1)
SIGBREAK = getattr(signal, "SIGBREAK", 21)
GET_SHELL = ("harmony runs its commands on this machine with a POSIX sh, and found none: install Git for "
             "Windows (https://git-scm.com/download/win: its sh.exe), or run harmony inside WSL 2")
ASK_TIMEOUT = 10  # seconds for `git --exec-path`


@dataclass(frozen=True)
class Controller:
    system: str  # linux | macos | windows

    @classmethod
    def here(cls) -> Controller:
        if os.name == "nt":
            return cls("windows")
        return cls("macos" if sys.platform == "darwin" else "linux")

    @property
    def windows(self) -> bool:
        return self.system == "windows"

    @property
    def stop_signals(self) -> tuple[int, ...]:
        """The signals that ask harmony to stop: the ones this system delivers to it."""
        return (signal.SIGINT, SIGBREAK) if self.windows else (signal.SIGINT, signal.SIGTERM)

    def needs_sudo(self) -> bool:
        """Whether a local run becomes root with sudo: where the user is not root (Windows has
        neither; k3d there runs as the user, whose Docker it is)."""
        return not self.windows and os.geteuid() != 0

    def own_group(self) -> dict:
        """Popen's arguments for a child that harmony ends with everything it started (`end`):
        a local run's commands (`harmony.localconnect`), a build. A terminal's Ctrl-C then
        reaches harmony alone, and harmony's stop decides what ends and when (`harmony.runner`),
        the same on every system: a POSIX session of its own; on Windows a process group of its
        own, the one thing CTRL_BREAK_EVENT can be aimed at (without one, Ctrl-Break would reach
        harmony too)."""
        return {"creationflags": CREATE_NEW_PROCESS_GROUP} if self.windows else {"start_new_session": True}

    def end(self, process, grace: float = 5) -> None:
        """End a child started with `own_group` and everything it started: asked first (SIGTERM
        to its group, which harmony's scripts trap to clean up; CTRL_BREAK_EVENT on Windows),
        then, once it has ended or `grace` seconds on, made to (SIGKILL to what is left of the
        group; `taskkill /T /F` on Windows)."""
        if self.windows:
            self._break(process)
            _wait(process, grace)
            self._kill_tree(process)
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            until = time.monotonic() + grace
            while time.monotonic() < until:
                process.poll()  # the leader reaped once it ends, so that only the living count
                os.killpg(process.pid, 0)
                time.sleep(0.05)
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # the whole group has ended
            pass

    def _break(self, process) -> None:
        if process.poll() is None:
            try:
                os.kill(process.pid, CTRL_BREAK_EVENT)
            except OSError:  # ended meanwhile, or no console to send it through
                pass

    def _kill_tree(self, process) -> None:
        """TerminateProcess for the process and each descendant (taskkill, in every Windows):
        what a CTRL_BREAK_EVENT left (a process that ignores it, or one outside the console)."""
        if process.poll() is None:
            subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=ASK_TIMEOUT, check=False)

    def environment(self, shell: str) -> dict | None:
        """The environment of a local run's command in `shell`: harmony's, and on Windows the
        shell's own directory first on PATH, where its tools are (cat, awk, stat, sha256sum...),
        which Git for Windows' installer leaves off the PATH by default."""
        if not self.windows:
            return None
        return {**os.environ, "PATH": os.pathsep.join((os.path.dirname(shell), os.environ.get("PATH", "")))}

    def shell(self) -> str:
        """The POSIX sh a local run's commands run in (BadInput, the fix in it, where none)."""
        return windows_shell() if self.windows else "/bin/sh"


def _wait(process, grace: float) -> None:
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        pass


@functools.lru_cache(maxsize=None)
def windows_shell() -> str:
    """Git for Windows' sh.exe: beside the git on PATH (`git --exec-path` is
    <Git>/mingw64/libexec/git-core): <Git>/bin/sh.exe, Git's launcher, which puts its POSIX tools
    on PATH first, else <Git>/usr/bin/sh.exe (`environment` puts them there); else an sh.exe on
    PATH (an MSYS2 or Cygwin one). Never WSL's bash.exe: that runs in the Linux
    distribution, whose paths and Docker are not this Windows'."""
    found = shell_near_git(shutil.which("git")) or shutil.which("sh")
    if not found:
        raise BadInput(GET_SHELL)
    return found


def shell_near_git(git: str | None) -> str | None:
    if not git:
        return None
    try:
        asked = subprocess.run([git, "--exec-path"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=ASK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    exec_path = asked.stdout.strip()
    if asked.returncode != 0 or not exec_path:
        return None
    root = Path(exec_path).parents[2] if len(Path(exec_path).parents) > 2 else None
    for candidate in ((root / "bin" / "sh.exe", root / "usr" / "bin" / "sh.exe") if root else ()):
        if candidate.is_file():
            return str(candidate)
    return None


HERE = Controller.here()
