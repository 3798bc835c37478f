"""TARGET -> what pyinfra is pointed at: `local`, an inventory name, an inventory file, or one SSH host."""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harmony.errors import BadInput

SSH_HOST = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?$")


@dataclass
class Target:
    """An inventory for pyinfra, with the data and options the target itself implies."""

    inventory: str
    description: str
    data: dict = field(default_factory=dict)
    ssh_port: int | None = None
    ssh_user: str | None = None


def resolve(spec: str, ssh_user: str | None = None, cwd: Path | None = None) -> Target:
    cwd = cwd or Path.cwd()
    if spec == "local":
        return Target("@local", "this machine", data={"_sudo": os.geteuid() != 0})

    named = cwd / "inventories" / f"{spec}.py"
    if re.fullmatch(r"[A-Za-z0-9_-]+", spec) and named.is_file():
        return Target(str(named), f"inventory {named}")

    if spec.endswith(".py") or "/" in spec:
        path = (cwd / spec) if not os.path.isabs(spec) else Path(spec)
        if not path.is_file():
            raise BadInput(f"inventory file {spec} not found")
        return Target(str(path), f"inventory {spec}")

    match = SSH_HOST.fullmatch(spec)
    if not match:
        raise BadInput(
            f"unknown target '{spec}': give local, the name of an inventory in ./inventories, "
            "a path to an inventory .py file, or [user@]host[:port]"
        )
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise BadInput(f"invalid SSH port in '{spec}'")
    user = match["user"] or ssh_user
    login = user or getpass.getuser()
    return Target(
        match["host"].strip("[]"),
        f"{login}@{match['host']}" + (f":{port}" if port else ""),
        data={"_sudo": login != "root"},
        ssh_port=port,
        ssh_user=user,
    )
