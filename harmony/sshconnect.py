"""pyinfra's SSH connector, connecting as `harmony.sshconfig` resolves each host: harmony's
runs give it to every SSH host (`harmony.runner._session`); the plain `pyinfra` command keeps
its own.

pyinfra reads ~/.ssh/config itself, but puts the file's Port and User under nothing in a
ProxyJump (the run's own port is lost on the last hop), checks no bastion's host key as the
host's (it asks on the terminal), gives a bastion none of the run's key, and runs a
ProxyCommand without a shell and with the file's values in its %-tokens. Here the whole way is
resolved once (`sshconfig.resolve`, `sshconfig.route`) and pyinfra's client is handed the result
with an empty config, so that it resolves nothing again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading

from paramiko import ProxyCommand, SSHException
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.sshuserclient import SSHClient

from harmony import sshconfig
from harmony.controller import HERE
from harmony.errors import BadInput


# Every host of a run through a bastion logs in on the bastion's sshd, and a stock sshd drops
# some of the connections beyond 10 not yet authenticated (OpenSSH's MaxStartups 10:30:100):
# at most this many log in on one bastion at once, the others wait their turn, a login's few
# round trips each. Half of sshd's 10: its count of a login ends a little after the client's
# (at 10, 5 of 30 hosts were still dropped: tests/e2e/test_fleet.py), and others log in there
# too. (gevent makes these semaphores its own: `harmony.verbs.command`.)
BASTION_LOGINS = 5
_logging_in: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def login_turn(hop: sshconfig.Endpoint) -> threading.BoundedSemaphore:
    """The turn to log in on `hop`, shared by every host of the run that goes through it."""
    return _logging_in.setdefault((hop.hostname, hop.port), threading.BoundedSemaphore(BASTION_LOGINS))


class BastionError(SSHException):
    """A hop on the way to a host failed: which, and why (`cause`, paramiko's own error);
    `reaching` where the hop could not open the way on to."""

    def __init__(self, hop: sshconfig.Endpoint, cause: BaseException, reaching: sshconfig.Endpoint | None = None):
        super().__init__(f"bastion {hop.where}: {cause}")
        self.hop, self.cause, self.reaching = hop, cause, reaching


class ShellProxy(ProxyCommand):
    """A ProxyCommand run as OpenSSH runs it: `$SHELL -c 'exec COMMAND'` (/bin/sh without
    SHELL; on Windows, the POSIX sh local runs use, `harmony.controller`), its stdin and stdout
    the connection, its stderr the user's; paramiko's own splits the command itself and runs
    no shell. Closed once its command has ended, it says nothing."""

    def __init__(self, command: str) -> None:  # paramiko's methods, with the process started here
        shell = HERE.shell() if HERE.windows else os.environ.get("SHELL") or HERE.shell()
        self.cmd = [shell, "-c", f"exec {command}"]
        self.process = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                        env=HERE.environment(shell))
        self.timeout = None

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()  # SIGTERM; TerminateProcess on Windows
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


class Connector(SSHConnector):
    """SSHConnector with the host's way resolved by harmony: alias, user, port, key, and the
    hops or the ProxyCommand before it."""

    def __init__(self, state, host) -> None:
        super().__init__(state, host)
        self.endpoint: sshconfig.Endpoint | None = None  # where the host's connection goes
        self.hops: list = []  # the connected bastions' clients, closed with the host's connection

    def make_paramiko_kwargs(self) -> dict:
        kwargs = super().make_paramiko_kwargs()
        self.close_hops()
        data = self.host.data
        try:
            config = sshconfig.load(data.get("ssh_config_file"))
            bastion = sshconfig.parse_jumps(data.get("ssh_bastion"), "ssh_bastion")
            endpoint = self.endpoint = sshconfig.resolve(
                kwargs["hostname"], config, kwargs.get("username"), kwargs.get("port"), bastion)
        except BadInput as error:  # the user's SSH config: this host fails, in a line, not the run
            raise SSHException(str(error)) from None
        kwargs.update(hostname=endpoint.hostname, port=endpoint.port, username=endpoint.user)
        # The run's key wins over the config's IdentityFile (as `ssh -i`); then the agent and
        # the usual key files, as paramiko looks for them.
        keys = [path for path in endpoint.identity_files if os.path.isfile(path)]
        if "pkey" not in kwargs and keys:
            kwargs["key_filename"] = keys
        strict = data.get("ssh_strict_host_key_checking") or endpoint.strict_host_key_checking or "accept-new"
        known = data.get("ssh_known_hosts_file") or next(iter(endpoint.known_hosts_files), None)
        kwargs.update(_pyinfra_ssh_config_file=os.devnull, _pyinfra_ssh_strict_host_key_checking=strict,
                      _pyinfra_ssh_known_hosts_file=known,
                      _pyinfra_ssh_forward_agent=data.get("ssh_forward_agent") or endpoint.forward_agent)
        sock = self.hops_and_sock(endpoint, config, kwargs)  # each hop's own timeout, else the run's
        if sock is not None:
            kwargs["sock"] = sock
        kwargs["timeout"] = endpoint.connect_timeout or kwargs.get("timeout")
        return kwargs

    def hops_and_sock(self, endpoint: sshconfig.Endpoint, config, base: dict, depth: int = 0):
        """The socket paramiko talks to `endpoint` through: a ProxyCommand's, or a channel
        through its last hop (each hop connected through the one before, with the host's host
        key checking and, unless the config names one for it, the host's key); None: direct."""
        if endpoint.proxy_command:
            return ShellProxy(endpoint.proxy_command)
        if not endpoint.jumps:
            return None
        if depth >= sshconfig.MAX_DEPTH:
            raise SSHException(f"more than {sshconfig.MAX_DEPTH} hops on the way to {endpoint.name}: "
                               "does the SSH config's ProxyJump go round in a loop?")
        hops = sshconfig.route(endpoint, config)
        sock = self.hops_and_sock(hops[0], config, base, depth + 1)
        for index, hop in enumerate(hops):
            client = SSHClient()
            keys = [path for path in hop.identity_files if os.path.isfile(path)]
            login = {"key_filename": keys} if keys else {"pkey": base["pkey"]} if base.get("pkey") else {}
            agent = not login and base.get("allow_agent", True)
            timeout = hop.connect_timeout or base.get("timeout")
            try:
                with login_turn(hop):
                    client.connect(
                        hop.hostname, port=hop.port, username=hop.user, sock=sock, timeout=timeout,
                        allow_agent=agent, look_for_keys=agent and base.get("look_for_keys", True),
                        _pyinfra_ssh_config_file=os.devnull,
                        _pyinfra_ssh_strict_host_key_checking=base["_pyinfra_ssh_strict_host_key_checking"],
                        _pyinfra_ssh_known_hosts_file=base["_pyinfra_ssh_known_hosts_file"], **login)
            except Exception as error:
                client.close()
                self.close_hops()
                raise BastionError(hop, error) from error
            self.hops.append(client)
            onward = hops[index + 1] if index + 1 < len(hops) else endpoint
            try:
                sock = client.get_transport().open_channel(
                    "direct-tcpip", (onward.hostname, onward.port), ("127.0.0.1", 0), timeout=timeout)
            except Exception as error:
                self.close_hops()
                raise BastionError(hop, error, onward) from error
        return sock

    def close_hops(self) -> None:
        for client in reversed(self.hops):
            client.close()
        self.hops = []
