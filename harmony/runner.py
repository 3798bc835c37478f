"""Runs a harmony deploy with the `pyinfra` command, in a subprocess, and reads its results.

Why a subprocess and not pyinfra's Python API: the `pyinfra` command orders operations across
hosts correctly (by call-stack position; API mode keys them by call index and can run an agent's
step before its server's), prepares hosts concurrently, patches gevent before any socket exists,
and has a stable contract: exit code 1 when a host failed, `--dry` to plan, and `--json` for a
machine-readable plan and per-host results on stdout. Its progress log goes to stderr, which is
passed through to the user as it comes.

The pyinfra process stops with harmony. A first SIGINT or SIGTERM to harmony asks it to begin no
further step (SIGUSR1: `harmony.operations.step`): the steps in progress finish and are
reported. Where they have not within STEPS_GRACE seconds, or at a second signal, pyinfra's
session of its own (pyinfra and what it runs on this machine) is ended with SIGTERM (pyinfra's
own SIGINT handling waits on its hosts' connections), then SIGKILL. On Linux the kernel sends it
SIGTERM if harmony itself dies, even by SIGKILL (PR_SET_PDEATHSIG). On the hosts, what a run
started ends with the run's connection (`harmony.runlock.run_watch`).
"""

from __future__ import annotations

import ctypes
import datetime
import getpass
import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from harmony.errors import Interrupted
from harmony.targets import Target

STARTING = re.compile(r"--> Starting (?:serial )?operation: (.*)")  # pyinfra's line for each it begins
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STEPS_GRACE = 30  # seconds the steps in progress have to finish after a stop, before SIGTERM
STOP_GRACE = 10  # seconds pyinfra's session has to end after SIGTERM, before SIGKILL


@dataclass
class HostResult:
    name: str
    changed: list[str] = field(default_factory=list)  # names of operations that changed the host
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)  # names of operations that failed
    dropped: bool = False  # pyinfra gave up on the host (a failed operation, connection or fact)
    reported: bool = False  # pyinfra's results name the host: without them, nothing is proven
    errors: list[str] = field(default_factory=list)  # what the log said about this host's failure
    refused: str = ""  # a dry run: why the host would fail (a check before any change refuses)

    @property
    def ok(self) -> bool:
        return self.reported and not self.failed and not self.dropped

    def summary(self, verb: str) -> str:
        """The host's line in a report: `verb` (changed, removed, ...) and what changed, or
        unchanged, or failed and why."""
        if not self.ok:  # and what it changed before, if anything: that is true on the host too
            before = f" (after {len(self.changed)} changed: {', '.join(self.changed)})" if self.changed else ""
            return f"{self.name}: failed: {self.reason}{before}"
        if self.changed:
            return f"{self.name}: {verb} ({len(self.changed)} changed: {', '.join(self.changed)})"
        return f"{self.name}: unchanged"

    @property
    def reason(self) -> str:
        """The host's own words for its failure: harmony's message if it gave one."""
        if any("incorrect password attempt" in e for e in self.errors):
            return ("sudo refused the password (sudo: incorrect password attempts): check the one "
                    "--sudo-password-env names")
        ours = [e for e in self.errors if e.startswith("harmony:")]
        if ours or self.errors:
            return (ours or self.errors)[-1]
        return f"failed at: {', '.join(self.failed)}" if self.failed else "no result from pyinfra"


@dataclass
class RunResult:
    exit_code: int
    hosts: dict[str, HostResult]
    output: str  # pyinfra's log (stderr), as the user saw it


@dataclass
class RunOptions:
    """How pyinfra connects and what data overrides the inventory's."""

    data: dict = field(default_factory=dict)
    ssh_user: str | None = None
    ssh_key: str | None = None
    ssh_port: int | None = None
    sudo_password: str | None = None
    verbosity: int = 0
    parallel: int | None = None
    fail_percent: int | None = None


