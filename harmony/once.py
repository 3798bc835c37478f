"""Values worked out once and shared: per run (a pyinfra State) or for the whole process.

pyinfra prepares and runs a run's hosts concurrently (greenlets), and they often need the same
thing at the same moment: the first server's state, its join token, the cluster's kubeconfig,
a release's checksums. The first to ask works it out; the others wait for that answer instead
of asking again (sshd would refuse more than MaxSessions (10) channels at once on the one
connection to a server). A run's values go with its State.
"""

from __future__ import annotations

import functools
import threading
from typing import Callable, Hashable, TypeVar
from weakref import WeakKeyDictionary

T = TypeVar("T")


class _Process:
    """The scope of values kept for the whole process."""


PROCESS = _Process()


class _Entry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known = False
        self.value = None


_guard = threading.Lock()
_entries: WeakKeyDictionary = WeakKeyDictionary()


def get(scope, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] = lambda _: True) -> T:
    """The value of `key` in `scope` (a pyinfra State, or PROCESS): computed by the first caller
    while the others wait; kept where `keep(value)` (else the next caller computes it again)."""
    with _guard:
        entry = _entries.setdefault(scope, {}).setdefault(key, _Entry())
    with entry.lock:
        if not entry.known:
            value = compute()
            if not keep(value):
                return value
            entry.value, entry.known = value, True
        return entry.value


def per_process(function: Callable[..., T]) -> Callable[..., T]:
    """A function whose result for given arguments is computed once in the process."""

    @functools.wraps(function)
    def once(*args, **kwargs):
        return get(PROCESS, (function.__qualname__, args, tuple(sorted(kwargs.items()))),
                   lambda: function(*args, **kwargs))

    return once
