"""Stopping on the controller, once the hosts' run is over: while harmony waits for the API and
applies and waits for the workloads, a SIGINT or SIGTERM is noted, the request in hand (one
object's apply, one poll) finishes, and the next checkpoint stops the command with exit 130,
saying what was left. A second signal stops it at once. Each write to the API is one request
the API server carries out whole or not at all, so a stop leaves every object either as it was
or as applied; the next `up` converges the rest (and prunes what the stopped run left: see
`harmony.workloads.apply.carry_out`).

`harmony bundle` has nothing to finish first: its files are written aside and renamed only
when whole and checked, so a stop there ends it at once (`at_once`)."""

from __future__ import annotations

import contextlib
import signal
import sys

from harmony.controller import HERE
from harmony.errors import Interrupted

STOP_SIGNALS = HERE.stop_signals  # SIGINT and SIGTERM; on Windows SIGINT and SIGBREAK (Ctrl-Break)
LEFT = "what is done stays; run the command again to converge the rest"


class Checkpoint:
    """Call it between steps: it raises Interrupted once a stop was asked."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.doing = ""

    def __call__(self, doing: str = "") -> None:
        self.doing = doing or self.doing
        if self.signal is not None:
            raise Interrupted(signal.Signals(self.signal).name, self.doing, what=LEFT)

    def _asked(self, signum, frame) -> None:
        if self.signal is not None:  # asked twice: now
            raise Interrupted(signal.Signals(signum).name, self.doing, what=LEFT)
        self.signal = signum
        sys.stderr.write("harmony: stopping after the request in hand (stop again to stop now)\n")


@contextlib.contextmanager
def checkpoints():
    checkpoint = Checkpoint()
    previous = {sig: signal.signal(sig, checkpoint._asked) for sig in STOP_SIGNALS}
    try:
        yield checkpoint
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def at_once(what: str):
    """For a command whose steps leave nothing half done (downloads into files renamed only
    when whole and checked): a SIGINT or SIGTERM stops it at once, with exit 130 and `what`."""
    def stop(signum, frame):
        raise Interrupted(signal.Signals(signum).name, what=what)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
