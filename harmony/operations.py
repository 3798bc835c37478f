"""pyinfra operations harmony needs beyond pyinfra's own.

They decide from the state the `K3sHost` fact already gathered instead of asking the host again
(pyinfra's `files.put` and `systemd.service` run facts of their own: several round trips per
file), and each yields nothing, with a `host.noop` saying why, when the host is as wanted.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileDownloadCommand, FileUploadCommand, StringCommand, operation

from harmony.facts import FileState, UnitState
from harmony.k3s import paths


@operation()
def fail(message: str):
    """Fail this host with a message, and nothing else: used by checks that run before changes."""
    yield f"echo {shlex.quote('harmony: ' + message)} >&2; exit 1"


@operation()
def file(path: str, content: str, mode: str, current: FileState | None):
    """Write a file (root-owned, `mode`) when its content or mode differ from `current`.

    The content is uploaded as the login user into a staging directory only that user (and root)
    can read, then installed with its final mode next to the target and renamed over it: the file
    is never readable by others, and never half-written.
    """
    data = content.encode()
    if current and current.sha256 == hashlib.sha256(data).hexdigest():
        if current.mode == mode:
            host.noop(f"{path} is up to date")
            return
        yield StringCommand("chmod", mode, path)
        return
    staged = f"{paths.STAGING_DIR}/{posixpath.basename(path)}"
    new = f"{path}.harmony-new"
    yield f"{_MAKE_STAGING} && mkdir -p {shlex.quote(posixpath.dirname(path))}"
    yield FileUploadCommand(BytesIO(data), staged, _sudo=False)
    yield (
        f"install -m {mode} -o root -g root {staged} {shlex.quote(new)}"
        f" && mv -f {shlex.quote(new)} {shlex.quote(path)} && rm -f {staged}"
    )


@operation()
def fetch(path: str, local_path: str, current: FileState | None):
    """Download a root-only file to the controller, when the local copy differs.

    pyinfra's `files.get` copies the file to /tmp and makes it world-readable for the download;
    this copies it into the login user's private staging directory instead.
    """
    if current and os.path.exists(local_path):
        with open(local_path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == current.sha256:
                host.noop(f"{local_path} is up to date")
                return
    staged = f"{paths.STAGING_DIR}/{posixpath.basename(path)}"
    yield (
        f"{_MAKE_STAGING} && install -m 0600 -o \"${{SUDO_USER:-$(id -un)}}\" "
        f"{shlex.quote(path)} {staged}"
    )
    yield FileDownloadCommand(staged, local_path, _sudo=False)
    yield StringCommand("rm", "-f", staged)


@operation()
def binary(url: str, sha256: str, dest: str, current: FileState | None):
    """Install an executable from `url`, verified against `sha256`, atomically.

    The download goes to a temporary file beside `dest`; only when its checksum matches is it
    renamed over `dest`. A failed, truncated or tampered download leaves `dest` as it was.
    """
    if current and current.sha256 == sha256:
        if current.mode == "755":
            host.noop(f"{dest} already has sha256 {sha256[:12]}")
            return
        yield StringCommand("chmod", "755", dest)
        return
    tmp = shlex.quote(f"{posixpath.dirname(dest)}/.{posixpath.basename(dest)}.harmony-new")
    quoted_url = shlex.quote(url)
    yield f"""set -u
rm -f {tmp}
if command -v curl >/dev/null; then
  curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 10 --max-time 900 -o {tmp} {quoted_url}
else
  wget -q -T 30 -t 3 -O {tmp} {quoted_url}
fi || {{ rm -f {tmp}; echo "harmony: download failed: {url}" >&2; exit 1; }}
actual=$(sha256sum {tmp} | cut -d' ' -f1)
if [ "$actual" != {sha256} ]; then
  rm -f {tmp}
  echo "harmony: checksum mismatch for {url}: expected {sha256}, got $actual;" \\
       "the download was discarded and {dest} left as it was" >&2
  exit 1
fi
chmod 755 {tmp} && mv -f {tmp} {shlex.quote(dest)}"""


@operation()
def link_commands(names: tuple[str, ...], target: str, commands: dict[str, str]):
    """Link each of `names` to `target` in its directory, unless the command exists already.

    As the install script does: an existing kubectl (say) is the user's and is left alone.
    """
    directory = posixpath.dirname(target)
    missing = [name for name in names if name not in commands]
    if not missing:
        host.noop(f"{', '.join(names)} already on PATH")
        return
    for name in missing:
        yield StringCommand("ln", "-sf", target, f"{directory}/{name}")


@operation()
def daemon_reload():
    """Reload systemd's unit files: only ever called with `_if` on a unit file's change."""
    yield "systemctl daemon-reload"


@operation()
def restart(unit: str):
    """Restart a unit and wait until it reports ready (k3s is Type=notify)."""
    yield _with_status(f"systemctl restart {unit}.service", unit)


@operation()
def enable_and_start(unit: str, current: UnitState):
    """Enable a unit and start it, where it is not already."""
    if current.enabled and current.active:
        host.noop(f"{unit} is enabled and running")
        return
    if not current.enabled:
        yield f"systemctl enable {unit}.service"
    if not current.active:
        yield _with_status(f"systemctl start {unit}.service", unit)


@operation()
def stop_and_disable(unit: str, current: UnitState):
    """Stop and disable a unit, where it is loaded."""
    if current.load_state != "loaded":
        host.noop(f"{unit} is not installed")
        return
    yield f"systemctl disable --now {unit}.service"


@operation()
def run_script(path: str):
    """Run a script on the host: only called where the fact shows there is work for it."""
    yield StringCommand(path)


@operation()
def remove(targets: list[str]):
    """Remove files and directories; `targets` lists only those that exist."""
    if not targets:
        host.noop("nothing left to remove")
        return
    yield StringCommand("rm", "-rf", *targets)


_MAKE_STAGING = f'install -d -m 0700 -o "${{SUDO_USER:-$(id -un)}}" {paths.STAGING_DIR}'


def _with_status(command: str, unit: str) -> str:
    """Run a systemctl command; on failure show the unit's last log lines to say why."""
    return (
        f"{command} || {{ journalctl -u {unit}.service -n 15 --no-pager -o cat >&2;"
        f" echo 'harmony: {unit} failed to start; see journalctl -u {unit}' >&2; exit 1; }}"
    )
