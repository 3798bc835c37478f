"""A small forward proxy of the test's own, on 127.0.0.1, that logs what it is asked for.

It tunnels `CONNECT host:port` (how a client reaches an https URL through HTTPS_PROXY) and
forwards a plain `GET http://...` (HTTP_PROXY), as squid or a corporate proxy does; each
request's target goes into `asked`. Tunnels are bounded: an idle one closes after 30 s.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

IDLE_SECONDS = 30


class Proxy:
    def __init__(self) -> None:
        self.asked: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

            def do_CONNECT(self) -> None:  # noqa: N802
                proxy.asked.append(f"CONNECT {self.path}")
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=10)
                except OSError:
                    self.send_error(502)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                _tunnel(self.connection, upstream)

            def do_GET(self) -> None:  # noqa: N802
                proxy.asked.append(f"GET {self.path}")
                url = urlsplit(self.path)
                connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
                connection.request("GET", url.path + (f"?{url.query}" if url.query else ""))
                answer = connection.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> "Proxy":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _tunnel(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes, or nothing moves for IDLE_SECONDS."""
    with upstream:
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], IDLE_SECONDS)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
