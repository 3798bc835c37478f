"""A local stand-in for the k3s and k3d release sites and the k3s channel server, for tests.

What it models, from the real sites (see the contract notes in docs/testing.md):
- **The release host** (github.com): `/k3s-io/k3s/releases/download/<version>/<asset>` for each
  asset of each version (the stand-in k3s with its version baked in, a token
  `k3s-airgap-images-<arch>.tar.zst`) and real-format `sha256sum-<arch>.txt` files, for amd64,
  arm64 and arm: no s390x build, so its checksum file is a 404, as for an older k3s release;
  `/k3d-io/k3d/releases/download/<version>/k3d-<os>-<arch>` (the stand-in k3d, run by the Python
  of the test process: it only ever runs on this machine) and `checksums.txt`;
  `/k3s-io/k3s/releases/tag/<version>`. As on github.com, every download of an asset that exists
  answers `302 Found`, to a signed URL on another origin (the blob server: another port) that
  expires after LINK_SECONDS (`X-Amz-Date`, `X-Amz-Expires=300`, `X-Amz-Signature`), and whose
  path is an opaque id, not the file's name. An asset that does not exist is a 404 on the
  release host itself.
- **The blob server** (objects.githubusercontent.com): serves a signed link's file with
  `Content-Type: application/octet-stream` and `Content-Disposition: attachment; filename=...`;
  an expired or tampered link gets S3's 403 `AccessDenied` ("Request has expired").
- **The channel server** (update.k3s.io): `/v1-release/channels` (JSON: `data[]` with `id`,
  `name`, `latest`) and `/v1-release/channels/<name>`, a 302 to the release's tag page.
- **A plain mirror** (`redirect=False`, a user's nginx or Artifactory): downloads answered
  directly by the release host.
- **HTTPS** (`tls=`): both origins serve TLS with a certificate of the test's own CA, as a
  corporate mirror does; with TLS, a second blob server on plain http is there for the paths in
  `downgrade`, whose redirects go down to http.

Faults, injected per release path (the URL a client asks first):
- `faults[path] = CODE`: the release host answers CODE; `= "corrupt" | "truncate" | "stall" |
  "broken"`: the file itself is served tampered, cut in half, stalled (its first 4 KiB, then
  nothing for STALL_SECONDS, then the connection closes), or broken off (half of what its
  Content-Length promises, then the connection closes);
- `transient[path] = [503, 502, ...]`: the next answers of the release host, one per request;
- `stale[path] = N`: the next N redirects give links that have already expired.

What it does not model: github.com's rate limits and its HTML pages, the API
(api.github.com), range requests, HTTP/2, the CDN's own redirects and caching headers, and the
real signing scheme (the signature here is an HMAC of the path and the date, checked the same
way). Every request is logged in `hits` (origin, path, client address); `requests` lists the
paths asked of the release host and channel server, in order.
"""

from __future__ import annotations

import hashlib
import io
import hmac
import json
import ssl
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode

STANDIN_K3S = Path(__file__).with_name("k3s.py")
STANDIN_API = Path(__file__).with_name("api")  # the Kubernetes API, a package beside k3s.py
STANDIN_K3D = Path(__file__).with_name("k3d.py")
K3D_VERSION = "v5.7.4"  # a real k3d release
K3D_ASSETS = ("k3d-linux-amd64", "k3d-linux-arm64", "k3d-darwin-amd64", "k3d-darwin-arm64",
              "k3d-windows-amd64.exe")
K3D_PREFIX = "/k3d-io/k3d/releases/download"
ARCH_FILES = {  # checksum file -> asset, as on the real release site
    "sha256sum-amd64.txt": "k3s",
    "sha256sum-arm64.txt": "k3s-arm64",
    "sha256sum-arm.txt": "k3s-armhf",
}
DOWNLOAD_PREFIX = "/k3s-io/k3s/releases/download"
BLOB_PREFIX = "/github-production-release-asset-2e65be"
STALL_SECONDS = 60
LINK_SECONDS = 300  # GitHub's X-Amz-Expires
AMZ_DATE = "%Y%m%dT%H%M%SZ"
EXPIRED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
           b"<Message>Request has expired</Message></Error>")


def standin_binary(version: str) -> bytes:
    """The stand-in k3s of `version`: a Python zip application (its modules in one executable
    file, as the real k3s is one binary), the same bytes for the same sources."""
    main = STANDIN_K3S.read_text().replace('VERSION = "v0.0.0+k3s1"', f'VERSION = "{version}"', 1)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        package = [(f"api/{path.name}", path.read_text()) for path in sorted(STANDIN_API.iterdir())
                   if path.suffix in (".py", ".json") and path.name != "generate.py"]
        for name, text in (("__main__.py", main), *package):
            bundle.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return b"#!/usr/bin/env python3\n" + archive.getvalue()


