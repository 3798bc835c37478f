"""`harmony bundle`: one k3s release downloaded into a directory, for `harmony up --airgap`
(the bundle's layout and checks: harmony.k3s.airgap)."""

from __future__ import annotations

from harmony import releases
from harmony.k3s import airgap
from harmony.k3s.settings import DOWNLOAD_URLS, check_https, url


def bundle(directory: str, version_: str | None, channel: str, arches: list[str], release_url: str | None,
           channel_url: str | None, allow_http: bool) -> str:
    """One release (pinned, or the channel's) into `directory`; what it holds, in a line."""
    data = {"k3s_release_url": release_url, "k3s_channel_url": channel_url, "harmony_allow_http": allow_http}
    check_https(data, "this machine", DOWNLOAD_URLS)
    release_url = url(data, "this machine", "k3s_release_url", releases.DEFAULT_RELEASE_URL)
    channel_url = url(data, "this machine", "k3s_channel_url", releases.DEFAULT_CHANNEL_URL)
    version_ = releases.check_version(version_) if version_ else releases.resolve_channel(channel_url, channel)
    written = airgap.make(directory, version_, release_url, arches, allow_http)
    return f"k3s {version_} bundled in {directory}: {', '.join(p.name for p in written)}"
