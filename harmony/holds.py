"""Steps a stop waits for: a k3s start or restart that has begun on a host.

Everything else a run does on a host can be ended at any moment and leaves the host as it was
(a download's watchdog removes its file; files are renamed into place whole; a wait or a read
changes nothing), so a stop ends the run at once (`harmony.runner`). A restart cannot: once
the host's init system has it, it completes there whatever harmony does, and where it fails,
the step puts the files k3s ran on back and starts k3s on them (`harmony.k3s.operations`).
Ended in the middle, the run could say neither whether k3s came back nor on which files. So the
step marks itself as holding, with the most it may take (its start timeout), and a stop waits
for it to end, up to that bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class Hold:
    what: str  # "the restart of k3s"
    operation: str  # the pyinfra operation it is part of: the hold ends with it
    until: float  # time.monotonic() after which a stop no longer waits


_holds: dict[str, Hold] = {}  # host name -> its hold


def hold(state, host, what: str, seconds: int) -> bool:
    """A FunctionCommand: from here to the end of its operation on `host`, a stop waits at most
    `seconds` for it."""
    _holds[host.name] = Hold(what, host.executing_op_hash, time.monotonic() + seconds)
    return True


def held(hosts) -> list[tuple[str, Hold]]:
    """(host name, hold) for each of `hosts` (pyinfra's) running a step that holds a stop now."""
    now = time.monotonic()
    return [(host.name, h) for host in hosts
            if (h := _holds.get(host.name)) and h.operation == host.executing_op_hash and h.until > now]


def waiting(holding: list[tuple[str, Hold]]) -> str:
    """What a stop waits for: `the restart of k3s on s1 to finish (at most 290 s)`."""
    names = "; ".join(f"{h.what} on {name}" for name, h in holding)
    longest = max(h.until for _, h in holding) - time.monotonic()
    return f"{names} to finish (at most {math.ceil(longest)} s)"
