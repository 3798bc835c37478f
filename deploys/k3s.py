"""k3s on every host of the inventory: `pyinfra INVENTORY deploys/k3s.py`.

Hosts in the group `k3s_agents` are agents, the others servers; see inventories/edge.example.py
for the groups and data keys. `harmony up` runs the same deploy and then merges the kubeconfig.
"""

from harmony.k3s.deploy import up

up()