def standin_k3d() -> bytes:
    lines = STANDIN_K3D.read_text().splitlines(keepends=True)
    text = f"#!{sys.executable}\n" + "".join(lines[1:])
    return text.replace('VERSION = "v0.0.0"', f'VERSION = "{K3D_VERSION}"', 1).encode()


def build_k3d_tree(root: Path) -> None:
    directory = root / K3D_PREFIX.strip("/") / K3D_VERSION
    directory.mkdir(parents=True, exist_ok=True)
    data = standin_k3d()
    for asset in K3D_ASSETS:
        (directory / asset).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (directory / "checksums.txt").write_text("".join(f"{digest}  {asset}\n" for asset in K3D_ASSETS))


def build_tree(root: Path, versions: list[str]) -> None:
    for version in versions:
        directory = root / DOWNLOAD_PREFIX.strip("/") / version
        directory.mkdir(parents=True, exist_ok=True)
        data = standin_binary(version)
        for checksum_file, asset in ARCH_FILES.items():
            arch = checksum_file[len("sha256sum-"):-len(".txt")]
            # The images archive k3s imports at start, as the release ships it (here, a token).
            images = f"k3s-airgap-images-{arch}.tar.zst"
            (directory / asset).write_bytes(data)
            (directory / images).write_bytes(f"stand-in images of k3s {version} for {arch}\n".encode())
            (directory / checksum_file).write_text("".join(
                f"{hashlib.sha256((directory / name).read_bytes()).hexdigest()}  {name}\n" for name in (asset, images)))


@dataclass(frozen=True)
class Hit:
    origin: str  # "release" (and channel server), "blob", or "blob-http" (the downgrade's)
    path: str
    client: str  # the asking address: this machine's own, or a test host's on the bridge


@dataclass(frozen=True)
class TLS:
    """A server certificate and key (PEM files) for the mirror's origins."""

    cert: Path
    key: Path


@dataclass
class Mirror:
    """The mirror; `channels` maps a channel name to the version it resolves to."""

    root: Path
    versions: list[str]
    channels: dict[str, str]
    host: str
    redirect: bool = True
    tls: TLS | None = None
    faults: dict[str, object] = field(default_factory=dict)
    transient: dict[str, list[int]] = field(default_factory=dict)
    stale: dict[str, int] = field(default_factory=dict)
    downgrade: set[str] = field(default_factory=set)
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        build_tree(self.root, self.versions)
        build_k3d_tree(self.root)
        self._key = hashlib.sha256(str(self.root).encode()).digest()
        self._blobs: dict[str, str] = {}  # opaque blob id -> release path
        self._lock = threading.Lock()
        self.servers = {"release": self._server(self._release_handler, self.tls),
                        "blob": self._server(self._blob_handler("blob"), self.tls)}
        if self.tls:
            self.servers["blob-http"] = self._server(self._blob_handler("blob-http"), None)

    # ------------------------------------------------------------------ addresses
    def origin(self, name: str = "release") -> str:
        host, port = self.servers[name].server_address[:2]
        scheme = "https" if self.tls and name != "blob-http" else "http"
        return f"{scheme}://{host}:{port}"

    @property
    def base(self) -> str:
        return self.origin()

    @property
    def release_url(self) -> str:
        return self.base + DOWNLOAD_PREFIX

    @property
    def k3d_release_url(self) -> str:
        return self.base + K3D_PREFIX

    @property
    def channel_url(self) -> str:
        return self.base + "/v1-release/channels"

    @property
    def requests(self) -> list[str]:
        return [hit.path for hit in self.hits if hit.origin == "release"]

    # ------------------------------------------------------------------ life
    def start(self) -> "Mirror":
        start_all(self.servers)
        return self

    def stop(self) -> None:
        stop_all(self.servers)

    def _server(self, handler, tls: TLS | None) -> ThreadingHTTPServer:
        return make_server(self.host, handler, tls)

    # ------------------------------------------------------------------ signed links
    def _signature(self, blob: str, date: str) -> str:
        return hmac.new(self._key, f"{blob}\n{date}\n{LINK_SECONDS}".encode(), "sha256").hexdigest()

    def _signed_link(self, path: str) -> str:
        """A link to `path` on the blob server, as GitHub's redirect gives one."""
        blob = hashlib.sha256(path.encode()).hexdigest()[:36]
        with self._lock:
            self._blobs[blob] = path
            stale = self.stale.get(path, 0)
            if stale:
                self.stale[path] = stale - 1
        signed = datetime.now(timezone.utc) - timedelta(seconds=2 * LINK_SECONDS if stale else 0)
        date = signed.strftime(AMZ_DATE)
        query = urlencode({
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": date,
            "X-Amz-Expires": str(LINK_SECONDS), "X-Amz-Signature": self._signature(blob, date),
            "X-Amz-SignedHeaders": "host",
            "response-content-disposition": f"attachment; filename={path.rsplit('/', 1)[1]}",
            "response-content-type": "application/octet-stream",
        })
        origin = self.origin("blob-http" if path in self.downgrade and self.tls else "blob")
        return f"{origin}{BLOB_PREFIX}/{blob}?{query}"

    def _valid_link(self, blob: str, query: dict[str, list[str]]) -> bool:
        date = (query.get("X-Amz-Date") or [""])[0]
        signature = (query.get("X-Amz-Signature") or [""])[0]
        try:
            signed = datetime.strptime(date, AMZ_DATE).replace(tzinfo=timezone.utc)
        except ValueError:
            return False
        fresh = datetime.now(timezone.utc) - signed <= timedelta(seconds=LINK_SECONDS)
        return fresh and hmac.compare_digest(signature, self._signature(blob, date))

    # ------------------------------------------------------------------ handlers
    def _file(self, path: str) -> Path | None:
        file = (self.root / path.lstrip("/")).resolve()
        return file if self.root.resolve() in file.parents and file.is_file() else None

    def _release_handler(self, *args):
        return _ReleaseHandler(self, *args)

    def _blob_handler(self, origin: str):
        return lambda *args: _BlobHandler(self, origin, *args)


