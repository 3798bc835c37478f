"""Where the k3d executable goes on a host, and whether the user's shell finds it there.

harmony runs k3d by its absolute path, so it never needs admin rights or the user's PATH: the
default directory is one the login user owns where a user's own programs go: `~/.local/bin` (the
XDG place, on macOS and on Linux without root), `/usr/local/bin` as root, and on Windows
`%LOCALAPPDATA%\\harmony\\bin` (per user, no admin rights, as user-scope installers do), as the
host's POSIX shell (Git for Windows' MSYS) names it: `/c/Users/NAME/AppData/Local/harmony/bin`.
`k3d_bin_dir` chooses another. A user who wants to type `k3d` needs that directory on their
PATH, which harmony does not edit (a shell profile, or the Windows user's environment, is the
user's): the install step says where it put k3d and, where the PATH lacks it, the line that adds it.
"""

from __future__ import annotations

import re
import shlex

from harmony.runtime import Platform

# The fact's fragment (`harmony.k3d.facts.K3dHost`): with "$bin" the directory given (or empty),
# the executable's name, the directory in effect, and whether the login shell's PATH has it.
SCRIPT = r"""exe=k3d
case "$(uname -s)" in
  MINGW*|MSYS*|CYGWIN*) exe=k3d.exe; mine="$(cygpath -u "${LOCALAPPDATA:-$HOME/AppData/Local}")/harmony/bin" ;;
  *) if [ "$(id -u)" = 0 ]; then mine=/usr/local/bin; else mine="$HOME/.local/bin"; fi ;;
esac
bin=${bin:-$mine}
case ":$PATH:" in *":$bin:"*|*":$bin/:"*) on_path=yes ;; *) on_path=no ;; esac
printf 'on_path\t%s\nshell\t%s\n' "$on_path" "${SHELL##*/}"
"""


def executable(system: str) -> str:
    """The k3d executable's file name on a host of this `uname -s`."""
    return "k3d.exe" if Platform(system, "none", "none", "absent").os == "windows" else "k3d"


def windows_path(path: str) -> str:
    """A path as Windows writes it, from MSYS's form (`/c/Users/x` -> `C:\\Users\\x`)."""
    match = re.fullmatch(r"/([A-Za-z])(/.*)?", path)
    return f"{match[1].upper()}:{(match[2] or '/')}".replace("/", "\\") if match else path


def added_to_path(system: str, shell: str, directory: str) -> str:
    """The command that puts `directory` on the user's PATH for their next shells."""
    if Platform(system, "none", "none", "absent").os == "windows":
        return ("in PowerShell, [Environment]::SetEnvironmentVariable('Path', [Environment]::GetEnvironmentVariable("
                f"'Path', 'User') + ';{windows_path(directory).replace(chr(39), chr(39) * 2)}', 'User')")
    if shell == "fish":
        return f"fish_add_path {shlex.quote(directory)}"
    profile = {"zsh": "~/.zprofile", "bash": "~/.bash_profile" if system == "Darwin" else "~/.bashrc"}.get(
        shell, "~/.profile")
    line = f'export PATH="{directory}:$PATH"'
    return f"echo {shlex.quote(line)} >> {profile}"


def where(system: str, shell: str, directory: str, on_path: bool) -> str:
    """What the install step says of the directory k3d went to (no semicolon outside the
    command: the report joins a phase's steps with commas and the phases with semicolons)."""
    shown = windows_path(directory) if executable(system) == "k3d.exe" else directory
    if on_path:
        return f"into {shown} (on your PATH)"
    return f"into {shown} (not on your PATH, which harmony does not need. To type k3d: " \
           f"{added_to_path(system, shell, directory)}, then open a new terminal)"
