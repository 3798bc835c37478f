"""TARGET -> what pyinfra is pointed at: `local`, an inventory name, an inventory file, one SSH
host, or (from a project file) a list of SSH hosts by role."""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harmony import shown
from harmony.controller import HERE
from harmony.errors import BadInput

MAX_HOST_NAME = 253  # characters, as DNS allows (RFC 1035, 3.1, written as dotted text)
SSH_HOST = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?$")


@dataclass
class Target:
    """An inventory for pyinfra, with the data and options the target itself implies."""

    inventory: str
    description: str
    data: dict = field(default_factory=dict)
    ssh_port: int | None = None
    ssh_user: str | None = None
    # A list of hosts: {group: [(host name, host data)]}, an inventory made here, not from a file.
    groups: dict[str, list[tuple[str, dict]]] | None = None
    file: bool = False  # `inventory` is an inventory file: Python that pyinfra runs to read it


def make_inventory(target: Target, override_data: dict):
    """pyinfra's inventory of the target, with `override_data` over every host's. Only an
    inventory file goes through the `pyinfra` command's reading: given one host's name, that
    would look for a file of that name, a Python module to import, then the name in DNS, and
    print the name where all fail; one host (or @local) is made an inventory here instead."""
    from pyinfra.api import Inventory

    if target.file:
        from pyinfra_cli.inventory import make_inventory as from_cli

        return from_cli(target.inventory, cwd=os.getcwd(), override_data=override_data)
    if target.groups is None:
        return Inventory(([target.inventory], {}), override_data=override_data)
    names = [name for hosts in target.groups.values() for name, _ in hosts]
    return Inventory((names, {}), override_data=override_data,
                     **{group: (hosts, {}) for group, hosts in target.groups.items()})


def resolve(spec: str, ssh_user: str | None = None, cwd: Path | None = None) -> Target:
    cwd = cwd or Path.cwd()
    if spec == "local":
        return Target("@local", "this machine", data={"_sudo": HERE.needs_sudo()})

    named = cwd / "inventories" / f"{spec}.py"
    if re.fullmatch(r"[A-Za-z0-9_-]+", spec) and os.path.isfile(named):  # False, not OSError, for a name too long
        return Target(str(named), f"inventory {named}", file=True)

    if spec.endswith(".py") or "/" in spec:
        path = (cwd / spec) if not os.path.isabs(spec) else Path(spec)
        if not os.path.isfile(path):
            raise BadInput(f"inventory file {shown.value(spec)} not found")
        return Target(str(path), f"inventory {spec}", file=True)

    _, data, description = _ssh_host(spec, ssh_user)
    return Target(data["ssh_hostname"], description, data={"_sudo": data["_sudo"]},
                  ssh_port=data.get("ssh_port"), ssh_user=data.get("ssh_user"))


def of_hosts(servers: list[str], agents: list[str], ssh_user: str | None = None) -> Target:
    """A cluster of SSH hosts, `[user@]host[:port]` each: servers and agents. A host's name is
    its address, with the port where one is given."""
    groups, seen = {"k3s_servers": [], "k3s_agents": []}, set()
    for group, specs in (("k3s_servers", servers), ("k3s_agents", agents)):
        for spec in specs:
            name, data, _ = _ssh_host(spec, ssh_user)
            if name in seen:
                raise BadInput(f"host {name} is listed twice in the target: list it once")
            seen.add(name)
            groups[group].append((name, data))
    count = len(seen)
    return Target(",".join(sorted(seen)), f"{count} host{'s' if count > 1 else ''}", groups=groups)


def _ssh_host(spec: str, ssh_user: str | None) -> tuple[str, dict, str]:
    """(host name, pyinfra data, description) of one `[user@]host[:port]`."""
    match = SSH_HOST.fullmatch(spec)
    if not match:
        raise BadInput(
            f"unknown target {shown.value(spec)}: give local, the name of an inventory in ./inventories, "
            "a path to an inventory .py file, or [user@]host[:port]"
        )
    if len(match["host"]) > MAX_HOST_NAME:
        raise BadInput(f"target {shown.value(spec)}: a host name is at most {MAX_HOST_NAME} characters (DNS's limit)")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise BadInput(f"invalid SSH port in {shown.value(spec)}")
    user = match["user"] or ssh_user
    login = user or getpass.getuser()
    address = match["host"].strip("[]")
    data = {"ssh_hostname": address, "_sudo": login != "root",
            **({"ssh_port": port} if port else {}), **({"ssh_user": user} if user else {})}
    name = address + (f":{port}" if port else "")
    return name, data, f"{login}@{match['host']}" + (f":{port}" if port else "")
