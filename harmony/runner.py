"""Runs a harmony deploy with pyinfra's Python API, in this process, and reads its results.

pyinfra runs here, not as the `pyinfra` command in a subprocess: a run saves pyinfra's process
start, and its results are read from pyinfra's State (each host's operations, what each changed
or why it failed, also for hosts that failed) rather than from printed JSON. The run does what
the `pyinfra` command does, in the same order (`_session`): the inventory made as it makes it,
operations ordered by their call-stack position (`pyinfra.is_cli`: the k3s lifecycle relies on
it, see `harmony.k3s.lifecycle`), hosts prepared concurrently (greenlets), no prompts, change
detection only for a dry run. pyinfra's log is passed through to stderr as it comes, and kept
to read each failed host's own words. gevent patches this process before anything runs
(`harmony.cli`), as the `pyinfra` command patches its own.

A first SIGINT or SIGTERM asks the run to begin no further step (`harmony.operations.step`),
and ends it as soon as no step in progress holds it: only a k3s start or restart that has begun
does (`harmony.holds`), at most its start timeout; other steps (a download, a wait, a read) end
with the run and leave their host as it was. A second signal ends the run at once. Ending it
kills its greenlets, closes every host's connection and ends a local run's commands in
progress with what they started (SIGTERM, then SIGKILL; on Windows, Ctrl-Break, then their
process tree: `harmony.controller`). On the hosts, what a run started ends with the run's connection, or
with this process for a local run (`harmony.runlock`). Each host is then reported with the
phases it did and those it did not.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import logging
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from harmony import holds, report, runcontext, shown, targets
from harmony.errors import Interrupted
from harmony.stopping import STOP_SIGNALS
from harmony.targets import Target

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTING = re.compile(r"--> Starting (?:serial )?operation: (.*)")  # pyinfra's line for each it begins
CAUSE_LENGTH = 300  # characters shown of a failed command's own words (harmony's are short already)
STEP_GRACE = 0.5  # seconds the steps in progress have to finish after a stop (a file written), unless held
LOCAL_GRACE = 2.0  # seconds a local run's command has to clean up once ended, before it is killed
HELD_GRACE = 2.0  # seconds after a held step ends for the next steps to refuse to begin (a round trip each)
# Hosts worked on at once, unless --parallel says otherwise (pyinfra's own default, 20 per core
# of the controller, suits its command's many processes; harmony's run is one process on one
# core): enough that the controller's core, not the hosts' answers, sets the pace of a run on a
# real network. Why this number: docs/measured.md, "How many hosts at once".
PARALLEL = 50
OUTCOMES = ("failed", "changed", "unchanged")  # a step's, and a phase's: the first that any of its steps had
DONE = ("changed", "unchanged")


@dataclass
class HostResult:
    name: str
    changed: list[str] = field(default_factory=list)  # names of operations that changed the host
    unchanged: list[str] = field(default_factory=list)  # names of operations that did not
    failed: list[str] = field(default_factory=list)  # names of operations that failed
    dropped: bool = False  # pyinfra gave up on the host (a failed operation, connection or fact)
    reported: bool = False  # the host was connected and its deploy ran: else nothing is proven
    errors: list[str] = field(default_factory=list)  # what the log said about this host's failure
    refused: str = ""  # a dry run: why the host would fail (a check before any change refuses)
    planned: list[str] = field(default_factory=list)  # names of all the host's operations, in order
    cause: str = ""  # the failed operation's own words: harmony's message, else its command's last line
    lost: str = ""  # how the host's connection was lost during the run, if it was
    unreachable: str = ""  # why the run could not connect to the host, which it left out
    passed: list[runcontext.PassedPhase] = field(default_factory=list)  # phases with nothing to do, no operation

    @property
    def ok(self) -> bool:
        return self.reported and not self.failed and not self.dropped

    def report(self, statuses: tuple[str, ...] = report.UP, stopped: bool = False) -> report.HostReport:
        """The host's report: failed and why (with what it changed before: that is true on the
        host too), else the first of `statuses` if it changed, the second if not. In a stopped
        run, each host says which phases it did and which not, and is stopped unless it had
        failed on its own. A host the run could not connect to is unreachable, with why."""
        if self.unreachable:
            return report.HostReport(self.name, report.UNREACHABLE, reason=self.unreachable)
        if stopped:
            from harmony.operations import STOPPED

            done, left = self.phases()
            own = not self.ok and not any(STOPPED in error for error in self.errors)
            said = "; ".join(f"{what}: {', '.join(phases)}" for what, phases in (("done", done), ("not done", left))
                             if phases)
            status, why = (report.FAILED, self.reason) if own else (report.STOPPED, said or "before its steps were planned")
            return report.HostReport.of(self.name, status, self.changed, why,
                                        {"phases_done": done, "phases_not_done": left})
        if not self.ok:
            return report.HostReport.of(self.name, report.FAILED, self.changed, self.reason)
        return report.HostReport.of(self.name, statuses[0] if self.changed else statuses[1], self.changed)

    def phases(self) -> tuple[list[str], list[str]]:
        """The host's phases (a step of no phase, as `down`'s, is one of its own), in order:
        those whose every step was done, and the others."""
        steps = self.steps()
        phases = dict.fromkeys(phase or step for phase, step, _ in steps)
        undone = {phase or step for phase, step, outcome in steps if outcome not in DONE}
        return [p for p in phases if p not in undone], [p for p in phases if p in undone]

    def phase_outcomes(self) -> dict[str, str]:
        """Each of the host's phases that did something, in order, with what it did: failed
        where a step failed, else changed where one did, else unchanged."""
        found: dict[str, set[str]] = {}
        for phase, _, outcome in self.steps():
            if phase and outcome:
                found.setdefault(phase, set()).add(outcome)
        return {phase: next(o for o in OUTCOMES if o in outcomes) for phase, outcomes in found.items()}

    def steps(self) -> list[tuple[str, str, str]]:
        """The host's steps in order, as (phase, own name, outcome): each operation, changed,
        unchanged, failed, or "" where it was not done; and each phase passed with nothing to do
        (its own name ""), unchanged once every operation before it was done."""
        outcome = {**dict.fromkeys(self.unchanged, "unchanged"), **dict.fromkeys(self.changed, "changed"),
                   **dict.fromkeys(self.failed, "failed")}
        passed: dict[int, list[str]] = {}
        for phase in self.passed:
            passed.setdefault(phase.after, []).append(phase.name)
        steps, done = [], True
        for index, name in enumerate([*self.planned, None]):
            steps += [(phase, "", "unchanged" if done else "") for phase in passed.get(index, ())]
            if name is not None:
                steps.append((report.phase_of(name), report.step_of(name), outcome.get(name, "")))
                done = done and outcome.get(name) in DONE
        return steps

    @property
    def reason(self) -> str:
        """The host's own words for its failure: a lost connection, else what the failed step
        said (harmony's message, or its command's: "No space left on device"), else harmony's
        or pyinfra's last error line; shown as harmony shows any message (`harmony.shown`)."""
        if any("incorrect password attempt" in e for e in self.errors):
            return ("sudo refused the password (sudo: incorrect password attempts): check the one "
                    "--sudo-password-env names")
        ours = [e for e in self.errors if e.startswith("harmony:")]
        said = self.lost or self.cause or (ours or self.errors or [""])[-1]
        if said:
            return shown.message(said)
        return f"failed at: {', '.join(self.failed)}" if self.failed else "no result from pyinfra"