def make_server(host: str, handler, tls: TLS | None) -> ThreadingHTTPServer:
    """A threaded HTTP server on a free port of `host`, on TLS with `tls`."""
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def start_all(servers: dict) -> None:
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()


def stop_all(servers: dict) -> None:
    for server in servers.values():
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    origin = "release"

    def __init__(self, mirror: Mirror, *args) -> None:
        self.mirror = mirror
        super().__init__(*args)

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        path, _, query = self.path.partition("?")
        path = unquote(path)
        self.mirror.hits.append(Hit(self.origin, path, self.client_address[0]))
        self.answer(path, parse_qs(query))


class _ReleaseHandler(_Handler):
    def answer(self, path: str, query: dict) -> None:
        mirror = self.mirror
        with mirror._lock:
            pending = mirror.transient.get(path)
            code = pending.pop(0) if pending else None
        fault = mirror.faults.get(path)
        if code is None and isinstance(fault, int):
            code = fault
        if code is not None:
            return self.send(code, b"injected failure")
        if path == "/v1-release/channels":
            data = [{"id": name, "name": name, "latest": version}
                    for name, version in sorted(mirror.channels.items())]
            return self.send(200, json.dumps({"data": data}).encode(), {"Content-Type": "application/json"})
        if path.startswith("/v1-release/channels/"):
            name = path.rsplit("/", 1)[1]
            if name not in mirror.channels:
                return self.send(404, b"channel not found")
            tag = f"https://github.com/k3s-io/k3s/releases/tag/{mirror.channels[name]}"
            return self.send(302, b"", {"Location": tag})
        if path.startswith("/k3s-io/k3s/releases/tag/"):
            version = path.rsplit("/", 1)[1]
            return self.send(200 if version in mirror.versions else 404, version.encode())
        if mirror._file(path) is None:
            return self.send(404, b"Not Found")
        if mirror.redirect:
            return self.send(302, b"", {"Location": mirror._signed_link(path)})
        serve_file(self, path)


class _BlobHandler(_Handler):
    def __init__(self, mirror: Mirror, origin: str, *args) -> None:
        self.origin = origin
        super().__init__(mirror, *args)

    def answer(self, path: str, query: dict) -> None:
        blob = path.rsplit("/", 1)[-1]
        release_path = self.mirror._blobs.get(blob)
        if not path.startswith(BLOB_PREFIX + "/") or release_path is None \
                or not self.mirror._valid_link(blob, query):
            return self.send(403, EXPIRED, {"Content-Type": "application/xml"})
        serve_file(self, release_path)


def serve_file(handler: _Handler, path: str) -> None:
    """Answer with a release file, as GitHub's blob store does, or with its injected fault."""
    file = handler.mirror._file(path)
    if file is None:
        return handler.send(404, b"Not Found")
    body, fault = file.read_bytes(), handler.mirror.faults.get(path)
    headers = {"Content-Type": "application/octet-stream",
               "Content-Disposition": f"attachment; filename={file.name}"}
    if fault in ("stall", "broken"):  # a transfer that starts, then stops moving, or breaks off
        handler.send_response(200)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:4096] if fault == "stall" else body[: len(body) // 2])
        handler.wfile.flush()
        if fault == "stall":
            time.sleep(STALL_SECONDS)
        handler.close_connection = True
        return
    if fault == "corrupt":
        body = body.replace(b"stand-in", b"tampered", 1)
    elif fault == "truncate":
        body = body[: len(body) // 2]
    handler.send(200, body, headers)
