"""The images archive of an airgap bundle: a tar of an OCI Image Layout (oci-layout,
index.json, blobs/sha256/...), the format containerd's importer reads, which is what k3s runs on
every file in /var/lib/rancher/k3s/agent/images/ at start (`client.Import`, all platforms).

Each image is an entry of index.json for its one platform, named by the annotation containerd
takes the image's name from (`io.containerd.image.name`: the full normalized name, which the
kubelet asks for), with the OCI `org.opencontainers.image.ref.name` (its tag) beside it, as
`docker save` writes them. The archive's bytes follow from its images alone (entries sorted, no
times, no owners): an unchanged set of images is an unchanged file, so the host already holding
it is left alone.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry client imports httpx, which reading an archive does not need
    from harmony.images.registry import Image


NAME_ANNOTATION = "io.containerd.image.name"
TAG_ANNOTATION = "org.opencontainers.image.ref.name"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def file_name(arch: str) -> str:
    """The name of a project's images archive for an architecture, in an airgap bundle and in
    k3s's images directory on a host."""
    return f"harmony-images-{arch}.tar"


def write(path: Path, images: list["Image"]) -> None:
    """Write the archive of `images` to `path`, atomically."""
    entries = []
    for image in sorted(images, key=lambda i: str(i.reference)):
        descriptor = image.descriptor
        annotations = {NAME_ANNOTATION: str(image.reference)}
        if image.reference.tag:
            annotations[TAG_ANNOTATION] = image.reference.tag
        os_, _, architecture = image.platform.partition("/")
        entries.append({"mediaType": descriptor.media_type, "digest": descriptor.digest, "size": descriptor.size,
                        "platform": {"os": os_, "architecture": architecture}, "annotations": annotations})
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}
    blobs = {}
    for image in images:
        blobs[image.descriptor.digest] = image.manifest
        for blob in image.blobs:
            blobs[blob.digest] = blob.path
    partial = path.with_name(path.name + ".part")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
            _add(archive, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
            _add(archive, "index.json", json.dumps(index, sort_keys=True).encode())
            for directory in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            for digest in sorted(blobs):
                _add(archive, "blobs/" + digest.replace(":", "/"), blobs[digest])
    except BaseException:  # stopped, or the disk full: the old archive, if any, stays whole
        partial.unlink(missing_ok=True)
        raise
    partial.rename(path)


def names(path: Path) -> set[str]:
    """The images an archive holds, by name; an empty set for a file that is not one."""
    try:
        with tarfile.open(path) as archive:
            member = archive.extractfile("index.json")
            index = json.loads(member.read()) if member else {}
    except (OSError, KeyError, tarfile.TarError, ValueError):
        return set()
    return {m.get("annotations", {}).get(NAME_ANNOTATION) for m in index.get("manifests", [])} - {None}


def _add(archive: tarfile.TarFile, name: str, content: bytes | Path) -> None:
    """A file of the archive, from bytes or streamed from a file (a layer may be large)."""
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    if isinstance(content, bytes):
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
        return
    info.size = content.stat().st_size
    with content.open("rb") as f:
        archive.addfile(info, f)
