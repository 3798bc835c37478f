"""pyinfra operations harmony needs beyond pyinfra's own, for any host: checks, files written
whole, downloads, uploads, fetches; the k3s service's own are in harmony.k3s.operations.

They decide from the state a deploy's one fact already gathered instead of asking the host again
(pyinfra's `files.put` and `systemd.service` run facts of their own: several round trips per
file), and each yields nothing, with a `host.noop` saying why, when the host is as wanted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import os
import posixpath
import secrets
from io import BytesIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import (FileDownloadCommand, FileUploadCommand, FunctionCommand, Host,
                         StringCommand, operation)

from harmony import localstate, once, runcontext, shell
from harmony.facts import FileState, same_file
from harmony.runlock import run_watch

logger = logging.getLogger("pyinfra")

STOPPED = "harmony: not begun: the run was asked to stop"


def step(func):
    """A harmony operation: pyinfra's `@operation`, which fails at once, saying so, where the
    run was asked to stop before it began (`harmony.runcontext`). The run then ends
    (`harmony.runner`), and is reported."""

    @functools.wraps(func)
    def stoppable(*args, **kwargs):
        if runcontext.of(host.state).stop_asked and host.state.is_executing:
            yield f"{shell.command('echo', STOPPED)} >&2; exit 1"
            return
        yield from func(*args, **kwargs)

    return operation()(stoppable)
# This run's mark on the files it stages: two runs never share a staging or temporary name.
RUN_ID = secrets.token_hex(4)
# Where harmony stages uploads on a host before moving them into place (root-only but for the
# login user, who must be able to write there over SFTP before sudo moves the file).
STAGING_DIR = "/var/lib/harmony/staging"


@step
def fail(message: str):
    """Fail this host with a message, and nothing else: used by checks that run before changes.

    A dry run (`harmony plan`, `check`) tells the runner too (`harmony.runcontext`): pyinfra's
    plan would only count the failing command as a change.
    """
    if not host.state.is_executing:
        would_fail(message)
    yield f"{shell.command('echo', 'harmony: ' + message)} >&2; exit 1"


def would_fail(message: str) -> None:
    """In a dry run, say that this host would fail, and why: in the run's report (as a value the
    runner reads) and in pyinfra's log."""
    runcontext.of(host.state).refuse(host.name, message)
    host.log(runcontext.WOULD_FAIL + message, log_func=logger.error)


@step
def nothing(reason: str):
    """Change nothing, saying why. Two uses: a step every host of a run passes (pyinfra keeps
    each host's operations in order but interleaves hosts, so only an operation all hosts share
    makes each wait until the operations before it are done everywhere); and a host's only step,
    where it has nothing to do but must still be in the run's results."""
    host.noop(reason)
    yield from ()


@step
def file(path: str, content: str, mode: str, current: FileState | None, staged_path: str = "",
         staged: FileState | None = None):
    """Write a file (root-owned, `mode`) when its content or mode differ from `current`.

    With `staged_path` (beside `path`), a new version of a file a service runs on is made ready
    there instead (`staged`: what is there now), for the service's restart to put in place.
    """
    data = content.encode()
    settled = _settled(path, hashlib.sha256(data).hexdigest(), mode, current, staged_path, staged)
    if settled is None:
        yield from _install(BytesIO(data), staged_path or path, mode)
    else:
        yield from settled


def _settled(path: str, sha256: str, mode: str, current: FileState | None, staged_path: str,
             staged: FileState | None) -> list[str] | None:
    """Where a file to stage needs no new copy, the commands (maybe none) that settle it: the
    live file is as wanted (a copy an earlier run staged is then removed), or the staged one is.
    None where a new copy must be staged."""
    if current and current.sha256 == sha256:
        commands = ([shell.command("chmod", mode, path)] if not current.has_mode(mode) else []) + (
            [shell.command("rm", "-f", staged_path)] if staged else [])
        if not commands:
            host.noop(f"{path} is up to date")
        return commands
    if staged and staged.sha256 == sha256 and staged.mode == mode:
        host.noop(f"{path}: its new version is staged already, to be put in place with the restart")
        return []
    return None


@step
def user_file(path: str, content: str, current: FileState | None):
    """Write a file of the login user's (mode 0600), atomically, when its content differs."""
    data = content.encode()
    if same_file(current, hashlib.sha256(data).hexdigest(), "600"):
        host.noop(f"{path} is up to date")
        return
    new = f"{path}.harmony-{RUN_ID}"
    yield shell.chain(("umask", "077"), ("mkdir", "-p", posixpath.dirname(path)))
    yield FileUploadCommand(BytesIO(data), new)
    yield shell.chain(("chmod", "600", new), ("mv", "-f", new, path))


