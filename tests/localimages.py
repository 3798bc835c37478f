"""A tiny image in the local Docker engine, for builds FROM it: no registry is reachable here,
so a base image is imported from a one-file tar, and removed afterwards with every image built
from it (they inherit its label, whatever they are named)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import uuid


@contextlib.contextmanager
def tiny_base_image(prefix: str):
    """Yields a unique name; `NAME-base:1` is the image, and it and every image built from it
    are removed at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("etc/base")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"base\n"))
    label = f"harmony-test-base={name}"
    subprocess.run(["docker", "import", "--change", f"LABEL {label}", "-", f"{name}-base:1"],
                   input=layer.getvalue(), check=True, capture_output=True, timeout=120)
    try:
        yield name
    finally:
        for _ in range(3):  # a parent goes only once its children have: children first, then again
            listed = subprocess.run(["docker", "images", "-aq", "--filter", f"label={label}"], capture_output=True,
                                    text=True, timeout=60).stdout.split()
            if not listed:
                break
            subprocess.run(["docker", "rmi", "-f", *dict.fromkeys(listed)], capture_output=True, timeout=120)