@dataclass
class RunResult:
    hosts: dict[str, HostResult]
    stopped: Interrupted | None = None  # the stop that ended the run, for the command to raise once reported
    phases: list[str] = field(default_factory=list)  # the lifecycle's phases, in order
    published: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host name -> its port mappings in effect
    nodes: dict[str, str] = field(default_factory=dict)  # host name -> its node's name, where its deploy named it

    def of(self, name: str) -> HostResult:
        """The host's result; one that says nothing is proven where pyinfra had none."""
        return self.hosts.get(name) or HostResult(name)

    def phase_counts(self) -> list[report.PhaseCount]:
        """Per phase, in lifecycle order, the hosts on which it changed something, nothing (a
        phase passed with nothing to do among them), or failed."""
        counts: dict[str, report.PhaseCount] = {}
        for host in self.hosts.values():
            for phase, outcome in host.phase_outcomes().items():
                count = counts.setdefault(phase, report.PhaseCount(phase))
                setattr(count, outcome, getattr(count, outcome) + 1)
        rank = {phase: index for index, phase in enumerate(self.phases)}
        return sorted(counts.values(), key=lambda count: rank.get(count.phase, len(rank)))


@dataclass
class RunOptions:
    """How pyinfra connects and what data overrides the inventory's."""

    data: dict = field(default_factory=dict)
    ssh_user: str | None = None
    ssh_key: str | None = None
    ssh_port: int | None = None
    sudo_password: str | None = field(default=None, repr=False)
    verbosity: int = 0
    parallel: int | None = None
    fail_percent: int | None = None


