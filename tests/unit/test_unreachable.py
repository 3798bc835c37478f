"""Why a host could not be connected to, in a few words (harmony.runner.connect_problem)."""

import errno
import socket
from types import SimpleNamespace

import paramiko
import pytest
from pyinfra.api.exceptions import ConnectError

from harmony.runner import connect_problem

HOST = SimpleNamespace(name="h3", data={"ssh_hostname": "127.0.0.1", "ssh_port": 2203, "ssh_user": "root"},
                       state=SimpleNamespace(config=SimpleNamespace(CONNECT_TIMEOUT=10)))
KEY = paramiko.RSAKey.generate(1024)


def raised(cause: BaseException) -> ConnectError:
    """A ConnectError raised while handling `cause`, as pyinfra's SSH connector raises it."""
    try:
        try:
            raise cause
        except BaseException:
            raise ConnectError("pyinfra's words")
    except ConnectError as error:
        return error


@pytest.mark.parametrize("cause, why", [
    (paramiko.ssh_exception.NoValidConnectionsError({("127.0.0.1", 2203): OSError(errno.ECONNREFUSED, "x")}),
     "connection refused (127.0.0.1:2203): check the port, and that sshd runs there"),
    (paramiko.ssh_exception.NoValidConnectionsError({("10.0.0.9", 22): OSError(errno.EHOSTUNREACH, "x")}),
     "no route to host (127.0.0.1:2203): check the address, and the network to it"),
    (paramiko.AuthenticationException("Authentication failed."),
     "authentication failed for root (127.0.0.1:2203): check --ssh-user and --ssh-key"),
    (paramiko.SSHException("Error reading SSH protocol banner"),
     "the connection closed before SSH's banner (127.0.0.1:2203)"),
    (paramiko.SSHException("No existing session"), "no SSH answer within 10 s (127.0.0.1:2203)"),
    (socket.timeout("timed out"),
     "no answer within 10 s (127.0.0.1:2203): check the address, and that no firewall drops port 2203"),
    (socket.gaierror(-2, "Name or service not known"), 
     "cannot resolve 127.0.0.1 (Name or service not known): check the name, or give its address"),
    (paramiko.BadHostKeyException("127.0.0.1", KEY, KEY),
     "its host key is not the one known for it (127.0.0.1:2203): if it was reinstalled, "
     "ssh-keygen -R '[127.0.0.1]:2203'"),
])
def test_each_connection_failure_is_a_few_words_with_where(cause, why):
    assert connect_problem(HOST, raised(cause)) == why
