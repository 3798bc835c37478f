"""Airgap bundles: everything a host needs to install one k3s release without a network.

A bundle is a directory on the controller, made by `harmony bundle DIR --version V` on a machine
that reaches the release site (once for all hosts: also the fast path for big fleets):

    DIR/VERSION                              the k3s release, e.g. v1.31.4+k3s1
    DIR/sha256sum-<arch>.txt                 the release's checksum files
    DIR/k3s, k3s-arm64, k3s-armhf            the binaries
    DIR/k3s-airgap-images-<arch>.tar.zst     the images k3s imports at start (or .tar.gz, .tar)
    DIR/harmony-images-<arch>.tar            the project's images (harmony.images.archive): pulled
                                             from registries, and built from its own code
    DIR/harmony-builds.json                  what was built: {arch: {image name: content tag}}
    DIR/sha256sum-harmony.txt                their checksums, when made with a project file

`harmony bundle` makes one (harmony.k3s.bundle); `harmony up --airgap DIR` uploads the binary and the images for each host's architecture,
verified against the bundle's checksum files on the controller and again on the host; no host
needs the internet. A project's own images (`images:` in harmony.yaml) are built where the bundle
is made, so `up --airgap` builds nothing: it runs the bundle's builds (`builds`), and needs no
builder on the controller either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from harmony import once, releases
from harmony.images import archive
from harmony.k3s.paths import IMAGE_SUFFIXES, IMAGES_DIR
from harmony.errors import BadInput

IMAGES_CHECKSUMS = "sha256sum-harmony.txt"
BUILDS = "harmony-builds.json"  # the project's images the bundle built: {arch: {name: content tag}}
CONTENT_TAG = re.compile(r"^harmony-[0-9a-f]{12}$")  # harmony.images.build.content_tag's


@dataclass(frozen=True)
class Item:
    """One file of the bundle for a host: where it is, its checksum, and where it goes."""

    path: Path
    sha256: str
    dest: str


def version(directory: str) -> str:
    """The release a bundle holds, after checking every file it has against its checksum files;
    BadInput if the directory is not a bundle, or is damaged."""
    bundle = Path(directory)
    path = bundle / "VERSION"
    if not path.is_file():
        raise BadInput(f"{directory} is not an airgap bundle (no VERSION file): make one with "
                       "harmony bundle DIR --version V")
    for checksum_file in sorted(p.name for p in bundle.glob("sha256sum-*.txt")):
        for name, sha256 in _sums(bundle, checksum_file).items():
            if (bundle / name).is_file() and releases.file_sha256(bundle / name) != sha256:
                raise BadInput(f"{bundle / name} does not match its checksum in {checksum_file}: "
                               "the bundle is damaged; make it again")
    return releases.check_version(path.read_text().strip())


def _sums(directory: Path, checksum_file: str) -> dict[str, str]:
    path = directory / checksum_file
    if not path.is_file():
        raise BadInput(f"the airgap bundle {directory} has no {checksum_file}: it was made for other "
                       "architectures; make it again with --arch")
    return releases.parse_checksums(path.read_text())


@once.per_process
def items(directory: str, machine: str) -> tuple[Item, ...]:
    """The binary and the images for a host's `uname -m`, each checked against the bundle's
    checksum file here, on the controller, before anything is uploaded (once per run)."""
    bundle = Path(directory)
    asset = releases.asset_for(machine)
    sums = _sums(bundle, asset.checksum_file)
    arch = asset.checksum_file[len("sha256sum-"):-len(".txt")]
    names = [asset.name] + [n for n in (f"k3s-airgap-images-{arch}{s}" for s in IMAGE_SUFFIXES)
                            if (bundle / n).is_file()][:1]
    if (bundle / archive.file_name(arch)).is_file():
        names.append(archive.file_name(arch))
        sums = {**sums, **_sums(bundle, IMAGES_CHECKSUMS)}
    found = []
    for name in names:
        path = bundle / name
        if not path.is_file() or name not in sums:
            raise BadInput(f"the airgap bundle {directory} lacks {name} or its checksum")
        if releases.file_sha256(path) != sums[name]:
            listed = IMAGES_CHECKSUMS if name == archive.file_name(arch) else asset.checksum_file
            raise BadInput(f"{path} does not match its checksum in {listed}: the bundle is damaged; make it again")
        dest = "/usr/local/bin/k3s" if name == asset.name else f"{IMAGES_DIR}/{name}"
        found.append(Item(path, sums[name], dest))
    return tuple(found)


def builds(directory: str, arch: str, names: Iterable[str]) -> dict[str, str]:
    """The project's images (`names`, as its `images:` list them) as the bundle built them for
    linux/`arch`: {name: content tag}, which the bundle's harmony-images-`arch`.tar holds as
    `NAME:TAG`. BadInput, one line, where the bundle did not build one of them for `arch` (it was
    made before the image was listed, without the project, or for other architectures), or its
    record does not match its checksum."""
    names = list(names)
    if not names:
        return {}
    record = recorded_builds(directory)
    built = record.get(arch) or {}
    missing = [name for name in names if name not in built]
    if missing:
        made = f"built {', '.join(sorted(built))} for linux/{arch}" if built else \
            (f"built images for {', '.join(f'linux/{a}' for a in sorted(record))} only" if record else "built no image")
        raise BadInput(f"the airgap bundle {directory} {made}, not the project's image(s) {', '.join(missing)}: "
                       f"make it again (harmony bundle {directory})")
    return {name: built[name] for name in names}


def recorded_builds(directory: str) -> dict[str, dict[str, str]]:
    """The bundle's record of what it built, {arch: {name: content tag}} (empty where it built
    nothing), checked against its checksum in sha256sum-harmony.txt; BadInput where it does
    not match or is not such a record."""
    bundle = Path(directory)
    path = bundle / BUILDS
    if not path.is_file():
        return {}
    sums = releases.parse_checksums((bundle / IMAGES_CHECKSUMS).read_text()) \
        if (bundle / IMAGES_CHECKSUMS).is_file() else {}
    if sums.get(BUILDS) != releases.file_sha256(path):
        raise BadInput(f"{path} does not match its checksum in {IMAGES_CHECKSUMS}: the bundle is damaged; "
                       f"make it again (harmony bundle {directory})")
    try:
        record = json.loads(path.read_text())
    except ValueError:
        record = None
    if not isinstance(record, dict) or not all(
            isinstance(tags, dict) and all(isinstance(n, str) and isinstance(t, str) and CONTENT_TAG.match(t)
                                           for n, t in tags.items()) for tags in record.values()):
        raise BadInput(f"{path} is not a record of builds ({{arch: {{image: harmony-TAG}}}}): make the bundle again "
                       f"(harmony bundle {directory})")
    return record
