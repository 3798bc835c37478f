"""k3s on every host of the inventory: `pyinfra INVENTORY deploys/k3s.py`.

Hosts are servers unless their data says `k3s_role = "agent"`; see inventories/edge.example.py
for the data keys. `harmony up` runs the same deploy and then merges the kubeconfig.
"""

from harmony.k3s.deploy import up

up()
