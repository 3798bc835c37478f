"""What a value must be to be what its key says it is: a URL, a proxy, a path, a network, a port.

Each check returns what is wrong in words, or None, and runs on the controller before any host
is touched (harmony.k3s.settings, harmony.k3d.settings and harmony.datakeys raise BadInput with
it, naming the key). Values reach hosts only quoted (harmony.shell); these checks are the second
wall: a value that is not what its key says is refused whole, where quoting would only pass it on
to fail later, somewhere harder to read.

The rules follow their sources: URLs RFC 3986 (its characters; parsed with urllib and rebuilt to
be sure the parse is the value), proxy settings Go's net/http (which k3s and containerd read
HTTP_PROXY and NO_PROXY with), paths and user names POSIX's portable file name characters,
networks and addresses Python's `ipaddress`, host names RFC 1123.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from harmony import shown

# RFC 3986: unreserved, gen-delims, sub-delims and '%' (of a %HH escape); nothing else is part of
# a URL. (Some of these mean something to a shell: `$`, `(`, `'`, `;`, `&`. They are quoted.)
URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A host name (RFC 1123 labels), an IPv4 address, or an IPv6 one in brackets; then maybe :port.
HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:\d{1,5})?$")
MAX_URL = 2048
# Where Go's net/http takes a proxy from (http, https, socks5): what k3s's and containerd's are.
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
# A NO_PROXY entry, as Go's httpproxy reads one: `*`, a host or domain (`.example.com`,
# `*.example.com`), maybe with :port, an IP address, or a network in CIDR notation.
NO_PROXY_HOST = re.compile(r"^(\*\.|\.)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?$")
# POSIX's portable file name characters, and '/' between them (and '+' and '@', common in paths).
PATH = re.compile(r"^/[A-Za-z0-9._+@/-]*$")
MAX_PATH = 4096
# POSIX's user names (its portable file name characters, not starting with '-'), and '@' for a
# directory's users (user@example.com).
USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._@-]{0,63}\$?$")


def url_problem(value: str, schemes: tuple[str, ...] = ("http", "https"), credentials: bool = False,
                path: bool = True) -> str | None:
    """What keeps `value` from being a URL harmony downloads from (or a proxy's, with `schemes`,
    `credentials` and no `path`), or None.

    A download URL has no credentials: they would show in every host's process list and in the
    run's log. It has no query or fragment either: harmony appends /VERSION/ASSET to it.
    """
    if len(value) > MAX_URL:
        return f"a URL is at most {MAX_URL} characters"
    if not URL_CHARACTERS.fullmatch(value) or PERCENT.search(value):
        return ("holds a character no URL has (a space, a control character, one of \"<>\\^`{|}, "
                "or a '%' not followed by two hex digits)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"is not a URL ({error})"
    if parts.scheme not in schemes or not value.startswith(parts.scheme + "://"):
        return f"must start with {' or '.join(s + '://' for s in schemes)}"
    userinfo, at, address = parts.netloc.rpartition("@")
    if at and not credentials:
        return "holds credentials (user@ or user:password@), which would show in logs and process lists"
    if not HOST.fullmatch(address):
        return "must name a host: a DNS name, an IPv4 address or a bracketed IPv6 one, then maybe :port"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return "must have no query or fragment ('?', '#'): harmony appends paths to it"
    if not path and parts.path not in ("", "/"):
        return "must have no path: a proxy is scheme://[user:password@]host:port"
    if urlunsplit(parts) != value:
        return "is not a URL as written (it does not read back the same)"
    return None


def no_proxy_problem(value: str) -> str | None:
    """What keeps `value` from being a NO_PROXY list (comma-separated), or None."""
    for entry in (e.strip() for e in value.split(",")):
        if entry and entry != "*" and not NO_PROXY_HOST.fullmatch(entry) and _network(entry) is None:
            return (f"has {shown.value(entry)}, which is not a host, a domain (.example.com), an IP "
                    "address or a network (10.0.0.0/8)")
    return None


def networks_problem(value: str) -> str | None:
    """What keeps `value` from being networks in CIDR notation, comma-separated, or None."""
    for entry in (e.strip() for e in value.split(",")):
        if _network(entry) is None or "/" not in entry:
            return f"has {shown.value(entry)}, which is not a network in CIDR notation (10.42.0.0/16)"
    return None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def ip_problem(value: str) -> str | None:
    """What keeps `value` from being an IP address, or None."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be an IP address (0.0.0.0 for all, 127.0.0.1 for this host only)"
    return None


def port_problem(value: object) -> str | None:
    """What keeps `value` from being a port number, or None."""
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 65536:
        return "must be a port number, from 1 to 65535"
    return None


def path_problem(value: str) -> str | None:
    """What keeps `value` from being an absolute path on a host, or None."""
    if len(value) > MAX_PATH or not PATH.fullmatch(value):
        return ("must be an absolute path of letters, digits and . _ + @ - (POSIX's portable "
                "characters), like /usr/local/bin")
    return None


def host_problem(value: str) -> str | None:
    """What keeps `value` from being a host name or IP address, maybe with :port, or None."""
    if not HOST.fullmatch(value):
        return "must be a host name or IP address, optionally with :port"
    return None


def user_problem(value: str) -> str | None:
    """What keeps `value` from being a user name, or None."""
    if not USER.fullmatch(value):
        return "must be a user name (letters, digits and . _ @ -, not starting with '-')"
    return None
