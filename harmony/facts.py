"""pyinfra facts harmony reads from any host: a file's state, the platform (to choose k3s or
k3d), and how this run becomes root. The runtimes' own facts: harmony.k3s.facts,
harmony.k3d.facts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pyinfra.api import FactBase

from harmony import engine


# Prints `init\t<systemd|openrc|none>`: the init system, as the k3s install script detects it.
INIT = """if [ -d /run/systemd/system ]; then printf 'init\\tsystemd\\n'
elif [ -x /sbin/openrc-run ] || [ -x /usr/sbin/openrc-run ]; then printf 'init\\topenrc\\n'
else printf 'init\\tnone\\n'; fi"""


UNKEPT = "-"  # the mode of a file on a host that keeps none (Windows: `stat` shows made-up bits)


@dataclass(frozen=True)
class FileState:
    mode: str  # octal, as `stat -c %a` prints it: "600"; or UNKEPT
    sha256: str
    mtime: int = 0  # seconds since the epoch

    def has_mode(self, mode: str) -> bool:
        """Whether the file has `mode`, as far as its host keeps one: a Windows host's files
        are private by its profile's ACL, and chmod cannot change what MSYS's stat shows."""
        return self.mode in (mode, UNKEPT)


def text_sha256(text: str) -> str:
    """The sha256 of a file of this text, as the hosts' facts report a file's."""
    return hashlib.sha256(text.encode()).hexdigest()


def same_file(current: FileState | None, sha256: str | None, mode: str) -> bool:
    """Whether the host's file (`current`; None: there is none) has this content and mode."""
    return bool(current and current.sha256 == sha256 and current.has_mode(mode))


class Platform(FactBase):
    """What decides a host's runtime (`harmony.runtime`): OS, init system, root, Docker.

    Run without sudo: Docker must answer the login user, who is the one running k3d; which
    engine it is (`harmony.engine`) is decided from the same lines.
    """

    def command(self) -> str:
        return f"""printf 'system\\t%s\\n' "$(uname -s)"
{INIT}
printf 'root\\t%s\\n' "$({SudoAccess().command()})"
{engine.SCRIPT}"""

    def process(self, output: list[str]) -> dict:
        seen, found = engine.Seen(), {}
        for line in output:
            kind, _, rest = line.partition("\t")
            if "\t" in line and not seen.read(kind, rest.split("\t")):
                found[kind] = rest
        return {**found, "engine": engine.decide(seen, found.get("system", ""))}


class SudoAccess(FactBase):
    """How the login user can become root: root, nopasswd, password or none.

    Run without sudo, before anything that needs it: where sudo wants a password that nobody
    gave, pyinfra would stop to prompt for one (and crash without a terminal).
    """

    def command(self) -> str:
        return (
            'if [ "$(id -u)" = 0 ]; then echo root; '
            "elif sudo -n true 2>/dev/null; then echo nopasswd; "
            "elif command -v sudo >/dev/null; then echo password; else echo none; fi"
        )

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else "none"
