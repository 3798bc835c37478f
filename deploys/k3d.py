"""k3s in Docker through k3d, on each host of the inventory: `pyinfra @local deploys/k3d.py`.

See harmony/k3d/settings.py for the data keys (k3s_version is required here: the `harmony` CLI
resolves channels and pins it). `harmony up --runtime k3d` runs the same deploy, then merges the
kubeconfig.
"""

from harmony.k3d.deploy import up

up()