def build_command(target: Target, operations: list[str], options: RunOptions, dry: bool) -> list[str]:
    """The pyinfra command line. Never holds a secret: those travel in the environment."""
    group_data = resources.files("harmony") / "pyinfra_data"
    command = [sys.executable, "-m", "pyinfra", "--json", "--group-data", str(group_data)]
    command.append("--dry" if dry else "-y")
    if options.verbosity:
        command.append("-" + "v" * options.verbosity)
    if options.parallel:
        command += ["--parallel", str(options.parallel)]
    if options.fail_percent is not None:
        command += ["--fail-percent", str(options.fail_percent)]
    ssh_user = options.ssh_user or target.ssh_user
    ssh_port = options.ssh_port or target.ssh_port
    if ssh_user:
        command += ["--ssh-user", ssh_user]
    if ssh_port:
        command += ["--ssh-port", str(ssh_port)]
    if options.ssh_key:
        command += ["--ssh-key", options.ssh_key]
    for key, value in {**target.data, **options.data, **_run_data(dry)}.items():
        command += ["--data", f"{key}={_data_value(value)}"]
    return command + [target.inventory, *operations]


def _run_data(dry: bool) -> dict[str, str]:
    """What the deploy needs to take each host's run lock: how, and who this run is."""
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"harmony_lock": "shared" if dry else "exclusive",
            "harmony_run": f"{getpass.getuser()}@{socket.gethostname()}, harmony pid {os.getpid()}, "
                           f"started {started}"}


def _data_value(value) -> str:
    """A value as pyinfra's --data reads it back (true/false, numbers, JSON, else a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _start(target: Target, operations: list[str], options: RunOptions, dry: bool) -> subprocess.Popen:
    # pyinfra records new SSH host keys in ~/.ssh/known_hosts, and fails if ~/.ssh is missing.
    Path.home().joinpath(".ssh").mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ)
    env.pop("HARMONY_SUDO_PASSWORD", None)
    if options.sudo_password is not None:
        env["HARMONY_SUDO_PASSWORD"] = options.sudo_password
    # No stdin: pyinfra must never wait for an answer (harmony asks its questions itself).
    return subprocess.Popen(
        build_command(target, operations, options, dry),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        text=True, bufsize=1, start_new_session=True, preexec_fn=_die_with_parent,
    )


def _die_with_parent() -> None:
    """In the child, before pyinfra starts: ask Linux for SIGTERM when harmony dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Stopper:
    """While pyinfra runs: a stop signal to harmony asks pyinfra to begin no further step, then
    ends its whole session (SIGTERM, then SIGKILL) when the steps in progress take too long or
    another stop signal comes. `signal` says which stopped the run, `forced` whether it ended
    before the steps in progress had."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.signal: int | None = None
        self.forced = False
        self.step = ""  # the operation pyinfra last said it started
        self.stopped_during = ""  # the step when the stop came

    def __enter__(self) -> "_Stopper":
        # Signals, not threads: harmony's process is gevent's once pyinfra's CLI is imported.
        self.previous = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
        self.previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, lambda *_: self._escalate())
        return self

    def _stop(self, signum, frame) -> None:
        if self.signal is not None:
            self._escalate()
            return
        self.signal = signum
        self.stopped_during = self.step
        self._send(signal.SIGUSR1, whole=False)
        signal.alarm(STEPS_GRACE)
        sys.stderr.write(f"harmony: stopping once the steps in progress have finished (at most {STEPS_GRACE} s; "
                         "stop again to end them now)\n")

    def _escalate(self) -> None:
        """End pyinfra's session: SIGTERM, then (after STOP_GRACE seconds) SIGKILL."""
        if self.forced:
            self._send(signal.SIGKILL)
            return
        self.forced = True
        self._send(signal.SIGTERM)
        signal.alarm(STOP_GRACE)

    def _send(self, signum: int, whole: bool = True) -> None:
        if self.process.poll() is None:
            try:
                (os.killpg if whole else os.kill)(self.process.pid, signum)
            except ProcessLookupError:
                pass

    def __exit__(self, *exc) -> None:
        signal.alarm(0)
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.signal:
            self.process.wait()