@step
def copy_secret(source: Host, source_path: str, path: str, source_file: FileState | None,
                current: FileState | None, staged_path: str, staged: FileState | None):
    """Copy a root-only file from another host (a server's join token), when it differs here:
    staged at `staged_path`, as `file` does.

    The content is read from `source` when this operation runs, so it can come from a server
    started earlier in the same run, and it only ever passes through the controller's memory:
    not through a fact (pyinfra prints facts' output at -vvv), a file or a command line.
    """
    settled = _settled(path, source_file.sha256, "600", current, staged_path, staged) if source_file else None
    if settled is not None:
        yield from settled
        return
    buffer = BytesIO()
    yield FunctionCommand(_read_secret, (source, source_path, buffer), {})
    yield from _install(buffer, staged_path, "600")


def _read_secret(state, host, source: Host, path: str, buffer: BytesIO) -> bool:
    """Read `path` on `source` into `buffer`, printing neither the command's output nor errors."""
    # Every agent of a fleet needs the same token: read once a run, by the first host to ask.
    content, reason = once.get(state, ("read", source.name, path), lambda: read_file(source, path),
                               keep=lambda read: read[0] is not None)
    if content is None:
        host.log(f"harmony: cannot read {path} on {source.name} ({reason}): is k3s up there?",
                 log_func=logger.error)
        return False
    buffer.write(content)
    buffer.seek(0)
    return True


MISSING = "the file is missing or unreadable"


def _as_root(target: Host) -> dict:
    """The arguments that make a command of harmony's own (outside an operation) run as root
    on `target`, as its operations do."""
    data = target.data
    return {"_sudo": True, "_sudo_password": data.get("_sudo_password")} if data.get("_sudo") else {}


def quietly(target: Host, command: str) -> tuple[bool, str]:
    """Run a command as root on `target`, printing neither it nor its output: its success, and
    what it printed."""
    ok, output = target.run_shell_command(StringCommand(command), print_output=False, print_input=False,
                                          **_as_root(target))
    return ok, "".join(output.stdout_lines).strip()


def read_file(source: Host, path: str) -> tuple[bytes | None, str]:
    """A root-only file's content on `source` (None, and why, if it cannot be read), through
    the controller's memory only: the command prints neither its output nor its errors."""
    try:
        ok, text = quietly(source, shell.command("base64", "-w0", path))
    except Exception as error:  # a lost connection, say: the message says which host and why
        return None, f"{type(error).__name__}: {error}"
    if not ok:
        return None, MISSING
    return base64.b64decode(text), ""


@step
def fetch(path: str, local_path: str, current: FileState | None, as_root: bool = True):
    """Download a file to the controller, when the local copy differs.

    A root-only file (`as_root`) is first copied into the login user's private staging
    directory: pyinfra's `files.get` would copy it to /tmp and make it world-readable.
    """
    if fetched(local_path, current):
        host.noop(f"{local_path} is up to date")
        return
    if not as_root:
        yield FileDownloadCommand(path, local_path)
        yield FunctionCommand(_private, (local_path,), {})
        return
    staged = f"{STAGING_DIR}/{RUN_ID}-{posixpath.basename(path)}"
    yield shell.assign(path=path, staged=staged) + (
        f'{_MAKE_STAGING} && install -m 0600 -o "${{SUDO_USER:-$(id -un)}}" "$path" "$staged"')
    yield FileDownloadCommand(staged, local_path, _sudo=False)
    yield FunctionCommand(_private, (local_path,), {})
    yield shell.command("rm", "-f", staged)


