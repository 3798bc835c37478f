"""Who holds a host's run lock, when a run cannot take it: a harmony run, or a process to name.

A busy lock is only worth a message that says what to do, and that depends on the holder: wait
for another harmony run, or end (or ask about) a process that is not one. The host names the
processes that hold the lock file open, with shell builtins and `tr`, on any Linux with /proc:
the taker of the lock (in /proc/locks, by the file's inode) where it is still alive (`flock
FILE COMMAND`), else every process with the file open (a harmony run's lock is taken by a
`flock` that has ended, and kept by its holder process, which /proc/locks does not show; and
root without CAP_SYS_PTRACE, in a container, sees no other user's open files). A harmony run's processes
carry `harmony-lock` (HOLDER) in their command line. Where the holder is not shown (no /proc,
or a process in another PID namespace), the message says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from harmony import shown

HOLDER = "harmony-lock"  # the $0 of a harmony run's lock holder on the host (harmony.runlock)

# Shell functions. `lock_holders FILE` prints a `lock_by<TAB>PID<TAB>ARGV` line (ARGV's words
# separated by \001) for each process that holds FILE open, this shell left out, and sets
# $mine where one of them runs as this shell's user.
SHELL = """lock_has() { for x in /proc/$1/fd/*; do [ "$x" -ef "$2" ] && return 0; done; return 1; }
lock_holders() {
  n=$(ls -di "$1" 2>/dev/null); n=${n%% *}; by=; mine=
  while read -r _ k _ _ p i _; do
    case $k:${i##*:} in "FLOCK:$n") [ -d "/proc/$p" ] && by="$by $p" ;; esac
  done 2>/dev/null </proc/locks
  [ -n "$by" ] || for q in /proc/[0-9]*; do
    q=${q#/proc/}; [ "$q" != "$$" ] && lock_has "$q" "$1" && by="$by $q"
  done
  for q in $by; do
    [ -O "/proc/$q" ] && mine=1
    printf 'lock_by\\t%s\\t%s\\n' "$q" "$(tr '\\000\\t\\n' '\\001  ' <"/proc/$q/cmdline" 2>/dev/null)"
  done
}
"""


@dataclass(frozen=True)
class Holder:
    """A process that holds a host's lock file open."""

    pid: str
    argv: tuple[str, ...]

    @classmethod
    def of(cls, line: str) -> Holder:
        """From a `lock_by` line's fields (after its kind)."""
        pid, _, argv = line.partition("\t")
        return cls(pid, tuple(word for word in argv.split("\x01") if word))

    @property
    def harmony(self) -> bool:
        """Whether it is a harmony run's: its lock holder, or its fact taking the lock."""
        return any(HOLDER in word for word in self.argv)

    def __str__(self) -> str:
        return f"pid {self.pid} {shown.value(' '.join(self.argv)) if self.argv else '(no command line)'}"


def holding(holders: tuple[Holder, ...], record: str) -> tuple[bool, str]:
    """Whether a harmony run holds a lock, and who holds it, in words: the run's `record` (what
    an exclusive run wrote) or a plan or check (a shared one writes none); else the processes,
    by pid and command; else that the host does not show them."""
    if any(holder.harmony for holder in holders):
        return True, record or "a plan or check"
    if holders:
        return False, f"{', '.join(map(str, holders))}, not a harmony run"
    return False, "a process this host does not show (in another PID namespace, or no /proc)"
