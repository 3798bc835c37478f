"""The URLs harmony downloads from, as the hosts' data gives them (k3s's and k3d's release
sites, k3s's channel server, or their mirrors): each checked, plain http refused unless allowed."""

from __future__ import annotations

from typing import Mapping

from harmony import values
from harmony.datakeys import bad_value, checked, flag
from harmony.errors import BadInput

DOWNLOAD_URLS = ("k3s_release_url", "k3s_channel_url", "k3d_release_url")


def url(data: Mapping, host_name: str, key: str, default: str) -> str:
    """A URL harmony downloads from (values.url_problem), without a trailing '/'."""
    return (checked(data, host_name, key, values.url_problem) or default).rstrip("/")


def check_https(data: Mapping, host_name: str, keys: tuple[str, ...] = DOWNLOAD_URLS) -> None:
    """Refuse plain-http download URLs unless the data allows them (harmony_allow_http, the CLI's
    --allow-http): a checksum fetched over plain http proves nothing. Checked where something is
    downloaded (up, plan, check), not where nothing is (status, down)."""
    if flag(data, "harmony_allow_http"):
        return
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.startswith("http://"):
            raise bad_value(host_name, key, f"is plain http ({value}): use https, or allow it with "
                                            "--allow-http (for a mirror you trust on your own network)")


def insecure_urls(data: Mapping, host_name: str) -> str | None:
    """Why a host's download URLs are refused (plain http, not allowed), or None: for the deploy,
    which fails the host with it (the controller refuses the run before any host, with check_https)."""
    try:
        check_https(data, host_name)
    except BadInput as error:
        return str(error)
    return None
