"""`harmony bundle`: one k3s release downloaded into a directory, for `harmony up --airgap`
(the bundle's layout and checks: harmony.k3s.airgap)."""

from __future__ import annotations

from pathlib import Path

import httpx

from harmony import fetch, releases
from harmony.errors import RunFailed
from harmony.k3s import airgap
from harmony.k3s.paths import IMAGE_SUFFIXES
from harmony.k3s.settings import DOWNLOAD_URLS, check_https, url

BINARIES = {"amd64": "k3s", "arm64": "k3s-arm64", "arm": "k3s-armhf", "s390x": "k3s-s390x"}


def bundle(directory: str, version_: str | None, channel: str, arches: list[str], release_url: str | None,
           channel_url: str | None, allow_http: bool) -> str:
    """One release (pinned, or the channel's) into `directory`; what it holds, in a line."""
    data = {"k3s_release_url": release_url, "k3s_channel_url": channel_url, "harmony_allow_http": allow_http}
    check_https(data, "this machine", DOWNLOAD_URLS)
    release_url = url(data, "this machine", "k3s_release_url", releases.DEFAULT_RELEASE_URL)
    channel_url = url(data, "this machine", "k3s_channel_url", releases.DEFAULT_CHANNEL_URL)
    version_ = releases.check_version(version_) if version_ else releases.resolve_channel(channel_url, channel)
    written = make(directory, version_, release_url, arches, allow_http)
    return f"k3s {version_} bundled in {directory}: {', '.join(p.name for p in written)}"


def make(directory: str, version_: str, release_url: str, arches: list[str], allow_http: bool) -> list[Path]:
    """Download a release's binaries, checksum files and image archives into `directory`,
    each verified; what was already there and verified is kept."""
    bundle = Path(directory)
    bundle.mkdir(parents=True, exist_ok=True)
    written = []
    for arch in arches:
        checksum_file = f"sha256sum-{arch}.txt"
        sums = releases.checksums(release_url, version_, checksum_file, allow_http=allow_http)
        (bundle / checksum_file).write_text("".join(f"{sha}  {name}\n" for name, sha in sums.items()))
        binary = BINARIES[arch]
        images = next((f"k3s-airgap-images-{arch}{s}" for s in IMAGE_SUFFIXES
                       if f"k3s-airgap-images-{arch}{s}" in sums), None)
        for name in filter(None, (binary, images)):
            written.append(_download(releases.download_url(release_url, version_, name),
                                     bundle / name, sums[name], allow_http))
    (bundle / "VERSION").write_text(version_ + "\n")
    return written


def _download(url: str, path: Path, sha256: str, allow_http: bool) -> Path:
    if path.is_file() and airgap.sha256_of(path) == sha256:
        return path
    partial = path.with_name(path.name + ".part")
    try:
        with fetch.opened(url, allow_http, "the k3s release site", "check --release-url and the network") as response:
            if response.status_code != 200:
                raise RunFailed(f"download of {url} failed: HTTP {response.status_code}")
            with partial.open("wb") as f:
                for chunk in response.iter_bytes():
                    f.write(chunk)
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise RunFailed(f"download of {url} failed: {error}") from None
    if airgap.sha256_of(partial) != sha256:
        partial.unlink()
        raise RunFailed(f"{url} does not match its published sha256 {sha256}: discarded")
    partial.rename(path)
    return path