def run(target: Target, deploy: str, options: RunOptions, dry: bool = False, quiet: bool = False) -> RunResult:
    """Run a deploy (`module.function`) over the target, showing pyinfra's progress unless quiet."""
    process = _start(target, [deploy], options, dry)
    log: list[str] = []
    assert process.stderr is not None and process.stdout is not None
    with _Stopper(process) as stopper:
        for line in process.stderr:  # pass pyinfra's progress through as it comes
            if not quiet:
                sys.stderr.write(line)
                sys.stderr.flush()
            log.append(line)
            started = STARTING.search(line)
            if started:
                stopper.step = started[1].strip()
        stdout = process.stdout.read()
        exit_code = process.wait()
    output = "".join(log)
    hosts = parse_results(stdout, output, dry)
    if stopper.signal:
        raise Interrupted(signal.Signals(stopper.signal).name, stopper.stopped_during, stopper.forced,
                          [result.summary("changed") for result in hosts.values()])
    return RunResult(exit_code, hosts, output)


def facts(target: Target, fact: str, options: RunOptions,
          args: tuple[str, ...] = ()) -> tuple[dict[str, dict], dict[str, str]]:
    """One fact (with `key=value` args) from every host that answers, {host name: value}, and
    why each other host did not, {host name: reason}. pyinfra's log is kept quiet."""
    process = _start(target, ["fact", fact, *args], options, dry=False)
    with _Stopper(process) as stopper:
        stdout, log = process.communicate()
    if stopper.signal:
        raise Interrupted(signal.Signals(stopper.signal).name)
    try:
        payload = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        payload = {}
    values = next(iter(payload.values()), {}) if payload else {}
    answered = {host: value for host, value in values.items() if value is not None}
    reasons = {name: result.reason for name, result in parse_results("", log, dry=True).items()
               if name not in answered}
    return answered, reasons


# How a dry run's log says a host would fail (harmony.operations.fail writes it).
WOULD_FAIL = "harmony: would fail: "
HOST_LINE = re.compile(r"^\s*\[(?P<host>[^\]]+)\]\s+(?P<text>.*)$")
ERROR_MARKERS = ("harmony:", "Error", "error", "Could not connect", "sudo:", "Permission denied")


def parse_results(stdout: str, log: str, dry: bool) -> dict[str, HostResult]:
    """Per-host results from pyinfra's JSON, with each failed host's own words from the log."""
    hosts: dict[str, HostResult] = {}
    try:
        payload = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        payload = {}
    if dry:
        # The deploys decide every operation from the facts (no `_if`): nothing is conditional.
        for op in payload.get("plan") or []:
            for name in op["hosts_with_change"]:
                hosts.setdefault(name, HostResult(name)).changed.append(op["name"])
        for result in hosts.values():
            result.reported = "plan" in payload
    else:
        results = payload.get("results") or {}
        for op in results.get("operations", []):
            for name in op["success"]:
                hosts.setdefault(name, HostResult(name)).changed.append(op["name"])
            for name in op["no_change"]:
                hosts.setdefault(name, HostResult(name)).unchanged += 1
            for name in op["error"]:
                hosts.setdefault(name, HostResult(name)).failed.append(op["name"])
        for result in hosts.values():
            result.reported = True
        for name in results.get("failed_hosts", []):
            hosts.setdefault(name, HostResult(name)).dropped = True
    operation = ""
    for line in log.splitlines():
        started = STARTING.search(line)
        if started:
            operation = started[1].strip()
            continue
        match = HOST_LINE.match(line)
        text = re.sub(r"\x1b\[[0-9;]*m", "", match["text"]).strip() if match else ""
        if match and not dry and text == "Success" and operation:
            # pyinfra's JSON leaves out a host that failed: what it changed before is in the log.
            result = hosts.setdefault(match["host"], HostResult(match["host"]))
            if not result.reported and operation not in result.changed:
                result.changed.append(operation)
        if match and any(marker in match["text"] for marker in ERROR_MARKERS):
            result = hosts.setdefault(match["host"], HostResult(match["host"]))
            if dry and text.startswith(WOULD_FAIL):
                result.refused = result.refused or text[len(WOULD_FAIL):]
            elif text not in result.errors:
                result.errors.append(text)
    return hosts
