"""The run lock of a Windows controller's local host, held by harmony's own process.

Elsewhere the lock is taken by the host's sh with `flock` (`harmony.runlock`). Git for Windows'
sh has no `flock`, cannot pass a descriptor down to a native Python, and makes up the modes that
keep the lock's directory private, so on Windows harmony locks a file of the user's own
(%LOCALAPPDATA%\\harmony\\k3d.lock, private by the profile's ACL) itself, with the C runtime's
byte lock (msvcrt.locking), and keeps it for as long as the process lives: Windows lets it go
when the process ends, however it ends, so no holder process is needed and no lock is ever left
behind. Windows has no shared byte locks: a plan or check takes it as `up` does, so two of them
at once take turns. Who holds it is in the file beside it, as on the other systems.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import BinaryIO, Callable

from harmony import runlock
from harmony.controller import HERE
from harmony.runlock import Lock

POLL = 0.25  # seconds between tries while another run holds it
_held: dict[Path, BinaryIO] = {}  # the locks this process holds, kept open until it ends


def of(target) -> Lock | None:
    """The run lock of `target` where this process holds it itself, a Windows controller's local
    host: taken here (before the host is read, as the fact takes it elsewhere); else None."""
    if not (HERE.windows and target.name.startswith("@local")):
        return None
    return hold(lock_path(), runlock.who(target.data), runlock.lock_wait(target.data, target.name), msvcrt_lock)


def lock_path() -> Path:
    base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
    return Path(base) / "harmony" / "k3d.lock"


def msvcrt_lock(file: BinaryIO) -> None:
    """Lock the file's first byte, or OSError at once where another process has it."""
    import msvcrt  # Windows only

    file.seek(0)
    msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)


def hold(path: Path, who: str, wait: int, lock: Callable[[BinaryIO], None]) -> Lock:
    """The lock at `path` held by this process with `lock` (taken once; later asks find it
    held), waiting at most `wait` seconds for another run to let go: held, or busy naming the
    holder's record."""
    if path in _held:
        return Lock(status="held")
    path.parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "a+b")
    info = path.with_name(path.name + ".info")
    until, waited = time.monotonic() + wait, ""
    while True:
        try:
            lock(file)
            break
        except OSError:
            holder = _record(info) or "another harmony run"
            if time.monotonic() >= until:
                file.close()
                return Lock(status="busy", holder=holder, path=str(path))
            waited = waited or f"waited for another harmony run on this host to end ({holder})"
            time.sleep(POLL)
    info.write_text(who)
    _held[path] = file
    return Lock(status="held", waited=waited)


def _record(info: Path) -> str:
    try:
        return info.read_text().strip()
    except OSError:
        return ""