def fetched(local_path: str | Path, current: FileState | None) -> bool:
    """Whether the controller's copy at `local_path` is the host's file as it is (`current`)."""
    if not (current and os.path.exists(local_path)):
        return False
    with open(local_path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest() == current.sha256


def kubeconfig_copy() -> Path:
    """Where the controller keeps this host's kubeconfig for the run's cluster."""
    return localstate.fetched_kubeconfig(host.data.get("harmony_cluster") or "harmony", host.name, host.data)


def fetch_kubeconfig(path: str, current: FileState | None, as_root: bool = True, **arguments) -> None:
    """Add the step that fetches this host's kubeconfig to where the controller keeps the run's
    cluster's (private, 0600): both runtimes' deploys end with it."""
    local = kubeconfig_copy()
    localstate.ensure_private_dir(local.parent)
    fetch(name="Fetch the kubeconfig to the controller", path=path, local_path=str(local), current=current,
          as_root=as_root, **arguments)


def _private(state, host, local_path: str) -> bool:
    """A fetched kubeconfig holds the cluster's admin credentials: only its user reads it."""
    os.chmod(local_path, 0o600)
    return True


DOWNLOAD_TRIES = 4


@step
def binary(url: str, sha256: str | None, dest: str, current: FileState | None, stall_timeout: int,
           allow_http: bool = False, watch: str = "", staged_path: str = "", staged: FileState | None = None):
    """Install an executable from `url`, verified against `sha256`, atomically; with
    `staged_path`, stage it there instead, as `file` does.

    The download goes to a temporary file of its own beside `dest`, removed however the script
    ends; only when its checksum matches is it renamed over `dest`. A failed, truncated, stalled
    or tampered download leaves `dest` as it was.

    Each try asks `url` itself: release sites redirect to signed links that expire, so a link
    that went stale (a 403) is mended by asking again. Redirects are followed, at most 5, never
    from https down to plain http unless `allow_http` (curl's --proto-redir; wget cannot refuse
    one, and the checksum, read by the controller, still decides what is installed). A try that
    fails for a reason that may pass (a stall: under 1 KiB/s for `stall_timeout` seconds, a
    broken transfer, a 5xx or 403 answer, a refused connection) is followed by another,
    DOWNLOAD_TRIES in all; one that cannot (a 404, a full disk, an untrusted certificate, a
    refused redirect) ends the download at once. The message says which, and after how many tries.

    The download ends with the run: a watchdog stops it, and nothing is renamed, once the run's
    connection (`runlock.run_watch`; `watch` for a local run) is gone, however the run ended.

    A `sha256` of None (not known: an offline plan or check, `harmony.resolved`) downloads
    nothing: the step is planned as a change, and would fail the host if it ever ran.
    """
    if sha256 is None:
        yield f"{shell.command('echo', f'harmony: refusing to install {url}: its sha256 is not known')} >&2; exit 1"
        return
    settled = _settled(dest, sha256, "755", current, staged_path, staged)
    if settled is not None:
        yield from settled
        return
    directory = posixpath.dirname(dest)
    yield shell.assign(url=url, dest=dest, target=staged_path or dest, dir=directory, sha256=sha256,
                       stall=int(stall_timeout),
                       pattern=f"{directory}/.{posixpath.basename(dest)}.harmony-XXXXXX",
                       redirects="=http,https" if allow_http else "=https") + f"""set -u
mkdir -p "$dir" && tmp=$(mktemp "$pattern") || exit 1
pid= dog=
trap 'rm -f "$tmp" "$tmp.code"; [ -z "$dog" ] || kill "$dog" 2>/dev/null' EXIT
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; exit 1' HUP INT TERM
{run_watch(watch)}
if [ -n "$w" ]; then  # once the run is gone, stop
  (while kill -0 "$w" 2>/dev/null; do sleep 1; done; kill -TERM $$) >/dev/null 2>&1 &
  dog=$!
fi
# The downloader runs in the background: a stop does not wait for it to end.
in_background() {{ "$@" & pid=$!; wait "$pid"; rc=$?; pid=; return $rc; }}
# One try; returns 0 when the file is in "$tmp", 1 for a failure worth another try, 2 otherwise.
try_once() {{
  if command -v curl >/dev/null; then
    in_background curl -sL --proto =http,https --proto-redir "$redirects" --max-redirs 5 \
      --connect-timeout 10 --speed-limit 1024 --speed-time "$stall" --max-time 3600 \
      -w '%{{http_code}}' -o "$tmp" "$url" >"$tmp.code"; rc=$?; code=$(cat "$tmp.code")
    case $rc in
      0) case $code in
           200) return 0 ;;
           404|410) why="the server answered $code (no such file)"; return 2 ;;
           *) why="the server answered $code"; return 1 ;;
         esac ;;
      1) why="it redirects to plain http, which is refused (--allow-http allows it)"; return 2 ;;
      6) why="cannot resolve the server's name"; return 1 ;;
      7) why="cannot connect to the server"; return 1 ;;
      18|52|56) why="the transfer broke off"; return 1 ;;
      23) why="cannot write to $dir (is the disk full?)"; return 2 ;;
      28) why="it stalled (under 1 KiB/s for $stall s) or timed out"; return 1 ;;
      47) why="it redirects more than 5 times"; return 2 ;;
      35|60|77) why="this host does not trust the server's TLS certificate: add its CA to the host's \
trust store (Debian: copy it to /usr/local/share/ca-certificates/ and run update-ca-certificates)"; return 2 ;;
      *) why="curl failed (exit $rc)"; return 1 ;;
    esac
  fi
  in_background wget -q -T "$stall" -t 1 --max-redirect 5 -O "$tmp" "$url"; rc=$?
  case $rc in
    0) return 0 ;;
    3) why="cannot write to $dir (is the disk full?)"; return 2 ;;
    4) why="a network failure (refused, broken off or stalled)"; return 1 ;;
    5) why="this host does not trust the server's TLS certificate: add its CA to the host's trust store"; return 2 ;;
    8) why="the server answered an error"; return 1 ;;
    *) why="wget failed (exit $rc)"; return 1 ;;
  esac
}}
tries=0
while :; do
  tries=$((tries + 1))
  try_once; rc=$?
  [ $rc = 0 ] && break
  if [ $rc = 2 ] || [ $tries -ge {DOWNLOAD_TRIES} ]; then
    [ $tries = 1 ] && n="1 try" || n="$tries tries"
    printf 'harmony: download failed after %s: %s: %s; %s left as it was\\n' "$n" "$why" "$url" "$dest" >&2
    exit 1
  fi
  sleep 2
done
actual=$( (sha256sum "$tmp" 2>/dev/null || shasum -a 256 "$tmp") | cut -d' ' -f1)
if [ "$actual" != "$sha256" ]; then
  printf 'harmony: checksum mismatch for %s: expected %s, got %s; the download was discarded and %s left as it was\\n' \
    "$url" "$sha256" "$actual" "$dest" >&2
  exit 1
fi
[ -z "$w" ] || kill -0 "$w" 2>/dev/null || exit 1  # the run ended while this one checked
chmod 755 "$tmp" && mv -f "$tmp" "$target"
"""


@step
def upload(local_path: str, sha256: str, dest: str, mode: str, current: FileState | None, staged_path: str,
           staged: FileState | None):
    """Stage a file from the controller (an airgap bundle's) at `staged_path`, as `file` does,
    verified against `sha256` on the host, when the host's copy differs."""
    settled = _settled(dest, sha256, mode, current, staged_path, staged)
    if settled is None:
        yield from _install(local_path, staged_path, mode, sha256)
    else:
        yield from settled


@step
def run(command: str):
    """Run a shell command: only called where the fact shows there is work for it."""
    yield command


@step
def remove(targets: list[str]):
    """Remove files and directories; `targets` lists only those that exist."""
    if not targets:
        host.noop("nothing left to remove")
        return
    yield shell.command("rm", "-rf", *targets)


def _install(content: BytesIO | str, path: str, mode: str, sha256: str | None = None):
    """Commands that write `content` (bytes, or a file on the controller) to `path` (root-owned,
    `mode`), never readable by others, never half-written.

    The content is uploaded as the login user into a staging directory only that user (and root)
    can read, checked against `sha256` if given, then installed with its final mode next to the
    target and renamed over it.
    """
    staged = f"{STAGING_DIR}/{RUN_ID}-{posixpath.basename(path)}"
    values = shell.assign(staged=staged, path=path, dir=posixpath.dirname(path), new=f"{path}.harmony-{RUN_ID}",
                          mode=mode, sha256=sha256 or "")
    yield values + f'{_MAKE_STAGING} && mkdir -p "$dir"'
    yield FileUploadCommand(content, staged, _sudo=False)
    yield values + (f'{_CHECK_STAGED if sha256 else ""}install -m "$mode" -o root -g root "$staged" "$new" '
                    '&& mv -f "$new" "$path" && rm -f "$staged" || { rc=$?; rm -f "$new" "$staged"; exit $rc; }')


def sent(content: BytesIO | str, sha256: str, what: str, then: str, **values: object):
    """Commands that upload `content` (bytes, or a file on the controller; `what` it is, for a
    message) into the staging directory as "$staged", check it against `sha256`, and run the
    fixed script `then` on it (its further `values` set as shell variables); "$staged" is removed
    whatever `then` does, and the commands fail as it does."""
    staged = f"{STAGING_DIR}/{RUN_ID}-{secrets.token_hex(4)}"
    assigned = shell.assign(staged=staged, path=what, sha256=sha256, **values)
    yield assigned + _MAKE_STAGING
    yield FileUploadCommand(content, staged, _sudo=False)
    yield assigned + f'{_CHECK_STAGED}{{ {then}\n}}; rc=$?; rm -f "$staged"; exit $rc'


_CHECK_STAGED = ('[ "$(sha256sum "$staged" | cut -d" " -f1)" = "$sha256" ] || { rm -f "$staged";'
                 ' printf "harmony: %s: the upload does not match sha256 %s\\n" "$path" "$sha256" >&2; exit 1; }; ')
_MAKE_STAGING = f'install -d -m 0700 -o "${{SUDO_USER:-$(id -un)}}" {STAGING_DIR}'
