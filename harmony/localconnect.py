"""pyinfra's local connector (`@local`), running each command by argv in a POSIX sh: harmony's
runs give it to the local host (`harmony.runner._session`); the plain `pyinfra` command keeps
its own.

pyinfra's runs `Popen(command, shell=True)`. On Linux and macOS that is `/bin/sh -c COMMAND`,
which this connector runs too, so nothing changes there. On Windows it is cmd.exe, which takes
the single quotes of pyinfra's `sh -c '...'` as plain characters: no command of a run would
work. Here the command goes to the sh `harmony.controller` found (Git for Windows' sh.exe) as
one argument, never through cmd.exe, and files are copied from and to the controller's
temporary files by their POSIX-style path (`C:/Users/...`, which that sh reads), quoted.

Each command runs in a process group of its own, and those in progress are known (`running`),
so that a run that is ended ends them with everything they started (`harmony.runner`), on every
system (`harmony.controller.Controller.end`). A terminal's Ctrl-C reaches harmony alone (pyinfra's
commands shared harmony's group, so Ctrl-C hit the step in progress directly on Linux and macOS,
and on Windows nothing could aim a Ctrl-Break at them): harmony's stop decides, as it does when
signalled alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gevent.subprocess import PIPE, Popen
from pyinfra import logger
from pyinfra.api.command import QuoteString, StringCommand
from pyinfra.api.output import echo
from pyinfra.api.util import get_file_io
from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.util import (CommandOutput, execute_command_with_sudo_retry, make_unix_command_for_host,
                                     read_output_buffers, write_stdin)

from harmony import controller

_running: set = set()  # the commands started and not yet ended, of every local host of this process


def running() -> list:
    """The local commands in progress (Popen objects)."""
    return [process for process in _running if process.poll() is None]


def argv(shell: str, command: str) -> list[str]:
    """The argv that runs a pyinfra command line in `shell`, as `Popen(command, shell=True)`
    does on POSIX."""
    return [shell, "-c", command]


def run_process(command: str, system: controller.Controller, stdin=None, timeout: int | None = None,
                print_output: bool = False, print_prefix: str = "") -> tuple[int, CommandOutput]:
    """pyinfra's `run_local_process`, by argv in the controller's sh, the process known while it runs."""
    shell = system.shell()
    process = Popen(argv(shell, command), stdout=PIPE, stderr=PIPE, stdin=PIPE, env=system.environment(shell),
                    **system.own_group())
    _running.add(process)
    try:
        if stdin:
            write_stdin(stdin, process.stdin)
        process.stdin.close()
        output = read_output_buffers(process.stdout, process.stderr, timeout=timeout, print_output=print_output,
                                     print_prefix=print_prefix)
        process.wait()
    finally:
        _running.discard(process)
        process.stdout.close()
        process.stderr.close()
    logger.debug("--> Command exit status: %i", process.returncode)
    return process.returncode, output


class Connector(LocalConnector):
    """LocalConnector, with commands run by `run_process` and files copied by quoted paths."""

    system = controller.HERE

    def run_shell_command(self, command: StringCommand, print_output: bool = False, print_input: bool = False,
                          **arguments) -> tuple[bool, CommandOutput]:
        arguments.pop("_get_pty", False)
        timeout = arguments.pop("_timeout", None)
        stdin = arguments.pop("_stdin", None)
        success = arguments.pop("_success_exit_codes", None) or (0,)

        def execute() -> tuple[int, CommandOutput]:
            unix_command = make_unix_command_for_host(self.state, self.host, command, **arguments)
            logger.debug("--> Running command on localhost: %s", unix_command)
            if print_input:
                echo(f"{self.host.print_prefix}>>> {unix_command}", err=True)
            return run_process(unix_command.get_raw_value(), self.system, stdin, timeout, print_output,
                               self.host.print_prefix)

        code, output = execute_command_with_sudo_retry(self.host, arguments, execute)
        return code in success, output

    def put_file(self, filename_or_io, remote_filename, remote_temp_filename=None, print_output: bool = False,
                 print_input: bool = False, **arguments) -> bool:
        with _temporary() as temporary:
            with get_file_io(filename_or_io) as file_io:
                data = file_io.read()
            temporary.write_bytes(data.encode() if isinstance(data, str) else data)
            self._copy(temporary.as_posix(), remote_filename, print_output, print_input, arguments)
        return True

    def get_file(self, remote_filename, filename_or_io, remote_temp_filename=None, print_output: bool = False,
                 print_input: bool = False, **arguments) -> bool:
        with _temporary() as temporary:
            self._copy(remote_filename, temporary.as_posix(), print_output, print_input, arguments)
            with get_file_io(filename_or_io, "wb") as file_io:
                file_io.write(temporary.read_bytes())
        return True

    def _copy(self, source: str, dest: str, print_output: bool, print_input: bool, arguments: dict) -> None:
        """`cp` in the sh (as pyinfra's, so that sudo applies), both paths quoted."""
        ok, output = self.run_shell_command(StringCommand("cp", QuoteString(source), QuoteString(dest)),
                                            print_output=print_output, print_input=print_input, **arguments)
        if not ok:
            raise OSError(output.stderr)
        if print_output:
            echo(f"{self.host.print_prefix}file copied: {dest}", err=True)


class _temporary:
    """A private temporary file (mkstemp's 0600; on Windows, in the user's own profile), closed
    at once, so that another process can open it (Windows refuses to remove an open file), and
    removed at the end."""

    def __enter__(self) -> Path:
        descriptor, name = tempfile.mkstemp(prefix="harmony-")
        os.close(descriptor)
        self.path = Path(name)
        return self.path

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
