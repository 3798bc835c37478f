"""WSL 2: harmony in a Linux distribution whose user also works from Windows, where Windows'
kubectl (and Lens, VS Code, ...) looks for the kubeconfig in the Windows profile, not in the
distribution's `~/.kube/config`.

Both sides reach the cluster at the same `https://127.0.0.1:PORT`: WSL forwards the localhost
ports a distribution listens on to Windows (`localhostForwarding`, on by default; mirrored
networking shares them), and Docker Desktop's WSL integration publishes to both. So the same
entries serve both sides, and harmony merges its context into the Windows user's kubeconfig too:
`%KUBECONFIG%`'s first file, else `%USERPROFILE%\\.kube\\config`, as kubectl on Windows looks,
found by asking Windows (`cmd.exe`, through WSL's interop) and reached through `/mnt/c`
(`wslpath`). Merged as the distribution's is (`harmony.kubeconfig`: the other entries kept,
written atomically, 0600 where the drive keeps Linux modes: `metadata` in wsl.conf's automount).

Only for the login user's own kubeconfig: where `KUBECONFIG` or `HOME` points elsewhere (a test's
temporary home, a chosen file), the user chose where the kubeconfig goes, and Windows' is left alone.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

# WSL's interop (Linux running Windows' executables) registers one of these binfmt handlers.
INTEROP = ("/proc/sys/fs/binfmt_misc/WSLInterop", "/proc/sys/fs/binfmt_misc/WSLInterop-late")
CMD = "/mnt/c/Windows/System32/cmd.exe"  # where PATH lacks Windows' (appendWindowsPath=false)
TIMEOUT = 15  # seconds for each question to Windows (cmd.exe starts slowly on a cold system)


@dataclass(frozen=True)
class WindowsKubeconfig:
    """Where Windows' kubectl looks, as this distribution reaches it and as Windows names it;
    or why it was not found (`path` None)."""

    path: Path | None
    shown: str = ""
    problem: str = ""


def detected(release: str | None = None, environ: Mapping[str, str] = os.environ,
             markers: tuple[str, ...] = INTEROP) -> bool:
    """Whether this Linux is a WSL distribution: WSL set `WSL_DISTRO_NAME` (in every process it
    starts there), or the kernel's release names Microsoft (`5.15.167.4-microsoft-standard-WSL2`)
    and WSL's interop is registered. The kernel alone is not enough: every container of Docker
    Desktop on Windows runs on that kernel too, with no Windows to ask."""
    release = platform.release() if release is None else release
    return bool(environ.get("WSL_DISTRO_NAME")) or \
        ("microsoft" in release.lower() and any(os.path.exists(m) for m in markers))


def own_kubeconfig(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the run writes the login user's own kubeconfig: no KUBECONFIG, HOME their home."""
    import pwd  # POSIX only: WSL's Linux

    return not environ.get("KUBECONFIG") and environ.get("HOME", "") == pwd.getpwuid(os.getuid()).pw_dir


def windows_kubeconfig(here: Path) -> WindowsKubeconfig:
    """The Windows user's kubeconfig, asked of Windows (argv lists, never a shell line); where
    Windows does not answer, how Windows' kubectl reads `here`, the distribution's, instead."""
    cmd = shutil.which("cmd.exe") or CMD

    def asked(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd="/", stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise OSError(f"{argv[0]} exited {done.returncode}")
        return done.stdout.strip()

    try:
        listed = asked([cmd, "/d", "/c", "echo", "%KUBECONFIG%"])
        chosen = next((p for p in listed.split(";") if p), "") if listed != "%KUBECONFIG%" else ""
        shown = chosen or asked([cmd, "/d", "/c", "echo", "%USERPROFILE%"]) + "\\.kube\\config"
        if shown.startswith("%USERPROFILE%"):
            raise OSError("Windows names no USERPROFILE")
        return WindowsKubeconfig(Path(asked(["wslpath", "-u", shown])), shown)
    except (OSError, subprocess.SubprocessError) as error:
        share = "\\\\wsl.localhost\\" + os.environ.get("WSL_DISTRO_NAME", "DISTRO") + str(here).replace("/", "\\")
        return WindowsKubeconfig(None, problem=f"cannot ask Windows where its kubeconfig is ({error}: is WSL's "
                                               f"interop off?); Windows' kubectl reads this one with KUBECONFIG={share}")


def mirrored(here: Path, change: Callable[[dict], dict], create: bool = True) -> str:
    """On WSL 2, for the login user's own kubeconfig (`here`), `change` (harmony's context merged
    or removed) applied to Windows' kubeconfig too: what the report says of it ("" where there is
    nothing to say). A Windows side that cannot be read or written is said, not a failed run:
    the distribution's kubeconfig, the one the run promised, is written."""
    from harmony import kubeconfig
    from harmony.errors import RunFailed

    if sys.platform != "linux" or not detected() or not own_kubeconfig():
        return ""
    windows = windows_kubeconfig(here)
    if windows.path is None:
        return f"Windows' kubeconfig: {windows.problem}"
    if windows.path.resolve() == here.resolve() or not (create or windows.path.exists()):
        return ""
    try:
        kubeconfig.write(windows.path, change(kubeconfig.load(windows.path)))
    except (RunFailed, OSError) as error:
        return f"Windows' kubeconfig {windows.shown} left as it was: {error}"
    return f"harmony's context {'merged into' if create else 'removed from'} Windows' kubeconfig {windows.shown} too (WSL 2)"