def override_data(target: Target, options: RunOptions, dry: bool) -> dict:
    """The data every host of the run gets over its inventory's, as the `pyinfra` command's
    --data and --ssh-* options would give it; the sudo password stays in memory."""
    data = {**target.data, **options.data, **_run_data(dry)}
    for key, value in (("ssh_user", options.ssh_user or target.ssh_user), ("ssh_key", options.ssh_key),
                       ("ssh_port", options.ssh_port or target.ssh_port),
                       ("_sudo_password", options.sudo_password)):
        if value is not None:
            data[key] = value
    return data


def _run_data(dry: bool) -> dict[str, str]:
    """What the deploy needs to take each host's run lock: how, and who this run is."""
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"harmony_lock": "shared" if dry else "exclusive",
            "harmony_run": f"{getpass.getuser()}@{socket.gethostname()}, harmony pid {os.getpid()}, "
                           f"started {started}"}


class _Log(logging.Handler):
    """pyinfra's log: kept, and shown as the `pyinfra` command formats it; when quiet, only
    harmony's own warnings are (a lock waited for or taken over, a pending restart), a plain
    line each."""

    def __init__(self, quiet: bool) -> None:
        from pyinfra_cli.log import LogFormatter

        super().__init__()
        self.quiet = quiet
        self.shown = LogFormatter()  # it writes the blank line between blocks itself
        self.lines: list[str] = []
        self.step = ""  # the operation pyinfra last said it started

    def emit(self, record: logging.LogRecord) -> None:
        line = ANSI.sub("", record.getMessage())  # pyinfra styles its messages itself
        self.lines.append(line)
        started = STARTING.search(line)
        if started:
            self.step = started[1].strip()
        if not self.quiet:
            click.echo(self.shown.format(record), err=True)  # styled on a terminal only
        elif record.levelno == logging.WARNING and "harmony:" in line:
            click.echo(line.strip(), err=True)


