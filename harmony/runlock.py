"""Each host's run lock, so that two runs against one host never interleave.

The lock is taken at the start of the one fact a deploy reads (no extra round trip, and no
operation: a no-op run stays a run of zero changes), with `flock`: exclusive for up, down and
kubeconfig, shared for the dry runs of plan and check. The fact hands it to a small holder
process that keeps it until the run's connection ends, however the run ends: it watches the
run's own sshd (or dropbear) process, which every command of the run shares (`run_watch`), or,
for a local run, the harmony process. A second run waits for it, at most `harmony_lock_wait`
seconds, then fails the host naming the holder; a holder that died without letting go (its
record is still there) is taken over with a warning.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
from dataclasses import dataclass

from pyinfra.api import Host

from harmony.datakeys import number

logger = logging.getLogger("pyinfra")

K3S_LOCK = "/run/harmony.lock"  # root's; in /run: not removed by `down`, gone at boot with its holders
# k3d runs as the login user, whose Docker it drives: a lock of that user's.
K3D_LOCK = '"${XDG_RUNTIME_DIR:-/tmp}/harmony-k3d-$(id -u).lock"'


def run_watch(watch: str) -> str:
    """Shell that sets $w to the process this run's commands on the host live under: `watch` if
    given (a local run: the pyinfra process), else the SSH connection's own sshd (or dropbear)
    process, found by walking up /proc (with shell builtins only: no process per step). Empty
    where there is none."""
    return f"""w={shlex.quote(watch)}
if [ -z "$w" ]; then
  p=$$
  while [ "$p" -gt 1 ] 2>/dev/null; do
    c=; read -r c 2>/dev/null < /proc/$p/comm
    case $c in sshd*|dropbear*) w=$p; break ;; esac
    s=; read -r s 2>/dev/null < /proc/$p/stat
    s=${{s##*") "}}; s=${{s#* }}; p=${{s%% *}}
  done
fi"""


def script(path: str, mode: str, wait: int, who: str, watch: str) -> str:
    """Shell that takes the lock at `path` (a shell word), waiting at most `wait` seconds, and
    hands it to a holder. It prints `lock_busy` (and ends the fact there) where another run kept
    it; `lock_held` once it is held; `lock_waited` where another run held it first; `lock_stale`
    with what a holder that died without letting go recorded; `lock_untied` where nothing ties
    it to the run (it is let go). Where flock is missing or the lock cannot be written, nothing."""
    flag = "-x" if mode == "exclusive" else "-s"
    exclusive = mode == "exclusive"
    # Polled 4 times a second where `sleep` takes fractions (GNU, busybox), else once: a run's
    # lock is let go soon after its connection ends, so a run just after it hardly waits.
    holder = ("trap '' HUP INT; while kill -0 \"$1\" 2>/dev/null; do sleep 0.25 2>/dev/null || sleep 1; done"
              + ('; rm -f "$2.info"' if exclusive else ""))
    stale = '[ -s "$l.info" ] && printf "lock_stale\\t%s\\n" "$(cat "$l.info")"' if exclusive else ":"
    record = f'printf "%s\\n" {shlex.quote(who)} > "$l.info"' if exclusive else ":"
    return f"""l={path}
if command -v flock >/dev/null 2>&1 && touch "$l" 2>/dev/null && exec 9>>"$l"; then
  if ! flock -n {flag} 9; then
    printf 'lock_waited\\t%s\\n' "$(cat "$l.info" 2>/dev/null)"
    if ! flock -w {int(wait)} {flag} 9; then
      printf 'lock_busy\\t%s\\n' "$(cat "$l.info" 2>/dev/null)"
      exit 0
    fi
  fi
{run_watch(watch)}
  if [ -z "$w" ]; then
    printf 'lock_untied\\n'
  else
    {stale}
    {record}
    s=; command -v setsid >/dev/null 2>&1 && s=setsid
    $s sh -c {shlex.quote(holder)} harmony-lock "$w" "$l" 9>&9 </dev/null >/dev/null 2>&1 &
    printf 'lock_held\\n'
  fi
  exec 9>&-
fi
"""


@dataclass
class Lock:
    """What the fact said of the host's lock."""

    status: str = ""  # held | busy (another run kept it) | untied | "" (none: no flock)
    holder: str = ""  # busy: who holds it; held: who held it and died without letting go
    waited: str = ""  # another run held it first: who, if it was exclusive

    def read(self, kind: str, rest: str) -> bool:
        """Take one of the fact's lines, if it is about the lock."""
        if kind in ("lock_held", "lock_busy", "lock_untied"):
            self.status = kind[len("lock_"):]
            self.holder = rest if kind == "lock_busy" else self.holder
        elif kind == "lock_stale":
            self.holder = rest
        elif kind == "lock_waited":
            self.waited = rest or "a plan or check"
        else:
            return False
        return True

    def problem(self, target: Host) -> str | None:
        """Why the run cannot go on with `target` (another run kept it), or None, after logging
        what the run should know (whom it waited for, whose lock it took over)."""

        def log(message: str) -> None:
            target.log(message, log_func=logger.warning)

        if self.status == "busy":
            return (f"another harmony run holds this host ({self.holder or 'a plan or check'}); it did "
                    f"not end within {take(target)['wait']} s: run again once it has")
        if self.waited:
            log(f"harmony: waited for another harmony run on this host to end ({self.waited})")
        if self.holder:
            log(f"harmony: warning: took over this host's lock from a run that ended without letting go "
                f"({self.holder})")
        elif self.status == "untied":
            log("harmony: warning: cannot tie the host's lock to this run (no sshd process found): "
                "another run could interleave with this one")
        return None


def take(target: Host) -> dict:
    """How this run takes `target`'s lock, as the facts' arguments: exclusive, or shared for a
    dry run (harmony's runner says which), naming the run, tied to the run's connection."""
    data = target.data
    who = data.get("harmony_run") or f"{socket.gethostname()} pid {os.getpid()}"
    return {"lock": "shared" if data.get("harmony_lock") == "shared" else "exclusive",
            "wait": lock_wait(data, target.name), "who": who, "watch": run_process(target)}


def lock_wait(data, host_name: str) -> int:
    """How long a run waits for another run's lock on the host (harmony_lock_wait)."""
    return number(data, host_name, "harmony_lock_wait", 60, 0, 86400)


def run_process(target: Host) -> str:
    """The process on `target` that lives as long as this run (`run_watch`): this harmony
    process for a local run; else "", the host's own sshd for this run's connection."""
    return str(os.getpid()) if target.name.startswith("@local") else ""
