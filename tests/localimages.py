"""A tiny image in the local Docker engine, for builds FROM it: no registry is reachable here,
so a base image is imported from a one-file tar, and removed afterwards with every image tagged
from it."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import uuid


@contextlib.contextmanager
def tiny_base_image(prefix: str):
    """Yields a unique name; `NAME-base:1` is the image, and every image whose name starts with
    NAME is removed at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("etc/base")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"base\n"))
    subprocess.run(["docker", "import", "-", f"{name}-base:1"], input=layer.getvalue(), check=True,
                   capture_output=True, timeout=120)
    try:
        yield name
    finally:
        listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                                text=True, timeout=60).stdout.split()
        subprocess.run(["docker", "rmi", "-f", *[i for i in listed if i.startswith(name)]], capture_output=True,
                       timeout=120)
