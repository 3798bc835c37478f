"""The controller's own downloads: checksum files, k3d's checksums, airgap bundles, images.

Real release sites redirect. github.com answers every release download (binaries and checksum
files alike) with `302 Found` to a signed URL on another host (objects.githubusercontent.com,
lately release-assets.githubusercontent.com) that expires after a few minutes. So a download here:

- follows redirects, at most MAX_HOPS, across hosts, but never from https down to plain http
  unless the user allowed plain http (`--allow-http`): a checksum read over plain http proves
  nothing;
- asks the first URL again, TRIES times in all, after a transient answer (429, 500, 502, 503,
  504), a dropped connection, or a 403 at the end of a redirect: a signed link that expired
  before it was used, which only a fresh redirect mends;
- takes proxies (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) and a private CA (SSL_CERT_FILE,
  SSL_CERT_DIR) from the environment, as httpx does with `trust_env`.

The channel server's redirect is its answer, not a download: `releases.resolve_channel` reads it
with `follow=False`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import httpx

from harmony.errors import BadInput, Unreachable

MAX_HOPS = 5
TRIES = 3
TRANSIENT = {429, 500, 502, 503, 504}
TIMEOUT = httpx.Timeout(20.0, connect=10.0)


def get(url: str, allow_http: bool, what: str, hint: str, follow: bool = True, headers: dict | None = None,
        verify: bool | str = True) -> httpx.Response:
    """The final answer for `url`, its body read, after redirects and retries; with `follow`
    off, the first answer, a redirect included (the channel server's answer is one).

    `headers` go to `url`'s own origin only, never to where it redirects: a registry's
    credentials are not for the storage its blobs redirect to. `verify` is a CA file for a
    site with a CA of its own (else the environment's, SSL_CERT_FILE, or the system's).

    BadInput, one line naming `what` and the `hint`, where the site cannot be reached
    (`Unreachable`: no route, no name, no answer), a redirect goes down to plain http, or
    redirects do not end.
    """
    with httpx.Client(timeout=TIMEOUT, verify=verify) as client:
        return _answer(client, url, allow_http, what, hint, MAX_HOPS if follow else 0, True, headers or {})


@contextlib.contextmanager
def opened(url: str, allow_http: bool, what: str, hint: str, headers: dict | None = None,
           verify: bool | str = True) -> Iterator[httpx.Response]:
    """As `get`, with the body left to stream (a large file)."""
    with httpx.Client(timeout=TIMEOUT, verify=verify) as client:
        response = _answer(client, url, allow_http, what, hint, MAX_HOPS, False, headers or {})
        try:
            yield response
        finally:
            response.close()


def _answer(client: httpx.Client, url: str, allow_http: bool, what: str, hint: str, max_hops: int,
            read: bool, headers: dict) -> httpx.Response:
    for attempt in range(1, TRIES + 1):
        last = attempt == TRIES
        try:
            response, hops = _follow(client, url, allow_http, max_hops, headers)
            if read:
                response.read()
        except httpx.TransportError as error:
            if "CERTIFICATE_VERIFY_FAILED" in str(error):
                raise BadInput(f"cannot reach {what} at {url}: this machine does not trust its TLS "
                               f"certificate ({error}); for a mirror with a private CA, point "
                               "SSL_CERT_FILE at a CA bundle that holds it") from None
            if last:
                reason = error or type(error).__name__
                raise Unreachable(f"cannot reach {what} at {url}: {reason}; {hint}", f"cannot reach {url}: {reason}",
                                  hint) from None
            time.sleep(attempt)
            continue
        stale_link = response.status_code == 403 and hops > 0
        if last or not (response.status_code in TRANSIENT or stale_link):
            return response
        response.close()
        time.sleep(attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _follow(client: httpx.Client, url: str, allow_http: bool, max_hops: int,
            headers: dict) -> tuple[httpx.Response, int]:
    """GET `url`, following at most `max_hops` redirects: the answer (streaming) and its hops."""
    current = origin = httpx.URL(url)
    for hops in range(max_hops + 1):
        own = headers if (current.scheme, current.host, current.port) == (origin.scheme, origin.host, origin.port) else {}
        response = client.send(client.build_request("GET", current, headers=own), stream=True)
        if not response.is_redirect or hops == max_hops == 0:
            return response, hops
        response.close()
        target = current.join(response.headers["location"])
        if current.scheme == "https" and target.scheme != "https" and not allow_http:
            raise BadInput(f"{url} redirects to plain http ({target.copy_with(query=None)}): refused, "
                           "as a download over plain http proves nothing; use an https mirror, or "
                           "--allow-http for one you trust")
        current = target
    raise BadInput(f"{url} redirects more than {max_hops} times: check the release URL")
