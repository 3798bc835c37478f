"""SSH as the user has it: `~/.ssh/config` read as the system `ssh` reads it, and bastions.

For each host harmony connects to, `resolve` gives where it really goes (`Endpoint`): the name
given looked up in the user's SSH config (Host aliases and patterns, Match, Include: paramiko's
reading, as pyinfra's), HostName, User, Port, IdentityFile, ProxyCommand and ProxyJump applied
under what the run itself gives, which wins (the command line, harmony.yaml, the inventory's
data: as `ssh -l`, `-p`, `-i`, `-J` win over the file). A bastion (`ssh_bastion`, `--ssh-bastion`,
`ssh.bastion`) is a ProxyJump the run gives: it wins over the config's ProxyJump and ProxyCommand,
as `ssh -J` does, and each of its hops is itself looked up in the config.

Nothing here builds shell text. A ProxyCommand is only ever the user's own config's (a project
file cannot give one), run as OpenSSH runs it (`harmony.sshconnect.ShellProxy`): `exec COMMAND` by the user's shell, with %h %p %r
%n %% expanded (`expand`) to the values in effect.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field

from harmony import shown
from harmony.errors import BadInput

DEFAULT_FILE = "~/.ssh/config"
MAX_DEPTH = 8  # hops within hops (a first hop's own ProxyJump): a loop in the config stops here
HOP = re.compile(r"^(?:ssh://)?(?:(?P<user>[A-Za-z0-9._-]+)@)?"
                 r"(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$")
# The tokens OpenSSH expands in a ProxyCommand (ssh_config(5), TOKENS).
PROXY_TOKENS = "hnpr%"


@dataclass(frozen=True)
class Hop:
    """One hop of a ProxyJump or a bastion, as written: `[user@]host[:port]`."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}{f':{self.port}' if self.port else ''}"