class _Stopper:
    """While pyinfra runs: a stop signal asks the run to begin no further step, then ends it as
    soon as no step in progress holds it (`harmony.holds`: a k3s restart that has begun, at most
    its start timeout) and the steps in progress have had STEP_GRACE to finish; at once at another
    stop signal. `signal` says which stopped the run, `forced` whether the run was ended before its
    steps in progress had."""

    def __init__(self, worker, hosts, log: _Log, context: runcontext.RunContext) -> None:
        self.worker, self.hosts, self.log, self.context = worker, hosts, log, context
        self.signal: int | None = None
        self.forced = False
        self.stopped_during = ""  # the step when the stop came
        self.ender = None

    def __enter__(self) -> "_Stopper":
        self.previous = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
        return self

    def _stop(self, signum, frame) -> None:
        import gevent

        if self.signal is not None:
            gevent.spawn(self._end)
            return
        self.signal = signum
        self.stopped_during = self.log.step
        self.context.stop_asked = True
        holding = holds.held(self.hosts)
        sys.stderr.write(f"harmony: stopping: waiting for {holds.waiting(holding)}; stop again to end it now\n"
                         if holding else "harmony: stopping now\n")
        self.ender = gevent.spawn(self._end_when_free)

    def _end_when_free(self) -> None:
        """The grace runs from the stop, and from the end of a held step (HELD_GRACE): the steps
        after a held restart refuse to begin (`operations.step`), a round trip each, and the run
        ends by itself, its steps in progress finished, where killing it then would call it forced."""
        import gevent

        graced = time.monotonic() + STEP_GRACE
        while not self.worker.dead:
            if holds.held(self.hosts):
                graced = time.monotonic() + HELD_GRACE
            elif time.monotonic() >= graced:
                break
            gevent.sleep(0.1)
        self._end()

    def _end(self) -> None:
        """End the run: its greenlet killed with GreenletExit, which gevent takes as a greenlet's
        normal end (any other exception it prints, with its traceback, on stderr)."""
        if not self.forced and not self.worker.dead:
            self.forced = True
            self.worker.kill(block=False)

    def __exit__(self, *exc) -> None:
        if self.ender is not None:
            self.ender.kill(block=False)
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _session(target: Target, options: RunOptions, dry: bool, quiet: bool, announce: bool = True):
    """pyinfra's State for one run, as the `pyinfra` command sets it up: the inventory loaded
    with the run's data over its own, the hosts connected; disconnected at the end. Each host
    that cannot be connected to gets a line saying why: shown at once where `announce`, else
    left to the caller (`unreachable`)."""
    import pyinfra
    from pyinfra import logger
    from pyinfra.api import Config, State
    from pyinfra.api.state import StateStage
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.output import set_echo, set_formatter
    from pyinfra.context import ctx_config, ctx_inventory, ctx_state

    # pyinfra records new SSH host keys in ~/.ssh/known_hosts, and fails if ~/.ssh is missing.
    Path.home().joinpath(".ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["PYINFRA_PROGRESS"] = "off"  # harmony shows the progress, not pyinfra's spinner
    pyinfra.is_cli = True  # order operations by call-stack position, as the `pyinfra` command does
    set_formatter(click.style)
    set_echo(click.echo)
    log = _Log(quiet)
    logger.addHandler(log)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # paramiko logs a failed connection's traceback (from its own thread), which Python's last
    # resort handler would print; harmony says why in a line (_tell_unreachable).
    paramiko_log = logging.getLogger("paramiko")
    if not paramiko_log.handlers:
        paramiko_log.addHandler(logging.NullHandler())
    paramiko_log.propagate = False
    state = State(check_for_changes=dry)  # an applying run skips change detection, as with -y
    config = Config(PARALLEL=options.parallel or PARALLEL,
                    **({"FAIL_PERCENT": options.fail_percent} if options.fail_percent is not None else {}))
    try:
        with ctx_state.use(state), ctx_config.use(config):
            inventory = targets.make_inventory(target, override_data(target, options, dry))
            _connect_as_ssh_does(inventory)
            with ctx_inventory.use(inventory):
                state.init(inventory, config)
                state.print_fact_info = state.print_noop_info = options.verbosity > 0
                state.print_input = state.print_fact_input = options.verbosity > 1
                state.print_output = state.print_fact_output = options.verbosity > 2
                state.set_stage(StateStage.Connect)
                _tell_unreachable(state, announce)
                try:
                    try:
                        connect_all(state)
                    except PyinfraError:
                        # No host could be reached, or more than --fail-percent could not: each one's log
                        # says why, and the others go on (the unreachable are counted apart, not towards it).
                        pass
                    state.set_stage(StateStage.Prepare)
                    yield state, log
                finally:
                    state.set_stage(StateStage.Disconnect)
                    if state.pool is not None:
                        state.pool.kill(block=True, timeout=10)
                    disconnect_all(state)
                    _close_connections(state)
    finally:
        logger.removeHandler(log)
        pyinfra.is_cli = False


def _connect_as_ssh_does(inventory) -> None:
    """Each SSH host connected as `harmony.sshconnect` resolves it: ~/.ssh/config (aliases,
    ProxyJump, ProxyCommand) under the run's values, and its bastions. The local host's
    commands run in a POSIX sh by argv (`harmony.localconnect`), refused (BadInput) here, before
    any connection, where the controller has none."""
    from pyinfra.connectors.local import LocalConnector
    from pyinfra.connectors.ssh import SSHConnector

    from harmony import localconnect
    from harmony.sshconnect import Connector

    for host in inventory:
        if host.connector_cls is SSHConnector:
            host.connector_cls = Connector
        elif host.connector_cls is LocalConnector:
            localconnect.Connector.system.shell()
            host.connector_cls = localconnect.Connector


def _close_connections(state) -> None:
    """Close each host's SSH connection, which pyinfra's disconnect leaves open until the process
    ends: a host's run lock is held as long as its connection (`harmony.runlock`), and a verb that
    runs a second deploy (`up` sending images) takes it again."""
    for host in state.activated_hosts:
        client = getattr(host.connector, "client", None)
        if client is not None:
            client.close()
        close_hops = getattr(host.connector, "close_hops", None)
        if close_hops is not None:
            close_hops()


def _tell_unreachable(state, announce: bool) -> None:
    """A host pyinfra cannot connect to gets one line saying why, the host's reason in the
    report: with `announce` a warning, shown at once (and no traceback: see `_session`)."""
    from pyinfra import logger
    from pyinfra.api.state import BaseStateCallback

    class Unreachable(BaseStateCallback):
        def host_connect_error(self, state, host, error):
            why = runcontext.of(state).unreachable[host.name] = connect_problem(host, error)
            log = logger.warning if announce else logger.error
            log(f"{host.print_prefix}harmony: unreachable: {why}; left out of this run")

    state.add_callback_handler(Unreachable())


def connect_problem(host, error: BaseException) -> str:
    """What went wrong in a failed SSH connection, in a few words, from pyinfra's ConnectError
    and the exception it was raised from; where a bastion failed, that bastion and why."""
    from harmony.sshconnect import BastionError

    cause, data, default = error.__context__ or error, host.data, host.state.config.CONNECT_TIMEOUT
    endpoint = getattr(getattr(host, "connector", None), "endpoint", None)  # as resolved through ~/.ssh/config
    timeout = endpoint and endpoint.connect_timeout or default  # the file's ConnectTimeout, else the run's
    if endpoint is not None:
        user, hostname, port = endpoint.user, endpoint.hostname, endpoint.port
    else:
        user = data.get("ssh_user") or getpass.getuser()
        hostname, port = data.get("ssh_hostname") or host.name, data.get("ssh_port") or 22
    if isinstance(cause, BastionError):
        hop = cause.hop
        if cause.reaching is not None:
            onward = cause.reaching
            said = getattr(cause.cause, "text", "") or str(cause.cause) or type(cause.cause).__name__
            return f"bastion {hop.where} could not open the way to {onward.hostname}:{onward.port} ({said})"
        return f"bastion {hop.where}: " + _problem(cause.cause, hop.user, hop.hostname, hop.port,
                                                   hop.connect_timeout or default)
    return _problem(cause, user, hostname, port, timeout, error)


def _problem(cause: BaseException, user: str, hostname: str, port: int, timeout: float,
             error: BaseException | None = None) -> str:
    import errno
    import paramiko

    where = f"{hostname}:{port}"
    if isinstance(cause, paramiko.ssh_exception.NoValidConnectionsError):
        codes = {getattr(e, "errno", None) for e in cause.errors.values()}
        if errno.ECONNREFUSED in codes:
            return f"connection refused ({where}): check the port, and that sshd runs there"
        return f"no route to host ({where}): check the address, and the network to it"
    if isinstance(cause, paramiko.AuthenticationException):
        return f"authentication failed for {user} ({where}): check --ssh-user and --ssh-key"
    if isinstance(cause, paramiko.BadHostKeyException):
        known = hostname if port == 22 else f"[{hostname}]:{port}"
        return f"its host key is not the one known for it ({where}): if it was reinstalled, ssh-keygen -R '{known}'"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve {hostname} ({cause.strerror}): check the name, or give its address"
    if isinstance(cause, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout} s ({where}): check the address, and that no firewall drops port {port}"
    # The connection opened, but no SSH server spoke: sshd stopped behind a port that is still
    # forwarded (Docker's proxy), or a host paused or overloaded. (paramiko says "No existing
    # session" when its wait for the server's banner ran out.)
    if isinstance(cause, paramiko.SSHException) and "No existing session" in str(cause):
        return f"no SSH answer within {timeout} s ({where})"
    if isinstance(cause, (paramiko.SSHException, EOFError)) and "banner" in str(cause):
        return f"the connection closed before SSH's banner ({where})"
    if isinstance(cause, OSError):
        return f"{cause.strerror or cause} ({where})"
    return f"{error or cause} ({where})"


def _work(state, dry: bool, action) -> str:
    """Run `action` (prepare), then the operations unless dry, as the `pyinfra` command does;
    return pyinfra's error where it gave up on the run (no hosts remaining), logged as it logs it."""
    from pyinfra import logger
    from pyinfra.api.state import StateStage
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops

    try:
        action()
        if not dry:
            state.set_stage(StateStage.Execute)
            run_ops(state)
    except PyinfraError as error:
        logger.error(f"--> pyinfra error: {error}")
        return str(error)
    return ""


def _run_stopping(state, log: _Log, work) -> tuple[_Stopper, object]:
    """Run `work` in a greenlet of its own, under a stopper for this process's stop signals;
    return the stopper and what `work` returned (None where the run was ended)."""
    import gevent

    worker = gevent.Greenlet(work)
    with _Stopper(worker, list(state.inventory), log, runcontext.of(state)) as stopper:
        worker.start()
        value = worker.get()
    if stopper.forced:
        _terminate_children()
        return stopper, None
    return stopper, value


def _terminate_children() -> None:
    """End a local run's commands in progress, each with what it started (a remote run's end
    with their connection), as the controller's system ends a process (`harmony.controller`):
    a script that traps the stop cleans up within LOCAL_GRACE."""
    from harmony import localconnect
    from harmony.controller import HERE

    for process in localconnect.running():
        HERE.end(process, LOCAL_GRACE)


def run(target: Target, deploy: str, options: RunOptions, dry: bool = False, quiet: bool = False,
        progress=None) -> RunResult:
    """Run a deploy (`module.function`) over the target; pyinfra's log on stderr unless quiet;
    each host's operations, once prepared, and each one's end told to `progress`
    (`harmony.progress.Progress`)."""
    from pyinfra_cli.util import load_func, try_import_module_attribute

    deploy_func = try_import_module_attribute(deploy)

    def prepare(state) -> None:
        load_func(state, deploy_func)
        if progress is not None:
            _follow(state, progress)

    with _session(target, options, dry, quiet) as (state, log):
        stopper, error = _run_stopping(state, log, lambda: _work(state, dry, lambda: prepare(state)))
        if progress is not None:
            progress.finish(stopped=bool(stopper.signal))
        hosts = _results(state, log.lines, dry, error or "")
        context = runcontext.of(state)
    return RunResult(hosts, Interrupted(signal.Signals(stopper.signal).name, stopper.stopped_during, stopper.forced)
                     if stopper.signal else None, context.phases, context.published,
                     context.nodes)


def _follow(state, progress) -> None:
    """Tell `progress` each host's operations, then (through pyinfra's callbacks) each one's end."""
    from pyinfra.api.state import BaseStateCallback

    order, context = state.get_op_order(), runcontext.of(state)
    progress.planned({host.name: _operations(state, host, order) for host in state.inventory.get_active_hosts()},
                     context.passed, context.phases)

    class Events(BaseStateCallback):
        def operation_host_success(self, state, host, op_hash, *_):
            progress.ended(host.name, op_hash)

        def operation_host_error(self, state, host, op_hash, *_):
            progress.ended(host.name, op_hash, ok=False)

    state.add_callback_handler(Events())


def _operations(state, host, order: list[str]) -> list[tuple[str, str]]:
    """The host's operations in the run's order (`order`: pyinfra's), as (hash, name)."""
    from pyinfra_cli.prints import pretty_op_name

    return [(op, pretty_op_name(state.op_meta[op])) for op in order if op in state.ops[host]]


def facts(target: Target, fact, options: RunOptions, **arguments) -> tuple[dict[str, object], dict[str, str]]:
    """One fact (a FactBase class, with its arguments) from every host that answers, {host name:
    value}, and why each other host did not, {host name: reason}. pyinfra's log is kept quiet."""
    from pyinfra.api.facts import get_facts

    answers: dict = {}
    with _session(target, options, dry=False, quiet=True, announce=False) as (state, log):
        stopper, _ = _run_stopping(state, log, lambda: answers.update(
            get_facts(state, fact, kwargs=arguments, apply_failed_hosts=False) if state.active_hosts else {}))
        reasons, problems = _log_reasons(log.lines), runcontext.of(state).unreachable
    if stopper.signal:
        raise Interrupted(signal.Signals(stopper.signal).name)
    answered = {host.name: value for host, value in answers.items() if value is not None}
    return answered, {name: problems.get(name) or result.reason for name, result in reasons.items()
                      if name not in answered}


def _results(state, log: list[str], dry: bool, error: str) -> dict[str, HostResult]:
    """Per-host results from pyinfra's State: each operation that changed (a dry run: would
    change), did not or failed the host, in the run's order, and the phases it passed with
    nothing to do; each failed host's own words from the log, else pyinfra's `error` where it
    gave up on the run."""
    hosts, context = _log_reasons(log), runcontext.of(state)
    for name, why in context.would_fail.items():
        hosts.setdefault(name, HostResult(name)).refused = why
    order = state.get_op_order()
    for host in state.inventory:
        result = hosts.setdefault(host.name, HostResult(host.name))
        result.reported = host in state.activated_hosts
        result.dropped = host in state.failed_hosts
        result.passed = context.passed.get(host.name, [])
        result.unreachable = context.unreachable.get(host.name, "")
        for op_hash, name in _operations(state, host, order):
            result.planned.append(name)
            meta = state.ops[host][op_hash].operation_meta
            if dry:  # known already: a dry run checks for changes as it plans
                (result.changed if meta.will_change else result.unchanged).append(name)
            elif meta.is_complete():
                if not meta.did_succeed():
                    result.failed.append(name)
                elif meta.did_change():
                    result.changed.append(name)
                else:
                    result.unchanged.append(name)
        if error and not result.errors and host not in state.failed_hosts and not result.ok:
            result.errors.append(error)
        if result.reported and not result.ok and not result.lost and _connection_gone(host):
            result.lost = f"lost the connection to {host.name}: it closed while a step ran"
    if error and not any(result.errors for result in hosts.values()):
        # pyinfra gave up before any host failed (an error while it prepared the operations):
        # the run did not happen, and no host may be said unchanged.
        for host in state.activated_hosts:
            hosts[host.name].dropped = True
            hosts[host.name].errors.append(f"the run did not begin: pyinfra: {error}")
    return hosts


def _connection_gone(host) -> bool:
    """Whether the host's SSH connection has ended under the run (its host or its sshd died):
    a command it ran then fails with no words of its own, or of pyinfra's."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    return transport is not None and not transport.is_active()


HOST_LINE = re.compile(r"^\s*\[(?P<host>[^\]]+)\]\s+(?P<text>.*)$")
ERROR_MARKERS = ("harmony:", "Error", "error", "Could not connect", "sudo:", "Permission denied")
# pyinfra's own lines about a host's operation, beside what its commands and harmony said.
PYINFRA_WORDS = re.compile(r"^(Success|No changes|Skipped|noop: |Loaded fact |>>> |Retrying |Error\b)")
FAILED_OPERATION = re.compile(r"^Error: executed \d+ commands")  # pyinfra's line for a failed operation
# pyinfra's line for a connection that failed under a command: `SSHException('SSH session not active',)`.
CONNECTION_ERROR = re.compile(r"^Command socket/SSH error: (?:\w+\((?P<quote>['\"])(?P<said>.*)(?P=quote),?\)|(?P<raw>.*))$")


def _log_reasons(log: list[str]) -> dict[str, HostResult]:
    """Each host's errors from pyinfra's log lines; for a failed operation, its own words (pyinfra logs a failed command's output, stderr and stdout,
    before its "Error: executed N commands"), and a connection lost under a command."""
    hosts: dict[str, HostResult] = {}
    said: dict[str, list[str]] = {}  # host name -> what its commands and harmony said in the operation in hand
    for line in log:
        if STARTING.search(line):
            said.clear()
        for part in line.splitlines():
            match = HOST_LINE.match(part)
            if not match:
                continue
            name, text = match["host"], match["text"].strip()
            lost, failed = CONNECTION_ERROR.match(text), FAILED_OPERATION.match(text)
            if lost:
                hosts.setdefault(name, HostResult(name)).lost = \
                    f"lost the connection to {name}: {lost['said'] if lost['quote'] else lost['raw']}"
            elif failed and said.get(name):
                hosts.setdefault(name, HostResult(name)).cause = _cause(said[name])
            if text and not PYINFRA_WORDS.match(text):
                said.setdefault(name, []).append(text)
            if not any(marker in text for marker in ERROR_MARKERS):
                continue
            result = hosts.setdefault(name, HostResult(name))
            if text not in result.errors and not text.startswith(runcontext.WOULD_FAIL):
                result.errors.append(text)
    return hosts


def _cause(said: list[str]) -> str:
    """What a failed operation said of its failure: harmony's last message in it, else the last
    line its command wrote (where the cause is: `install: error writing '...': No space left on
    device`), cut to CAUSE_LENGTH."""
    ours = [words for words in said if words.startswith("harmony:")]
    last = said[-1]
    return ours[-1] if ours else last if len(last) <= CAUSE_LENGTH else f"{last[:CAUSE_LENGTH]}..."
