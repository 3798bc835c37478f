"""k3s's service on a host, under the host's init system (a fact): a systemd unit, or an OpenRC
script (Alpine and other OpenRC edge boxes), each as the official install script sets it up.

The deploy writes the same files and takes the same steps under both; a `Service` says where the
files go, which commands start, restart and stop it, and where it logs. One difference shapes
the deploy: a systemd start returns once k3s is ready (the unit is Type=notify), an OpenRC start
as soon as the process runs; so under OpenRC harmony waits for the node to be Ready in the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from harmony.k3s import paths

# The shell pattern of k3s's error lines: the reason a failed start gives.
ERROR_LINES = "level=(fatal|error)"


@dataclass(frozen=True)
class Service:
    role: str  # server | agent
    init: str  # openrc, or anything else for systemd (a host without either never gets here)

    @property
    def openrc(self) -> bool:
        return self.init == "openrc"

    @property
    def name(self) -> str:
        return paths.unit_name(self.role)

    @property
    def file(self) -> str:
        return paths.unit_file(self.role, self.init)

    @property
    def file_mode(self) -> str:
        return "755" if self.openrc else "644"

    @property
    def env_file(self) -> str:
        return paths.env_file(self.role, self.init)

    @property
    def notifies_ready(self) -> bool:
        """Whether starting it returns only once k3s is ready."""
        return not self.openrc

    @property
    def files(self) -> tuple[str, ...]:
        """The files harmony writes for this service (besides k3s's own)."""
        extra = (paths.logrotate_file(self.role),) if self.openrc else ()
        return (self.file, self.env_file, paths.uninstall_script(self.role), *extra)

    @property
    def reload(self) -> str | None:
        """What makes the init system read a changed service file, where it must be told."""
        return None if self.openrc else "systemctl daemon-reload"

    def enable(self) -> str:
        return f"rc-update add {self.name} default" if self.openrc else f"systemctl enable {self.name}.service"

    def disable(self) -> str:
        return f"rc-update del {self.name} default" if self.openrc else f"systemctl disable {self.name}.service"

    def control(self, action: str) -> str:
        """start, stop or restart it."""
        return f"rc-service {self.name} {action}" if self.openrc else f"systemctl {action} {self.name}.service"

    def logs(self, lines: int) -> str:
        """A command printing its last log lines."""
        if self.openrc:
            return f"tail -n {lines} {paths.log_file(self.role)} 2>/dev/null"
        return f"journalctl -u {self.name}.service -n {lines} --no-pager -o cat"

    def last_error(self) -> str:
        """A command printing k3s's last error line, if any: why it is not up."""
        return f"{self.logs(50)} | grep -E '{ERROR_LINES}' | tail -n 1"

    @property
    def log_hint(self) -> str:
        """Where a user reads its log."""
        return paths.log_file(self.role) if self.openrc else f"journalctl -u {self.name}"
