"""Each host's run lock, so that two runs against one host never interleave.

The lock is taken at the start of the one fact a deploy reads (no extra round trip, and no
operation: a no-op run stays a run of zero changes), with `flock`: exclusive for up, down and
kubeconfig, shared for the dry runs of plan and check. The fact hands it to a small holder
process that keeps it until the run's connection ends, however the run ends: it watches the
run's own sshd (or dropbear) process, which every command of the run shares (`run_watch`), or,
for a local run, the harmony process. A second run waits for it, at most `harmony_lock_wait`
seconds, then fails the host naming the holder (`harmony.lockholders`); a holder that died
without letting go (its record is still there) is taken over with a warning. The lock is its
user's alone (root's, or the login user's for k3d): no other user of the host can hold it, so
none can block a run. Where the host has no `flock` command, a local run's script uses harmony's
own Python instead (macOS); a Windows controller holds its local host's lock in its own process
(`harmony.windowslock`).
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import sys
from dataclasses import dataclass, field

from pyinfra.api import Host

from harmony import lockholders
from harmony.controller import HERE
from harmony.datakeys import number
from harmony.lockholders import Holder, holding

logger = logging.getLogger("pyinfra")


@dataclass(frozen=True)
class Place:
    """Where a host's lock lives, as shell words: `path`, in a directory of its own (made mode
    0700, and refused if it is not that user's alone, so no other user can open the lock, let
    alone take it: `ls -l`'s mode, where a `.` (an SELinux context) or macOS's `@` (extended
    attributes) may follow, but no `+`, an ACL that may let others in), owned by user id `owner`; and `earlier`, where harmony kept it before, taken
    too (see `script`)."""

    path: str
    owner: str
    earlier: str


# root's; in /run: not removed by `down`, gone at boot with its holders.
K3S_LOCK = Place("/run/harmony/lock", "0", "/run/harmony.lock")
# k3d runs as the login user, whose Docker it drives: a lock of that user's.
K3D_LOCK = Place('"${XDG_RUNTIME_DIR:-/tmp}/harmony-k3d-$(id -u)/lock"', '"$(id -u)"',
                 '"${XDG_RUNTIME_DIR:-/tmp}/harmony-k3d-$(id -u).lock"')


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


def script(place: Place, mode: str, wait: int, who: str, watch: str) -> str:
    """Shell that takes the lock at `place`, waiting at most `wait` seconds, and hands it to a
    holder. It prints `lock_busy` (and ends the fact there) where another run or a process kept
    it; `lock_held` once it is held; `lock_waited` where another held it first; `lock_stale`
    with what a holder that died without letting go recorded; `lock_untied` where nothing ties
    it to the run (it is let go); `lock_unsafe` (and ends the fact) where its directory is not
    its user's alone. Before each of busy and waited, the holders (`lockholders`). Where flock
    is missing or the lock cannot be written (not its user), nothing.

    It also takes the lock where earlier versions of harmony kept it (made mode 0600 so no
    other user opens it again), so a run of an earlier harmony and this one take turns too:
    waited for where a process of this user's holds it (the user the earlier harmony ran
    as), passed over (`lock_ignored`, after its holders) where only others' processes do."""
    flag = "-x" if mode == "exclusive" else "-s"
    exclusive = mode == "exclusive"
    # Polled 4 times a second where `sleep` takes fractions (GNU, busybox), else once: a run's
    # lock is let go soon after its connection ends, so a run just after it hardly waits.
    # Its `kill` and `sleep` do not hold the lock too: the holder is the one process that does.
    holder = ("trap '' HUP INT; while kill -0 \"$1\" 2>/dev/null; do sleep 0.25 2>/dev/null || sleep 1; "
              "done 9>&- 8>&-" + ('; rm -f "$2.info" ${3:+"$3.info"}' if exclusive else ""))
    stale = '[ -s "$l.info" ] && printf "lock_stale\\t%s\\n" "$(cat "$l.info")"' if exclusive else ":"
    record = (f'for r in "$l" ${{e:+"$e"}}; do printf "%s\\n" {shlex.quote(who)} > "$r.info"; done'
              if exclusive else ":")
    return f"""{lockholders.SHELL}{python_flock(watch)}lock_safe() {{
  set -- $(ls -ldn "$d")
  case $1:$3 in drwx------:"$o"|drwx------.:"$o"|drwx------@:"$o") return 0 ;; esac
  printf 'lock_unsafe\\t%s\\t%s\\n' "$d" "$(ls -ld "$d")"
  exit 0
}}
lock_said() {{ printf '%s\\t%s\\t%s\\n' "$1" "$2" "$(cat "$2.info" 2>/dev/null)"; }}
l={place.path}; d=${{l%/*}}; e={place.earlier}; o={place.owner}; u=$(umask); umask 077
if command -v flock >/dev/null 2>&1 && {{ [ -e "$d" ] || [ -L "$d" ] || mkdir "$d" 2>/dev/null || [ -d "$d" ]; }} \\
    && lock_safe && [ -w "$d" ] && exec 9>>"$l"; then
  if ! flock -n {flag} 9; then
    lock_holders "$l"; lock_said lock_waited "$l"
    if ! flock -w {int(wait)} {flag} 9; then
      lock_holders "$l"; lock_said lock_busy "$l"
      exit 0
    fi
  fi
  if [ ! -L "$e" ] && {{ [ ! -e "$e" ] || chmod 600 "$e" 2>/dev/null; }} && exec 8>>"$e"; then
    if ! flock -n {flag} 8; then
      lock_holders "$e"
      if [ -z "$mine" ]; then
        printf 'lock_ignored\\t%s\\n' "$e"; e=
      else
        lock_said lock_waited "$e"
        flock -w {int(wait)} {flag} 8 || {{ lock_holders "$e"; lock_said lock_busy "$e"; exit 0; }}
      fi
    fi
  else
    e=; exec 8>/dev/null
  fi
{run_watch(watch)}
  if [ -z "$w" ]; then
    printf 'lock_untied\\n'
  else
    {stale}
    {record}
    s=; command -v setsid >/dev/null 2>&1 && s=setsid
    $s sh -c {shlex.quote(holder)} {lockholders.HOLDER} "$w" "$l" "$e" 9>&9 8>&8 </dev/null >/dev/null 2>&1 &
    printf 'lock_held\\n'
  fi
  exec 9>&- 8>&-
fi
umask "$u"
"""


