"""This machine, through pyinfra's local connector: `harmony up local` or `pyinfra inventories/local.py deploys/k3s.py`."""

import os

hosts = [("@local", {"_sudo": os.geteuid() != 0})]
