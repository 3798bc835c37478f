"""Files harmony keeps on the controller: each server's admin kubeconfig, as fetched."""

from __future__ import annotations

import os
import re
from pathlib import Path


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "harmony"


def fetched_kubeconfig(host_name: str) -> Path:
    """Where the deploy puts a server's /etc/rancher/k3s/k3s.yaml on the controller."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", host_name)
    return state_dir() / "kubeconfigs" / f"{safe}.yaml"


def ensure_private_dir(path: Path) -> None:
    """Make a directory only the user can enter: it holds cluster admin credentials."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
