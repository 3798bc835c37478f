"""The Vagrant lab (../Vagrantfile): `harmony up vagrant`, or `pyinfra inventories/vagrant.py deploys/k3s.py`.

Whatever `vagrant status` shows running, found through pyinfra's @vagrant connector (one
`vagrant status`, then each machine's `vagrant ssh-config`), grouped by the role its name gives:
server-N are servers, agent-N agents. Each server's address on the lab's private network follows
the Vagrantfile's rule (server N: SUBNET.(10+N)), so that agents join it there.
"""

import os

from pyinfra.connectors.vagrant import VagrantInventoryConnector

_subnet = os.environ.get("HARMONY_LAB_SUBNET", "172.30.56")
_machines = {name.split("/", 1)[1]: data for name, data, _ in VagrantInventoryConnector.make_names_data()}


def _members(role: str) -> list:
    return [
        (name, {**data, **({"k3s_server_address": f"{_subnet}.{10 + int(name.rsplit('-', 1)[1])}"}
                           if role == "server" else {})})
        for name, data in sorted(_machines.items()) if name.startswith(f"{role}-")
    ]


# Box users (vagrant) need sudo; the docker provider's root has it too, and needs none.
k3s_servers = (_members("server"), {"_sudo": True})
k3s_agents = (_members("agent"), {"_sudo": True})