@dataclass(frozen=True)
class Endpoint:
    """Where one connection goes, as the config and the run's own values make it."""

    name: str  # as given: an alias, or the address itself
    hostname: str
    port: int = 22
    user: str = ""
    identity_files: tuple[str, ...] = ()
    proxy_command: str | None = None  # expanded
    jumps: tuple[Hop, ...] = ()
    strict_host_key_checking: str | None = None
    known_hosts_files: tuple[str, ...] = ()
    forward_agent: bool = False
    connect_timeout: int | None = None  # seconds, for the connection and its handshake (OpenSSH's)
    options: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def where(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"


def parse_jumps(text: str | list | tuple | None, what: str = "ProxyJump") -> list[Hop] | None:
    """The hops of a ProxyJump or a bastion: `[user@]host[:port]` (or `ssh://` URLs), comma-
    separated or a list; [] for `none` (no jump, as OpenSSH's `-J none`); None where not given."""
    if text is None:
        return None
    items = [part for item in ([text] if isinstance(text, str) else text)
             for part in (item.split(",") if isinstance(item, str) else [item])]
    if [item.strip() if isinstance(item, str) else item for item in items] == ["none"]:
        return []
    hops = []
    for item in items:
        match = HOP.fullmatch(item.strip()) if isinstance(item, str) else None
        port = int(match["port"]) if match and match["port"] else None
        if not match or (port is not None and not 0 < port < 65536):
            raise BadInput(f"{what} {shown.value(item)}: give [user@]host[:port], several comma-separated")
        hops.append(Hop(match["host"].strip("[]"), match["user"], port))
    if len(hops) > MAX_DEPTH:
        raise BadInput(f"{what}: at most {MAX_DEPTH} hops, not {len(hops)}")
    return hops


def expand(command: str, hostname: str, port: int, user: str, name: str) -> str:
    """A ProxyCommand with its tokens expanded as OpenSSH expands them: %h the host's address
    (after HostName), %p its port, %r the remote user, %n the name as given, %% a %."""
    values = {"h": hostname, "p": str(port), "r": user, "n": name, "%": "%"}
    out, index = [], 0
    while index < len(command):
        char = command[index]
        if char != "%":
            out.append(char)
            index += 1
            continue
        token = command[index + 1:index + 2]
        if token not in values or not token:
            raise BadInput(f"ProxyCommand {shown.value(command)}: unknown token %{token} "
                           f"(harmony expands %{', %'.join(PROXY_TOKENS)}, as OpenSSH does)")
        out.append(values[token])
        index += 2
    return "".join(out)


def load(path: str | None = None):
    """The SSH config in `path` (default ~/.ssh/config, where the user's ssh reads it), with its
    Include files; None where there is none. A ProxyCommand is kept as written, its tokens for
    `expand` to fill with the values in effect (paramiko would fill them from the file's)."""
    from pyinfra.connectors.sshuserclient.config import SSHConfig

    class Config(SSHConfig):
        def _allowed_tokens(self, key):
            return [] if key == "proxycommand" else super()._allowed_tokens(key)

    file = os.path.expanduser(path or DEFAULT_FILE)
    if not os.path.isfile(file):
        if path:
            raise BadInput(f"SSH config file {shown.value(path)} not found")
        return None
    config = Config()
    try:
        with open(file, encoding="utf-8") as stream:
            config.parse(stream)
    except Exception as error:  # OSError, or paramiko's own (plain Exception for an Include loop)
        raise BadInput(f"cannot read the SSH config {shown.value(file)}: {error}") from None
    return config


def resolve(name: str, config, user: str | None = None, port: int | None = None,
            bastion: list[Hop] | None = None) -> Endpoint:
    """Where `name` goes: the config's values for it (None: no config), under `user`, `port`
    and `bastion`, which win where given. A bastion ([] for none) replaces the config's
    ProxyJump and ProxyCommand; else the config's ProxyCommand wins over its ProxyJump."""
    options = config.lookup(name) if config is not None else {"hostname": name}
    hostname = options.get("hostname") or name
    try:
        port = port or int(options.get("port", 22))
    except ValueError:
        raise BadInput(f"SSH config: Port {shown.value(options.get('port'))} for {name} is not a number") from None
    user = user or options.get("user") or getpass.getuser()
    identity = tuple(os.path.expanduser(path) for path in options.get("identityfile") or ())
    proxy, jumps = None, []
    if bastion is not None:
        jumps = bastion
    else:
        command = options.get("proxycommand")
        if command and command.strip().lower() != "none":
            proxy = expand(command, hostname, port, user, name)
        else:
            jumps = parse_jumps(options.get("proxyjump"), f"ProxyJump of {name} in the SSH config") or []
    known = tuple(os.path.expanduser(path) for path in (options.get("userknownhostsfile") or "").split())
    return Endpoint(name, hostname, port, user, identity, proxy, tuple(jumps),
                    options.get("stricthostkeychecking"), known, options.get("forwardagent") == "yes",
                    _seconds(options.get("connecttimeout"), name), dict(options))


TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(text: str | None, name: str) -> int | None:
    """ConnectTimeout in seconds, read as OpenSSH reads a time (`30`, `30s`, `1m30s`: sshd_config(5)
    TIME FORMATS); None where not given, or 0, which OpenSSH takes for no timeout and harmony, whose
    runs are bounded, for its own default."""
    if text is None:
        return None
    parts = re.findall(r"(\d+)([smhdw]?)", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise BadInput(f"SSH config: ConnectTimeout {shown.value(text)} for {name}: give seconds, as 30 or 1m30s")
    return sum(int(number) * TIME_UNITS[unit] for number, unit in parts) or None


def route(endpoint: Endpoint, config) -> list[Endpoint]:
    """The hops on the way to `endpoint`, in order, each resolved through the config as OpenSSH
    resolves `-J` hops: the first with its own ProxyJump or ProxyCommand (it is where the way
    begins), the later ones reached through the one before (their own proxies give way)."""
    hops = []
    for index, hop in enumerate(endpoint.jumps):
        resolved = resolve(hop.host, config, hop.user, hop.port, bastion=None if index == 0 else [])
        hops.append(resolved)
    return hops
