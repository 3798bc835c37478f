"""Remove k3s from every host of the inventory: `pyinfra INVENTORY deploys/down.py`."""

from harmony.k3s.deploy import down

down()
