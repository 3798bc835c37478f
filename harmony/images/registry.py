"""Pulling an image from its registry, for an airgap bundle: the OCI distribution API over
httpx, as containerd pulls, with no Docker and no container runtime on the controller.

What the real registries do, and what is done about it here:
- **Where.** k3s's registries.yaml (`cluster.k3s.registries`, the data key k3s_registries)
  says how the cluster reaches registries, so the bundle pulls the same way: each of a
  registry's `mirrors` endpoints in order, then the registry itself (docker.io is served at
  registry-1.docker.io), with `?ns=REGISTRY` on a mirror's requests as containerd sends it.
  `configs.HOST.auth` (username and password, or a token) and `configs.HOST.tls.ca_file` apply
  to that host, and the CA also to its token service and the storage its blobs redirect to,
  which containerd reaches with the same client.
- **Auth.** A registry answers `401` with `WWW-Authenticate: Bearer realm=...,service=...,
  scope=...` (the distribution token spec): a pull token is asked of the realm (with the
  credentials, if any; anonymously otherwise) and the request made again. Tokens expire (Docker
  Hub's after 300 s), so any later `401` gets a fresh one. `Basic` challenges get the
  credentials themselves.
- **Content negotiation.** The manifest is asked for with every media type this understands
  (OCI and Docker v2 indexes and manifests). An index (a multi-platform image) is resolved to
  the manifest for the bundle's platform, as containerd resolves it on the node.
- **Blobs** redirect to storage elsewhere (Docker Hub's to a CDN, with signed links that expire);
  the registry's credentials stay with the registry (harmony.fetch).
- **Trust.** Every manifest and blob is checked against its digest; one that does not match is
  discarded. Blobs are kept in the controller's cache by digest, so a second bundle downloads
  only what changed.

Not done: Docker's credential store (~/.docker/config.json) and helpers, schema 1 manifests
(refused), registries.yaml's `rewrite` rules, client certificates, and foreign layers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from harmony import fetch, localstate, releases
from harmony.errors import BadInput, RunFailed
from harmony.images.reference import DOCKER_HUB, DOCKER_HUB_ENDPOINT, Reference

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
# A k3s architecture (the bundle's --arch) as an OCI platform; 32-bit arm k3s is armhf (v7).
PLATFORMS = {"amd64": ("amd64", (None,)), "arm64": ("arm64", (None, "v8")), "arm": ("arm", ("v7",)),
             "s390x": ("s390x", (None,))}
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str

    @property
    def path(self) -> Path:
        return blob_cache() / self.digest.replace(":", "/")


@dataclass(frozen=True)
class Image:
    """An image for one platform, pulled: its manifest's bytes and descriptor, and its blobs
    (config and layers), each in the cache."""

    reference: Reference
    manifest: bytes
    media_type: str
    platform: str
    blobs: tuple[Blob, ...]

    @property
    def descriptor(self) -> Blob:
        return Blob("sha256:" + hashlib.sha256(self.manifest).hexdigest(), len(self.manifest), self.media_type)


def blob_cache() -> Path:
    return localstate.cache_dir() / "blobs"


class Puller:
    """The pulls of one bundle: the registries' configuration, and the tokens they gave."""

    def __init__(self, registries: dict | None, allow_http: bool) -> None:
        self.mirrors = (registries or {}).get("mirrors") or {}
        self.configs = (registries or {}).get("configs") or {}
        self.allow_http = allow_http
        self.tokens: dict[tuple[str, str], str] = {}

    def pull(self, reference: Reference, arch: str | None) -> Image:
        """The image for linux/`arch` (with no `arch`: an artifact of one manifest, a Helm
        chart's), its blobs in the cache; RunFailed naming the image and why, if no endpoint
        has it."""
        problems = []
        for endpoint, mirror in self._endpoints(reference.registry):
            try:
                return self._pull(endpoint, mirror, reference, arch)
            except (_Unavailable, BadInput) as problem:  # BadInput: fetch's "cannot reach"
                problems.append(f"{endpoint}: {problem}")
        raise RunFailed(f"cannot pull {reference}: {'; '.join(problems)}")

    def _endpoints(self, registry: str) -> list[tuple[str, bool]]:
        mirror = self.mirrors.get(registry) or self.mirrors.get("*") or {}
        default = DOCKER_HUB_ENDPOINT if registry == DOCKER_HUB else f"https://{registry}"
        listed = [str(e).rstrip("/") for e in mirror.get("endpoint") or []]
        return [(e, True) for e in listed if e != default] + [(default, False)]

    def _pull(self, endpoint: str, mirror: bool, reference: Reference, arch: str | None) -> Image:
        base = f"{endpoint}/v2/{reference.repository}"
        query = f"?ns={reference.registry}" if mirror else ""
        manifest, media_type = self._manifest(f"{base}/manifests/{reference.reference}{query}", reference.digest)
        platform = f"linux/{arch}" if arch else ""
        if media_type in INDEX_TYPES and arch:
            chosen = _platform_manifest(json.loads(manifest), arch)
            if chosen is None:
                raise _Unavailable(f"the image has no {platform} build")
            manifest, media_type = self._manifest(f"{base}/manifests/{chosen}{query}", chosen)
        if media_type not in MANIFEST_TYPES:
            raise _Unavailable(f"its manifest is {media_type or 'of no media type'}, which harmony cannot "
                               "bundle (schema 1 images are deprecated: push the image again)")
        document = json.loads(manifest)
        blobs = tuple(Blob(d["digest"], int(d["size"]), d["mediaType"])
                      for d in [document["config"], *document.get("layers", [])])
        for blob in blobs:
            self._blob(f"{base}/blobs/{blob.digest}{query}", blob)
        return Image(reference, manifest, media_type, platform, blobs)

    def _manifest(self, url: str, digest: str | None) -> tuple[bytes, str]:
        response = self._get(url, {"Accept": ACCEPT})
        body = response.content
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        expected = digest or response.headers.get("docker-content-digest")
        if expected and expected != actual:
            raise _Unavailable(f"its manifest does not match its digest {expected}: discarded")
        media_type = response.headers.get("content-type", "").split(";")[0].strip() or \
            json.loads(body).get("mediaType", "")
        return body, media_type

    def _blob(self, url: str, blob: Blob) -> None:
        if blob.path.is_file() and _sha256(blob.path) == blob.digest:
            return
        blob.path.parent.mkdir(parents=True, exist_ok=True)
        partial = blob.path.with_name(blob.path.name + ".part")
        try:
            for first in (True, False):
                with fetch.opened(url, self.allow_http, *self._what(url), headers=self._auth(url),
                                  verify=self._verify(url)) as response:
                    if response.status_code == 401 and first:
                        response.read()
                        self._authenticate(url, response)
                        continue
                    self._check(url, response, read=True)
                    with partial.open("wb") as f:
                        for chunk in response.iter_bytes():
                            f.write(chunk)
                    break
        except httpx.HTTPError as error:
            partial.unlink(missing_ok=True)
            raise _Unavailable(f"the download of {blob.digest} broke off ({error})") from None
        except BaseException:  # stopped, or anything else: no half-written blob stays
            partial.unlink(missing_ok=True)
            raise
        if _sha256(partial) != blob.digest or partial.stat().st_size != blob.size:
            partial.unlink()
            raise _Unavailable(f"the blob {blob.digest} does not match its digest: discarded")
        partial.rename(blob.path)

    def _get(self, url: str, headers: dict) -> httpx.Response:
        """The registry's answer to a GET of `url`; on a 401, once more with a fresh token (a
        first request, or a token that expired)."""
        for first in (True, False):
            response = fetch.get(url, self.allow_http, *self._what(url), headers={**headers, **self._auth(url)},
                                 verify=self._verify(url))
            if response.status_code == 401 and first:
                self._authenticate(url, response)
                continue
            self._check(url, response)
            return response
        raise AssertionError("unreachable: the second answer returns or raises")

    def _auth(self, url: str) -> dict:
        token = self.tokens.get((_host(url), _repository(url)))
        return {"Authorization": token} if token else {}

    def _authenticate(self, url: str, response: httpx.Response) -> None:
        """Answer the registry's challenge: a Bearer token from its realm, or Basic credentials."""
        challenge = response.headers.get("www-authenticate", "")
        scheme, _, params = challenge.partition(" ")
        fields = dict(CHALLENGE.findall(params))
        credentials = self._credentials(_host(url))
        if scheme.lower() == "basic":
            if not credentials:
                raise _Unavailable(self._refused(url))
            self.tokens[(_host(url), _repository(url))] = credentials
            return
        if scheme.lower() != "bearer" or "realm" not in fields:
            raise _Unavailable(f"answered 401 with a challenge harmony does not know ({challenge or 'none'})")
        query = {k: fields[k] for k in ("service", "scope") if k in fields}
        query.setdefault("scope", f"repository:{_repository(url)}:pull")
        realm = str(httpx.URL(fields["realm"]).copy_merge_params(query))
        # The token service is reached with the registry's TLS settings, as containerd reaches it.
        answer = fetch.get(realm, self.allow_http, "the registry's token service", "check the network",
                           headers={"Authorization": credentials} if credentials else {}, verify=self._verify(url))
        if answer.status_code in (401, 403):
            raise _Unavailable(self._refused(url))
        if answer.status_code != 200:
            raise _Unavailable(f"its token service {fields['realm']} answered HTTP {answer.status_code}")
        token = answer.json().get("token") or answer.json().get("access_token")
        self.tokens[(_host(url), _repository(url))] = f"Bearer {token}"

    def _credentials(self, host: str) -> str | None:
        auth = (self.configs.get(host) or {}).get("auth") or {}
        if auth.get("identitytoken"):
            return f"Bearer {auth['identitytoken']}"
        if auth.get("auth"):
            return f"Basic {auth['auth']}"
        if auth.get("username"):
            pair = f"{auth['username']}:{auth.get('password', '')}".encode()
            return f"Basic {base64.b64encode(pair).decode()}"
        return None

    def _verify(self, url: str) -> bool | str:
        tls = (self.configs.get(_host(url)) or {}).get("tls") or {}
        if tls.get("insecure_skip_verify"):
            return False
        return str(Path(tls["ca_file"]).expanduser()) if tls.get("ca_file") else True

    def _refused(self, url: str) -> str:
        return (f"the registry refused to let harmony pull (401): give its credentials in "
                f"cluster.k3s.registries configs.\"{_host(url)}\".auth")

    @staticmethod
    def _what(url: str) -> tuple[str, str]:
        return f"the registry {_host(url)}", "check the image's registry, cluster.k3s.registries and the network"

    def _check(self, url: str, response: httpx.Response, read: bool = False) -> None:
        if response.status_code == 200:
            return
        if read:
            response.read()
        if response.status_code == 401:
            raise _Unavailable(self._refused(url))
        try:
            errors = response.json().get("errors") or []
            said = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except ValueError:
            said = ""
        if response.status_code == 429:
            said = said or "too many requests: the registry's pull limit (Docker Hub's is per address); log in, or wait"
        raise _Unavailable(f"HTTP {response.status_code}" + (f" ({said})" if said else ""))


class _Unavailable(Exception):
    """One endpoint could not give the image; the next one is tried."""


def _platform_manifest(index: dict, arch: str) -> str | None:
    architecture, variants = PLATFORMS[arch]
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == architecture \
                and platform.get("variant") in variants:
            return entry["digest"]
    return None


def _host(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _repository(url: str) -> str:
    path = httpx.URL(url).path
    return path[len("/v2/"):].rsplit("/", 2)[0] if path.startswith("/v2/") else ""


def _sha256(path: Path) -> str:
    """A file's digest as the distribution API writes digests."""
    return "sha256:" + releases.file_sha256(path)

