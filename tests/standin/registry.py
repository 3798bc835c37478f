"""A local stand-in for a container registry (Docker Hub's shape), for tests: the controller
pulls a project's images from it into an airgap bundle. Never shipped.

What it models, from the OCI distribution spec, the distribution token spec and Docker Hub:
- **Three origins**, each a port of its own: the registry (registry-1.docker.io), its token
  service (auth.docker.io) and the storage its blobs redirect to (Docker Hub's CDN).
- **Token auth.** Every /v2/ request without a valid token is `401` with
  `WWW-Authenticate: Bearer realm="<token service>/token",service="registry.standin",
  scope="repository:<name>:pull"`. The token service gives `{"token", "access_token",
  "expires_in", "issued_at"}`: anonymously for a public repository, and for a `private` one only
  to Basic credentials it knows (otherwise 401). A token is for one repository and expires after
  `token_seconds` (Docker Hub: 300), after which the registry answers 401 again.
- **Manifests**, by tag or digest, with `Content-Type` and `Docker-Content-Digest`: a
  multi-platform image is an OCI index (linux/amd64 and linux/arm64, and an attestation
  manifest for `unknown/unknown`, as buildkit pushes them), served only to a client whose
  `Accept` names the index type: anything else is a 404 `MANIFEST_UNKNOWN`, less kind than Docker
  Hub, which converts. Unknown names and tags are 404s with the spec's error JSON.
- **Blobs**: a `307` to a signed link on the storage origin that expires after LINK_SECONDS;
  the storage refuses an expired or tampered link (403) and, as S3 does, a request that also
  carries an `Authorization` header (400 "Only one auth mechanism allowed").
- **Images** are real OCI images of gzipped tar layers, with configs whose diff_ids are the
  layers' uncompressed digests; `tampered` names blobs served with a changed byte, `stalled`
  blobs whose transfer stops after half (a slow link, for the tests that stop a bundle).
- **Helm charts** (`charts`) as `helm push` stores them: an OCI manifest with Helm's config and
  the chart's .tgz as its one layer, tagged with the version.

Not modelled: pushes, HEAD, ranges, the catalog and referrers APIs, schema 1, pull rate limits,
mirrors' `ns` query (ignored), and the real signing scheme (an HMAC of the digest and the date).
Every request is logged in `hits` as (origin, path, Authorization scheme or "").
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
import json
import secrets
import tarfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

from tests.standin.chartrepo import chart_archive
from tests.standin.mirror import TLS, make_server, start_all, stop_all

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
LINK_SECONDS = 600
STALL_SECONDS = 60
ARCHES = ("amd64", "arm64")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(text: str) -> tuple[bytes, str]:
    """A gzipped tar holding one file, and its uncompressed digest (the config's diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        data = text.encode()
        info = tarfile.TarInfo("standin/image.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), _digest(raw.getvalue())


class Registry:
    """The registry, its token service and its storage; `images` maps a repository
    (`library/nginx`) to its tags."""

    def __init__(self, host: str, tls: TLS, images: dict[str, list[str]], private: set[str] = frozenset(),
                 credentials: tuple[str, str] = ("standin", "secret"), token_seconds: float = 300,
                 charts: dict[str, list[str]] | None = None) -> None:
        self.private, self.credentials, self.token_seconds = set(private), credentials, token_seconds
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, dict[str, tuple[str, bytes]]] = {}  # repo -> tag or digest -> (type, body)
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (repository, expiry)
        self.tampered: set[str] = set()
        self.stalled: set[str] = set()
        self.hits: list[tuple[str, str, str]] = []
        self._key = secrets.token_bytes(16)
        for repository, tags in images.items():
            for tag in tags:
                self._push(repository, tag)
        for repository, versions in (charts or {}).items():
            for version in versions:
                self._push_chart(repository, version)
        self.servers = {name: self._server(host, tls, name) for name in ("registry", "auth", "storage")}

    # ------------------------------------------------------------------ content
    def _blob(self, data: bytes) -> dict:
        self.blobs[_digest(data)] = data
        return {"digest": _digest(data), "size": len(data)}

    def _push(self, repository: str, tag: str) -> None:
        entries = []
        for arch in ARCHES:
            layer, diff_id = _layer(f"{repository}:{tag} for linux/{arch}\n")
            config = json.dumps({"architecture": arch, "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
            manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                   "config": {"mediaType": CONFIG, **self._blob(config)},
                                   "layers": [{"mediaType": LAYER, **self._blob(layer)}]}).encode()
            self.manifests.setdefault(repository, {})[_digest(manifest)] = (MANIFEST, manifest)
            entries.append({"mediaType": MANIFEST, "digest": _digest(manifest), "size": len(manifest),
                            "platform": {"os": "linux", "architecture": arch}})
        attestation = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                  "config": {"mediaType": CONFIG, **self._blob(b"{}")}, "layers": []}).encode()
        self.manifests[repository][_digest(attestation)] = (MANIFEST, attestation)
        entries.append({"mediaType": MANIFEST, "digest": _digest(attestation), "size": len(attestation),
                        "platform": {"os": "unknown", "architecture": "unknown"},
                        "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})
        index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}).encode()
        self.manifests[repository][tag] = self.manifests[repository][_digest(index)] = (INDEX, index)

    def _push_chart(self, repository: str, version: str) -> None:
        """A chart as `helm push` stores it: one manifest, the chart's .tgz its one layer."""
        name = repository.rsplit("/", 1)[-1]
        config = json.dumps({"apiVersion": "v2", "name": name, "version": version}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                               "config": {"mediaType": HELM_CONFIG, **self._blob(config)},
                               "layers": [{"mediaType": HELM_CHART, **self._blob(chart_archive(name, version))}]})
        self.manifests.setdefault(repository, {})[version.replace("+", "_")] = (MANIFEST, manifest.encode())

    def digest_of(self, repository: str, tag: str) -> str:
        """The digest of a tag's index, as `docker buildx imagetools inspect` prints it."""
        return _digest(self.manifests[repository][tag][1])

    def layer_of(self, repository: str, tag: str, arch: str) -> str:
        index = json.loads(self.manifests[repository][tag][1])
        digest = next(m["digest"] for m in index["manifests"] if m["platform"]["architecture"] == arch)
        return json.loads(self.manifests[repository][digest][1])["layers"][0]["digest"]

    # ------------------------------------------------------------------ addresses and life
    def origin(self, name: str = "registry") -> str:
        host, port = self.servers[name].server_address[:2]
        return f"https://{host}:{port}"

    @property
    def address(self) -> str:
        """The registry as an image name's first component (HOST:PORT)."""
        return self.origin().removeprefix("https://")

    def start(self) -> "Registry":
        start_all(self.servers)
        return self

    def stop(self) -> None:
        stop_all(self.servers)

    def _server(self, host: str, tls: TLS, name: str) -> ThreadingHTTPServer:
        handler = type(f"{name.title()}Handler", (_Handler,), {"registry": self, "origin": name})
        return make_server(host, handler, tls)

    # ------------------------------------------------------------------ answers
    def answer(self, origin: str, path: str, query: dict, headers) -> tuple[int, dict, bytes]:
        if origin == "auth":
            return self._token(query, headers)
        if origin == "storage":
            return self._stored(path, query, headers)
        return self._api(path, headers)

    def _token(self, query: dict, headers) -> tuple[int, dict, bytes]:
        scope = (query.get("scope") or [""])[0]
        repository = scope.split(":")[1] if scope.count(":") == 2 else ""
        if repository in self.private:
            user, password = self.credentials
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if headers.get("Authorization") != expected:
                return _error(401, "UNAUTHORIZED", "incorrect username or password")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (repository, time.time() + self.token_seconds)
        body = {"token": token, "access_token": token, "expires_in": int(self.token_seconds),
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _api(self, path: str, headers) -> tuple[int, dict, bytes]:
        parts = path.removeprefix("/v2/").rsplit("/", 2)
        if len(parts) != 3 or parts[1] not in ("manifests", "blobs"):
            return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
        repository, kind, reference = parts
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        granted, expiry = self.tokens.get(token, ("", 0))
        if granted != repository or time.time() > expiry:
            challenge = (f'Bearer realm="{self.origin("auth")}/token",service="registry.standin",'
                         f'scope="repository:{repository}:pull"')
            status, kind_headers, body = _error(401, "UNAUTHORIZED", "authentication required")
            return status, {**kind_headers, "WWW-Authenticate": challenge}, body
        if repository not in self.manifests:
            return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
        if kind == "blobs":
            if reference not in self.blobs:
                return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            return 307, {"Location": self._signed_link(reference)}, b""
        if reference not in self.manifests[repository]:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        media_type, body = self.manifests[repository][reference]
        if media_type not in (headers.get("Accept") or ""):
            return _error(404, "MANIFEST_UNKNOWN", f"manifest unknown: the client does not accept {media_type}")
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": _digest(body)}, body

    def _signature(self, digest: str, date: str) -> str:
        return hmac.new(self._key, f"{digest}\n{date}".encode(), "sha256").hexdigest()

    def _signed_link(self, digest: str) -> str:
        date = str(int(time.time()))
        query = urlencode({"X-Amz-Date": date, "X-Amz-Expires": LINK_SECONDS,
                           "X-Amz-Signature": self._signature(digest, date)})
        return f"{self.origin('storage')}/registry-v2/docker/registry/v2/blobs/{digest}/data?{query}"

    def _stored(self, path: str, query: dict, headers) -> tuple[int, dict, bytes]:
        if headers.get("Authorization"):
            return 400, {"Content-Type": "application/xml"}, (
                b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the "
                b"X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization "
                b"header should be specified</Message></Error>")
        digest = path.removeprefix("/registry-v2/docker/registry/v2/blobs/").removesuffix("/data")
        date, signature = (query.get("X-Amz-Date") or ["0"])[0], (query.get("X-Amz-Signature") or [""])[0]
        fresh = date.isdigit() and time.time() - int(date) <= LINK_SECONDS
        if digest not in self.blobs or not fresh or not hmac.compare_digest(signature, self._signature(digest, date)):
            return 403, {"Content-Type": "application/xml"}, b"<Error><Code>AccessDenied</Code></Error>"
        body = self.blobs[digest]
        if digest in self.tampered:
            body = body[:-1] + bytes([body[-1] ^ 1])
        return 200, {"Content-Type": "application/octet-stream"}, body


def _error(status: int, code: str, message: str) -> tuple[int, dict, bytes]:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
    return status, {"Content-Type": "application/json"}, body


class _Handler(BaseHTTPRequestHandler):
    registry: Registry
    origin: str

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        path, _, query = self.path.partition("?")
        self.registry.hits.append((self.origin, path, (self.headers.get("Authorization") or " ").split(" ")[0]))
        status, headers, body = self.registry.answer(self.origin, path, parse_qs(query), self.headers)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        stalled = self.origin == "storage" and any(d in path for d in self.registry.stalled)
        self.wfile.write(body[: len(body) // 2] if stalled else body)
        if stalled:
            self.wfile.flush()
            time.sleep(STALL_SECONDS)