# util-linux's `flock [-n | -w SECONDS] -x|-s FD`, as far as `script` uses it, in Python: flock(2)
# on a descriptor the shell opened and passes down, which keeps the lock once this has ended.
FLOCK = """import fcntl, sys, time
args = sys.argv[1:]
until = time.monotonic() + (float(args[args.index("-w") + 1]) if "-w" in args else 0)
while True:
    try:
        fcntl.flock(int(args[-1]), (fcntl.LOCK_SH if "-s" in args else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        break
    except BlockingIOError:
        if time.monotonic() >= until:
            sys.exit(1)
        time.sleep(0.1)
"""


def python_flock(watch: str) -> str:
    """For a local run (`watch`: this process), shell that stands in for a missing `flock`
    command with this process's Python (`FLOCK`): macOS has no util-linux, and its flock(2) is
    the same. Nothing for a remote run, whose host has no Python of harmony's."""
    if not watch:
        return ""
    return (f"command -v flock >/dev/null 2>&1 || flock() {{ {shlex.quote(sys.executable)} -I -c "
            f"{shlex.quote(FLOCK)} \"$@\"; }}\n")


@dataclass
class Lock:
    """What the fact said of the host's lock."""

    status: str = ""  # held | busy (another kept it) | unsafe (its directory) | untied | "" (none: no flock)
    holder: str = ""  # busy: who holds it; held: who held it and died without letting go; unsafe: the directory
    harmony: bool = True  # busy: the holder is a harmony run
    path: str = ""  # busy: the lock's file, as the host names it
    waited: str = ""  # another held it first: who, in a sentence
    ignored: str = ""  # the earlier harmony's lock, held by others' processes: who, in a sentence
    holders: list[Holder] = field(default_factory=list)  # those named before a busy or waited line

    def read(self, kind: str, rest: str) -> bool:
        """Take one of the fact's lines, if it is about the lock."""
        path, _, record = rest.partition("\t")
        if kind == "lock_by":
            self.holders.append(Holder.of(rest))
        elif kind in ("lock_busy", "lock_waited", "lock_ignored"):
            harmony, who = holding(tuple(self.holders), record)
            self.holders = []
            if kind == "lock_busy":
                self.status, self.holder, self.harmony, self.path = "busy", who, harmony, path
            elif kind == "lock_waited":
                self.waited = (f"waited for another harmony run on this host to end ({who})" if harmony
                               else f"waited for this host's lock ({path}), held by {who}")
            else:
                self.ignored = (f"warning: {path}, the lock earlier versions of harmony take, is held by {who} "
                                "(of another user): not waited for")
        elif kind in ("lock_held", "lock_untied", "lock_unsafe"):
            self.status = kind[len("lock_"):]
            self.holder = f"{path} ({record})" if kind == "lock_unsafe" else self.holder
        elif kind == "lock_stale":
            self.holder = rest
        else:
            return False
        return True

    def blocking(self, wait: int) -> str | None:
        """Why a run cannot go on with the host (another kept its lock, or the lock's directory
        is not its user's alone), or None."""
        if self.status == "unsafe":
            return (f"refusing the lock directory {self.holder}: it must be a directory only this run's "
                    "user can use (mode 0700): remove it, and harmony makes it so")
        if self.status != "busy":
            return None
        if self.harmony:
            return (f"another harmony run holds this host ({self.holder}); it did not end within {wait} s: "
                    "run again once it has")
        return (f"this host's lock ({self.path}) is held by {self.holder}; it did not let go within {wait} s: "
                "end it, or run again once it has")

    def problem(self, target: Host) -> str | None:
        """Why the run cannot go on with `target` (`blocking`), or None, after logging what the
        run should know (whom it waited for, whose lock it took over)."""

        def log(message: str) -> None:
            target.log(f"harmony: {message}", log_func=logger.warning)

        blocking = self.blocking(lock_wait(target.data, target.name))
        if blocking:
            return blocking
        for said in (self.waited, self.ignored):
            if said:
                log(said)
        if self.holder:
            log(f"warning: took over this host's lock from a run that ended without letting go ({self.holder})")
        elif self.status == "untied":
            log("warning: cannot tie the host's lock to this run (no sshd process found): "
                "another run could interleave with this one")
        return None


