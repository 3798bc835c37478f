"""A docker-archive, as a builder saves one (`docker save`, `podman save --format
docker-archive`, `buildah push docker-archive:`), read into an `harmony.images.registry.Image`
for one platform: so an airgap bundle's images archive (`harmony.images.archive`) holds the
project's own builds beside the images pulled from registries, in the one format k3s imports.

What the builders write, and what is read of it:
- **manifest.json**, a list of images, each with its `Config` (a file of the archive: the
  image's config, whose digest is the image ID), its `RepoTags` and its `Layers` (files of the
  archive, in order, each a layer's tar).
- **Docker before 25** (20.10 is Debian 12's) names the config `<image ID hex>.json` and each
  layer `<v1 ID>/layer.tar`, a name that is no digest; a layer the archive already holds (two
  equal layers) is a symlink to the first (`../<v1 ID>/layer.tar`).
- **Docker 25 and later** write an OCI image layout too (oci-layout, index.json,
  blobs/sha256/<hex>), and manifest.json names those blobs. An archive with no manifest.json
  but an OCI layout (an `oci-archive`) is read through its index.json.

Every blob is put into the blob cache by its digest, computed here as it is copied (no name in
the archive is trusted to be one), and an uncompressed layer is checked against the config's
`rootfs.diff_ids`, as containerd checks it when it unpacks the image. The manifest made for the
image is an OCI image manifest (the config `application/vnd.oci.image.config.v1+json`, a layer
`application/vnd.oci.image.layer.v1.tar`, or `+gzip` where the archive's is compressed), its
bytes following from the blobs alone: the same build makes the same manifest, so the same
bundle archive.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from pathlib import Path

from harmony.errors import BadInput, RunFailed
from harmony.images.reference import Reference, parse
from harmony.images.registry import Blob, Image, blob_cache

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def read(path: Path, reference: Reference, platform: str) -> Image:
    """The image saved in the docker-archive `path`, named `reference` (the build's normalized
    name and tag), for `platform` ("linux/amd64"); its config and layers in the blob cache.
    RunFailed, naming the file, when it is not such an archive, is damaged, or holds an image
    of another platform."""
    try:
        with tarfile.open(path) as tar:
            members = {posixpath.normpath(m.name): m for m in tar.getmembers()}
            config_name, layer_names = _entry(tar, members, path, reference)
            config = _cached(tar, members, config_name, path)
            layers = [_cached(tar, members, name, path) for name in layer_names]
    except (OSError, tarfile.TarError, ValueError, KeyError, TypeError) as error:
        raise RunFailed(f"{path} is not a docker-archive harmony can read ({error}): build the image again") from None
    document = json.loads(config[0].path.read_bytes())
    _check_platform(document, platform, path)
    diff_ids = (document.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers) or any(not gzipped and blob.digest != diff_id
                                           for (blob, gzipped), diff_id in zip(layers, diff_ids)):
        raise RunFailed(f"{path}: its layers do not match its image config's diff_ids: the archive is damaged; "
                        "build the image again")
    config_blob = Blob(config[0].digest, config[0].size, CONFIG_TYPE)
    layer_blobs = [Blob(blob.digest, blob.size, LAYER_TYPE + ("+gzip" if gzipped else "")) for blob, gzipped in layers]
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": _descriptor(config_blob),
                "layers": [_descriptor(b) for b in layer_blobs]}
    return Image(reference, json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode(), MANIFEST_TYPE,
                 platform, (config_blob, *layer_blobs))


def _entry(tar: tarfile.TarFile, members: dict, path: Path, reference: Reference) -> tuple[str, list[str]]:
    """The archive's file names of the image's config and layers: from manifest.json (the one
    entry, or the one tagged `reference`), else from an OCI layout's index.json."""
    if "manifest.json" in members:
        entries = json.loads(_read(tar, members, "manifest.json"))
        if not isinstance(entries, list) or not entries:
            raise ValueError("its manifest.json lists no image")
        if len(entries) > 1:
            tagged = [e for e in entries if reference in {_parsed(t) for t in e.get("RepoTags") or []}]
            if len(tagged) != 1:
                raise ValueError(f"it holds {len(entries)} images, and not one tagged {reference}")
            entries = tagged
        (entry,) = entries
        return posixpath.normpath(entry["Config"]), [posixpath.normpath(layer) for layer in entry.get("Layers") or []]
    if "index.json" in members:
        document = json.loads(_read(tar, members, "index.json"))
        while document.get("manifests"):  # an index (of one image), maybe nested: to its manifest
            (descriptor,) = document["manifests"]
            document = json.loads(_read(tar, members, _blob_name(descriptor["digest"])))
        return _blob_name(document["config"]["digest"]), [_blob_name(d["digest"]) for d in document.get("layers") or []]
    raise ValueError("it has neither a manifest.json nor an index.json")


def _cached(tar: tarfile.TarFile, members: dict, name: str, path: Path) -> tuple[Blob, bool]:
    """A file of the archive, copied into the blob cache under its digest (a symlink followed):
    its blob, and whether it is gzip-compressed."""
    member = _resolved(members, name)
    source = tar.extractfile(member)
    if source is None:
        raise ValueError(f"{name} is not a file")
    directory = blob_cache() / "sha256"
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"harmony-import-{hashlib.sha256(str(path).encode() + name.encode()).hexdigest()[:16]}.part"
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with partial.open("wb") as target:
            while chunk := source.read(CHUNK):
                head = head or chunk[:2]
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        blob = Blob("sha256:" + digest.hexdigest(), size, "")
        partial.replace(blob.path)  # its content is what its name says, also over a damaged cached copy
    except BaseException:  # stopped, or the disk full: no half-written blob stays
        partial.unlink(missing_ok=True)
        raise
    return blob, head == GZIP_MAGIC


def _resolved(members: dict, name: str, hops: int = 8) -> tarfile.TarInfo:
    """The member named `name`, symlinks (relative to their directory, as Docker writes them)
    and hard links followed."""
    member = members.get(posixpath.normpath(name))
    if member is None:
        raise ValueError(f"{name} is not in it")
    if member.issym() and hops:
        return _resolved(members, posixpath.join(posixpath.dirname(member.name), member.linkname), hops - 1)
    if member.islnk() and hops:
        return _resolved(members, member.linkname, hops - 1)
    return member


def _read(tar: tarfile.TarFile, members: dict, name: str) -> bytes:
    source = tar.extractfile(_resolved(members, name))
    if source is None:
        raise ValueError(f"{name} is not a file")
    return source.read()


def _blob_name(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/")


def _parsed(name: str) -> Reference | None:
    try:
        return parse(name)
    except BadInput:  # a tag that is no reference names no image here
        return None


def _descriptor(blob: Blob) -> dict:
    return {"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}


def _check_platform(config: dict, platform: str, path: Path) -> None:
    """RunFailed where the config says the image is for another OS or architecture than asked."""
    os_, _, rest = platform.partition("/")
    architecture = rest.partition("/")[0]
    found = (config.get("os") or os_, config.get("architecture") or architecture)
    if found != (os_, architecture):
        raise RunFailed(f"{path} holds an image for {'/'.join(found)}, not {platform}: build it for {platform}")
