"""A local release mirror shaped like the real k3s release site and channel server, for tests.

It serves, from a directory it builds:
- `/k3s-io/k3s/releases/download/<version>/<asset>` for each asset of each version (the stand-in
  k3s with its version baked in, and a token `k3s-airgap-images-<arch>.tar.zst`) and the
  real-format `sha256sum-<arch>.txt` files;
- `/k3s-io/k3s/releases/tag/<version>`;
- `/v1-release/channels` (JSON) and `/v1-release/channels/<name>` (a 302 to the release tag);
- `/k3d-io/k3d/releases/download/<version>/k3d-<os>-<arch>` (the stand-in k3d, run by the
  Python of the test process: it only ever runs on this machine) and `checksums.txt`.

Faults can be injected per path (`mirror.faults[path] = "corrupt" | "truncate" | 500 | "stall"`)
to prove that harmony refuses bad downloads; a stalled download sends its first 4 KiB, then
nothing for STALL_SECONDS, then closes the connection.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

STANDIN_K3S = Path(__file__).with_name("k3s.py")
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
STALL_SECONDS = 60


def standin_binary(version: str) -> bytes:
    text = STANDIN_K3S.read_text().replace('VERSION = "v0.0.0+k3s1"', f'VERSION = "{version}"', 1)
    return text.encode()


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


class Mirror:
    """The mirror server; `channels` maps a channel name to the version it resolves to."""

    def __init__(self, root: Path, versions: list[str], channels: dict[str, str], host: str) -> None:
        self.root = root
        self.versions = versions
        self.channels = channels
        self.faults: dict[str, object] = {}
        self.requests: list[str] = []
        build_tree(root, versions)
        build_k3d_tree(root)
        self.httpd = ThreadingHTTPServer((host, 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def release_url(self) -> str:
        return self.base + DOWNLOAD_PREFIX

    @property
    def k3d_release_url(self) -> str:
        return self.base + K3D_PREFIX

    @property
    def channel_url(self) -> str:
        return self.base + "/v1-release/channels"

    def start(self) -> "Mirror":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        mirror = self

        class Handler(BaseHTTPRequestHandler):
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
                path = unquote(self.path.split("?", 1)[0])
                mirror.requests.append(path)
                fault = mirror.faults.get(path)
                if isinstance(fault, int):
                    return self.send(fault, b"injected failure")
                if path == "/v1-release/channels":
                    data = [{"id": name, "name": name, "latest": version}
                            for name, version in sorted(mirror.channels.items())]
                    return self.send(200, json.dumps({"data": data}).encode(),
                                     {"Content-Type": "application/json"})
                if path.startswith("/v1-release/channels/"):
                    name = path.rsplit("/", 1)[1]
                    if name not in mirror.channels:
                        return self.send(404, b"channel not found")
                    tag = f"https://github.com/k3s-io/k3s/releases/tag/{mirror.channels[name]}"
                    return self.send(302, b"", {"Location": tag})
                if path.startswith("/k3s-io/k3s/releases/tag/"):
                    version = path.rsplit("/", 1)[1]
                    return self.send(200 if version in mirror.versions else 404, version.encode())
                file = (mirror.root / path.lstrip("/")).resolve()
                if mirror.root.resolve() not in file.parents or not file.is_file():
                    return self.send(404, b"Not Found")
                body = file.read_bytes()
                if fault == "stall":  # a transfer that starts, then stops moving
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:4096])
                    self.wfile.flush()
                    time.sleep(STALL_SECONDS)
                    return
                if fault == "corrupt":
                    body = body.replace(b"stand-in", b"tampered", 1)
                elif fault == "truncate":
                    body = body[: len(body) // 2]
                return self.send(200, body, {"Content-Type": "application/octet-stream"})

        return Handler
