"""The host's run lock: its script, run here on a lock of a temporary directory's, and what a
run makes of its answer."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harmony import runlock, shown
from harmony.lockholders import HOLDER
from harmony.runlock import Lock, Place


def read(output: str) -> Lock:
    lock = Lock()
    for line in output.splitlines():
        kind, _, rest = line.partition("\t")
        assert lock.read(kind, rest), line
    return lock


@pytest.fixture
def place(tmp_path) -> Place:
    return Place(str(tmp_path / "harmony" / "lock"), str(os.getuid()), str(tmp_path / "harmony.lock"))


@pytest.fixture
def run():
    """Runs the lock script as a run tied to a process of its own, ended afterwards (and with
    it the holder)."""
    watched = []

    def take(place: Place, mode: str = "exclusive") -> Lock:
        watch = subprocess.Popen(["sleep", "60"])
        watched.append(watch)
        script = runlock.script(place, mode, 1, "ops@laptop, harmony pid 4242", str(watch.pid))
        return read(subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30).stdout)

    yield take
    for watch in watched:
        watch.kill()
        watch.wait()


def mode_and_owner(path: Path) -> tuple[str, int]:
    info = path.lstat()
    return oct(info.st_mode & 0o777), info.st_uid


def test_the_lock_and_its_record_are_its_users_alone(place, run):
    assert run(place).status == "held"
    lock = Path(place.path)
    for path, mode in ((lock.parent, "0o700"), (lock, "0o600"), (Path(f"{lock}.info"), "0o600"),
                       (Path(place.earlier), "0o600")):
        assert mode_and_owner(path) == (mode, os.getuid()), path


@pytest.mark.parametrize("make", [lambda d: d.mkdir(mode=0o755), lambda d: d.symlink_to(d.parent),
                                  lambda d: d.write_text("")], ids=["open to others", "a symlink", "a file"])
def test_a_lock_directory_others_could_use_is_refused(place, run, make):
    directory = Path(place.path).parent
    make(directory)
    lock = run(place)
    assert lock.status == "unsafe"
    assert lock.blocking(1).startswith(f"refusing the lock directory {directory} (")
    assert not Path(place.path).exists() and not (directory.parent / "lock").exists()


def test_a_process_that_is_not_a_harmony_run_is_named_by_pid_and_command(place, run):
    Path(place.path).parent.mkdir(mode=0o700)
    holder = subprocess.Popen(["flock", place.path, "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["flock", "-n", place.path, "true"]).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        lock = run(place)
    finally:
        holder.kill()
    assert lock.status == "busy" and not lock.harmony
    assert lock.blocking(1) == (f"this host's lock ({place.path}) is held by pid {holder.pid} "
                                f"{shown.value(f'flock {place.path} sleep 30')}, not a harmony run; it did not let "
                                "go within 1 s: end it, or run again once it has")


def test_another_harmony_run_is_named_by_its_record_or_as_a_dry_run():
    by = f"lock_by\t77\tsh\x01-c\x01while ...\x01{HOLDER}\x01123\x01/run/harmony/lock"
    lock = read(f"{by}\nlock_waited\t/run/harmony/lock\tops@laptop\n{by}\nlock_busy\t/run/harmony/lock\tops@laptop")
    assert lock.waited == "waited for another harmony run on this host to end (ops@laptop)"
    assert lock.blocking(5) == ("another harmony run holds this host (ops@laptop); it did not end within 5 s: "
                                "run again once it has")
    assert "(a plan or check)" in read(f"{by}\nlock_busy\t/run/harmony/lock\t").blocking(5)


def test_a_holder_the_host_does_not_show_is_said_to_be_so_and_a_record_alone_proves_no_run():
    lock = read("lock_busy\t/run/harmony/lock\tops@laptop, harmony pid 4242")
    assert not lock.harmony
    assert "held by a process this host does not show (in another PID namespace, or no /proc)" in lock.blocking(5)


def test_the_earlier_lock_held_by_another_users_process_is_passed_over_with_a_warning():
    lock = read("lock_by\t88\tflock\x01/run/harmony.lock\x01sleep\x01300\nlock_ignored\t/run/harmony.lock\nlock_held")
    assert lock.blocking(5) is None and lock.status == "held"
    assert lock.ignored == ("warning: /run/harmony.lock, the lock earlier versions of harmony take, is held by "
                            "pid 88 'flock /run/harmony.lock sleep 300', not a harmony run (of another user): not "
                            "waited for")


def test_a_run_that_waited_for_a_process_that_is_not_a_harmony_run_says_which():
    lock = read("lock_by\t812\tflock\x01/run/harmony/lock\x01sleep\x015\nlock_waited\t/run/harmony/lock\t\nlock_held")
    assert lock.blocking(5) is None
    assert lock.waited == ("waited for this host's lock (/run/harmony/lock), held by pid 812 "
                           "'flock /run/harmony/lock sleep 5', not a harmony run")


def test_a_local_hosts_lock_held_by_this_process_is_not_taken_again_by_its_next_deploy(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(runlock, "_HELD_HERE", set())
    local, remote = SimpleNamespace(name="@local", data={}), SimpleNamespace(name="10.0.0.1", data={})
    held, busy = Lock(status="held"), Lock(status="busy")
    for target in (local, remote):
        taken = runlock.take(target)
        assert taken["lock"] == "exclusive"
        runlock.keep(target, taken, busy)  # not held: taken again next time
        assert runlock.take(target) == taken
    runlock.keep(remote, runlock.take(remote), held)  # over SSH the lock goes with the connection
    assert runlock.take(remote)["lock"] == "exclusive"
    shared = runlock.take(SimpleNamespace(name="@local", data={"harmony_lock": "shared"}))
    runlock.keep(local, shared, held)  # a dry run's shared lock is not kept
    assert runlock.take(local)["lock"] == "exclusive"
    runlock.keep(local, runlock.take(local), held)
    assert runlock.take(local) == {}  # its holder watches this process: held until harmony ends


@pytest.fixture
def no_flock(tmp_path, monkeypatch):
    """A PATH with every command of this machine's but util-linux's flock, as on macOS."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        for command in Path(directory).iterdir():
            if command.name != "flock" and not (bin_dir / command.name).exists():
                (bin_dir / command.name).symlink_to(command)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_a_local_run_without_flock_takes_the_lock_with_harmonys_python(place, run, no_flock):
    """macOS has no flock command: a local run's script stands in for it with this process's
    Python, and the lock is held, waited for and shared as with util-linux's."""
    assert subprocess.run(["sh", "-c", "command -v flock"], capture_output=True).returncode != 0
    assert run(place).status == "held"
    started = time.monotonic()
    busy = run(place)
    assert busy.status == "busy" and busy.harmony and time.monotonic() - started >= 1  # waited its 1 s
    assert busy.holder == "ops@laptop, harmony pid 4242"


def test_without_flock_shared_locks_are_shared_and_a_remote_run_takes_none(place, run, no_flock):
    assert run(place, "shared").status == run(place, "shared").status == "held"
    assert runlock.python_flock("") == ""  # a remote host has no Python of harmony's
    remote = runlock.script(place, "exclusive", 1, "ops@laptop", "")
    assert subprocess.run(["sh", "-c", remote], capture_output=True, text=True, timeout=30).stdout == ""


@pytest.mark.parametrize("mark,status", [("@", "held"), ("+", "unsafe")], ids=["xattrs", "an ACL"])
def test_macos_marks_after_the_mode_extended_attributes_pass_an_acl_does_not(place, run, tmp_path, monkeypatch, mark,
                                                                             status):
    """macOS's `ls -l` marks a directory with extended attributes `@` (which let nobody in) and
    one with an ACL `+` (which may)."""
    bin_dir = tmp_path / "fake"
    bin_dir.mkdir()
    (bin_dir / "ls").write_text(f"""#!/bin/sh
[ "$1" = -ldn ] || exec /bin/ls "$@"
set -- $(/bin/ls -ldn "$2"); shift
echo "drwx------{mark} $*"
""")
    (bin_dir / "ls").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert run(place).status == status
