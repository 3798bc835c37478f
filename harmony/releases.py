"""k3s releases, seen from the controller: versions, channels, asset URLs and their checksums.

Everything here runs on the controller, never per host: a channel is resolved to a pinned
version before any host is touched, once per run. A release's checksum file never changes once
published, so it is kept on the controller (`localstate.cached`, keyed by its URL, which names
the version) and fetched only the first time: a no-op run of a pinned version asks the release
site nothing, and works while that site is down. Within a process (one pyinfra run) each result
is also computed once, even when all the run's hosts ask at the same moment.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from harmony import localstate, once
from harmony.errors import BadInput
from harmony import shown

DEFAULT_RELEASE_URL = "https://github.com/k3s-io/k3s/releases/download"
DEFAULT_CHANNEL_URL = "https://update.k3s.io/v1-release/channels"
DEFAULT_CHANNEL = "stable"

VERSION_PATTERN = re.compile(r"^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$")
CHANNEL_PATTERN = re.compile(r"^(stable|latest|testing|v\d+\.\d+)$")


@dataclass(frozen=True)
class Asset:
    """The k3s binary for one architecture, and the checksum file that lists it."""

    name: str
    checksum_file: str

    @property
    def arch(self) -> str:
        """The architecture as Go (and so Kubernetes' nodeInfo) names it: amd64, arm64, arm, s390x."""
        return self.checksum_file.removeprefix("sha256sum-").removesuffix(".txt")


# `uname -m` -> the release's asset, as the official install script maps it.
ASSETS = {
    "x86_64": Asset("k3s", "sha256sum-amd64.txt"),
    "amd64": Asset("k3s", "sha256sum-amd64.txt"),
    "aarch64": Asset("k3s-arm64", "sha256sum-arm64.txt"),
    "arm64": Asset("k3s-arm64", "sha256sum-arm64.txt"),
    "armv7l": Asset("k3s-armhf", "sha256sum-arm.txt"),
    "armv6l": Asset("k3s-armhf", "sha256sum-arm.txt"),
    "s390x": Asset("k3s-s390x", "sha256sum-s390x.txt"),
}


def asset_for(machine: str) -> Asset:
    """The release asset for a host's `uname -m`; BadInput for an architecture k3s does not ship."""
    try:
        return ASSETS[machine]
    except KeyError:
        raise BadInput(
            f"k3s has no release for architecture '{machine}' "
            f"(supported: {', '.join(sorted(set(ASSETS)))})"
        ) from None


def check_version(version: str) -> str:
    if not VERSION_PATTERN.fullmatch(version):
        raise BadInput(f"invalid k3s version {shown.value(version)}: expected a release tag like "
                       f"v1.31.4+k3s1{channel_meant(version)}")
    return version


def channel_meant(version: object) -> str:
    """Where a version asked for is a minor release (1.31, v1.31.4), the channel that gives its
    newest release, as a hint to append to a refusal; else ""."""
    minor = re.fullmatch(r"v?(\d+\.\d+)(\.\d+)?", str(version))
    return (f"; for the newest v{minor[1]} release, ask for its channel: --channel v{minor[1]} "
            f"(cluster.channel: v{minor[1]})" if minor else "")


def version_key(version: str) -> tuple[int, ...]:
    """A k3s release tag as a sortable tuple: v1.31.4-rc1+k3s2 -> (1, 31, 4, 1, 2); a final
    release sorts after its release candidates."""
    check_version(version)
    numbers, _, k3s = version[1:].partition("+k3s")
    base, _, rc = numbers.partition("-rc")
    return (*map(int, base.split(".")), int(rc) if rc else 10**6, int(k3s))


def check_channel(channel: str) -> str:
    if not CHANNEL_PATTERN.fullmatch(channel):
        raise BadInput(
            f"invalid k3s channel {shown.value(channel)}: expected stable, latest, testing or vMAJOR.MINOR"
        )
    return channel


def download_url(release_url: str, version: str, asset_name: str) -> str:
    return f"{release_url.rstrip('/')}/{quote(version, safe='')}/{asset_name}"


@once.per_process
def resolve_channel(channel_url: str, channel: str) -> str:
    """A channel's current version, from the channel server's redirect to `.../tag/<version>`
    (read, not followed)."""
    from harmony import fetch  # with httpx: imported only where something is asked of a site

    check_channel(channel)
    url = f"{channel_url.rstrip('/')}/{channel}"
    response = fetch.get(url, True, "the k3s channel server", "check --channel-url, or pin --version",
                         follow=False)
    if response.status_code == 404:
        raise BadInput(f"unknown k3s channel '{channel}' at {url}")
    location = response.headers.get("location", "")
    if not response.is_redirect or "/" not in location:
        raise BadInput(
            f"the channel server at {url} answered {response.status_code} without a release "
            "redirect; check --channel-url, or pin --version"
        )
    version = urlsplit(location).path.rstrip("/").rsplit("/", 1)[1]
    return check_version(version)


@once.per_process
def checksums(release_url: str, version: str, checksum_file: str, product: str = "k3s",
              allow_http: bool = False) -> dict[str, str]:
    """A release's checksum file (`sha256sum` format) as {asset file name: sha256}; BadInput
    where the release site has no such file."""
    url = download_url(release_url, version, checksum_file)
    text = _checksum_text(url, version, product, allow_http)
    if not text:
        raise BadInput(f"{product} {version} not found: {url} does not exist; check the version")
    return parse_checksums(text)


@once.per_process
def k3s_downloads(release_url: str, version: str, allow_http: bool = False) -> dict[str, str]:
    """Every architecture's k3s binary in a release, as {download URL: published sha256}, from
    the release's checksum files, fetched at once. An architecture the release does not publish
    (older releases have no s390x build) is left out, and kept as left out, since a published
    release does not change; a release that publishes none is not found (BadInput)."""
    urls = [download_url(release_url, version, name) for name in sorted({a.checksum_file for a in ASSETS.values()})]
    with ThreadPoolExecutor(len(urls)) as pool:
        texts = list(pool.map(lambda url: _checksum_text(url, version, "k3s", allow_http), urls))
    if not any(texts):
        raise BadInput(f"k3s {version} not found: {urls[0]} does not exist; check the version")
    sums: dict[str, str] = {}
    for url, text in zip(urls, texts):
        if text is None:
            localstate.keep(url, "")
        sums.update(parse_checksums(text or ""))
    return {download_url(release_url, version, asset.name): sums[asset.name]
            for asset in set(ASSETS.values()) if asset.name in sums}


def k3d_downloads(release_url: str, version: str, allow_http: bool = False) -> dict[str, str]:
    """Every k3d executable of a release, as {download URL: published sha256}."""
    return {download_url(release_url, version, name): sha256
            for name, sha256 in checksums(release_url, version, "checksums.txt", "k3d", allow_http).items()}


def _checksum_text(url: str, version: str, product: str, allow_http: bool) -> str | None:
    """A checksum file's text: the controller's copy, else the release site's (then kept); None
    where the site has none, "" where it is known to have none."""
    text = localstate.cached(url)
    if text is not None:
        return text
    from harmony import fetch  # with httpx: a no-op run of a pinned release imports neither

    option = "--release-url" if product == "k3s" else f"--set {product}_release_url=URL"
    response = fetch.get(url, allow_http, f"the {product} release site", f"check {option} and the network")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise BadInput(f"the {product} release site answered {response.status_code} for {url}")
    if not parse_checksums(response.text):
        raise BadInput(f"{url} lists no sha256 checksums: is {option} a {product} release mirror?")
    localstate.keep(url, response.text)
    return response.text


def file_sha256(path: Path) -> str:
    """A file's sha256, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_checksums(text: str) -> dict[str, str]:
    """`sha256sum` lines (`<hex>  <name>`, a `*` for binary mode) as {file name: sha256}."""
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            sums[parts[1].lstrip("*").rsplit("/", 1)[-1]] = parts[0]
    return sums
