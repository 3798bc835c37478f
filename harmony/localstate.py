"""Files harmony keeps on the controller: each server's admin kubeconfig, as fetched, and the
release checksum files it has read."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "harmony"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "harmony"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def fetched_kubeconfig(cluster: str, host_name: str, data: Mapping) -> Path:
    """Where the deploy puts a server's admin kubeconfig on the controller: a file per cluster
    and host, the host as it is reached (its name and SSH port, from its `data`), so that two
    hosts reached at one address on other ports never share one."""
    port = data.get("ssh_port") or 22
    return state_dir() / "kubeconfigs" / f"{_safe(cluster)}--{_safe(host_name)}-{port}.yaml"


def ensure_private_dir(path: Path) -> None:
    """Make a directory only the user can enter: it holds cluster admin credentials."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _cache_file(url: str) -> Path:
    return cache_dir() / "checksums" / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"


def cached(url: str) -> str | None:
    """The text kept for `url` (a published release's checksum file, which never changes), or
    None where none is kept, or where what is kept is not whole (checked against its own hash)."""
    try:
        entry = json.loads(_cache_file(url).read_text())
        if entry["url"] == url and entry["sha256"] == hashlib.sha256(entry["text"].encode()).hexdigest():
            return entry["text"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def keep(url: str, text: str) -> None:
    """Keep `text` for `url`, written whole or not at all (several runs may write at once)."""
    path = _cache_file(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"url": url, "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