# The local hosts whose lock this process holds, exclusive: their holder watches this process
# (`run_process`), so it keeps the lock until harmony ends, through each deploy of the verb.
_HELD_HERE: set[str] = set()


def take(target: Host) -> dict:
    """How this run takes `target`'s lock, as the facts' arguments: exclusive, or shared for a
    dry run (harmony's runner says which), naming the run, tied to the run's connection; nothing
    where this process holds it already (a verb's second deploy: `up` sending images)."""
    if target.name in _HELD_HERE or (HERE.windows and target.name.startswith("@local")):
        return {}  # Windows: this process holds it itself (`harmony.windowslock`)
    data = target.data
    return {"lock": "shared" if data.get("harmony_lock") == "shared" else "exclusive",
            "wait": lock_wait(data, target.name), "who": who(data), "watch": run_process(target)}


def who(data) -> str:
    """This run, in the words its lock's record keeps."""
    return data.get("harmony_run") or f"{socket.gethostname()} pid {os.getpid()}"


def keep(target: Host, taken: dict, lock: Lock) -> None:
    """Remember that this process holds a local host's exclusive lock, once the fact read with
    `taken` (what `take` gave) says it is held: the verb's later deploys read their facts without
    taking it again, which would wait for this very process. (Over SSH the lock goes with the
    connection, which the runner closes after each deploy.)"""
    if taken.get("lock") == "exclusive" and taken.get("watch") and lock.status == "held":
        _HELD_HERE.add(target.name)


def lock_wait(data, host_name: str) -> int:
    """How long a run waits for another run's lock on the host (harmony_lock_wait)."""
    return number(data, host_name, "harmony_lock_wait", 60, 0, 86400)


def run_process(target: Host) -> str:
    """The process on `target` that lives as long as this run (`run_watch`): this harmony
    process for a local run; else "", the host's own sshd for this run's connection. On Windows
    "" too: MSYS's `kill -0` knows its own process IDs, not Windows' (a download there does not
    watch harmony: `harmony.controller` ends it with the run)."""
    local = target.name.startswith("@local")
    return str(os.getpid()) if local and not HERE.windows else ""
