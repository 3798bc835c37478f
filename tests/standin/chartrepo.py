"""A local stand-in for a Helm chart repository (a static site, as GitHub Pages or
ChartMuseum serve one), for tests; and the charts it and the stand-in registry serve.

What it models, from Helm's chart repository guide: `index.yaml` (apiVersion v1, `entries` by
chart name, each version with `urls`, relative to the repository here, and a sha256 `digest`)
and the charts' .tgz files, laid out as `helm package` lays them out (NAME/Chart.yaml and a
template). Not modelled: provenance files, authentication, and `index.yaml`'s other fields.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from http.server import BaseHTTPRequestHandler

import yaml

from tests.standin.mirror import TLS, make_server, start_all, stop_all


def chart_archive(name: str, version: str) -> bytes:
    """A chart's .tgz, the same bytes each time."""
    files = {"Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}),
             "templates/configmap.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for path, text in files.items():
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    return gzip.compress(raw.getvalue(), mtime=0)


class ChartRepo:
    """The repository, serving `charts` ({name: [version, ...]})."""

    def __init__(self, host: str, tls: TLS, charts: dict[str, list[str]]) -> None:
        self.files = {f"/charts/{name}-{version}.tgz": chart_archive(name, version)
                      for name, versions in charts.items() for version in versions}
        entries = {name: [{"apiVersion": "v2", "name": name, "version": version,
                           "urls": [f"charts/{name}-{version}.tgz"],
                           "digest": hashlib.sha256(self.files[f"/charts/{name}-{version}.tgz"]).hexdigest()}
                          for version in versions] for name, versions in charts.items()}
        self.files["/index.yaml"] = yaml.safe_dump({"apiVersion": "v1", "entries": entries}).encode()
        self.hits: list[str] = []
        handler = type("ChartHandler", (_Handler,), {"repo": self})
        self.servers = {"repo": make_server(host, handler, tls)}

    @property
    def url(self) -> str:
        host, port = self.servers["repo"].server_address[:2]
        return f"https://{host}:{port}"

    def start(self) -> "ChartRepo":
        start_all(self.servers)
        return self

    def stop(self) -> None:
        stop_all(self.servers)


class _Handler(BaseHTTPRequestHandler):
    repo: ChartRepo

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.partition("?")[0]
        self.repo.hits.append(path)
        body = self.repo.files.get(path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")
