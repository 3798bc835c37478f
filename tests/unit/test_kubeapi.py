"""harmony.kubeapi against a real TLS server on 127.0.0.1 with a CA of the test's own: the
server's certificate is verified against the kubeconfig's CA, the token goes as a bearer token,
and an answer other than 2xx is an error. (A client certificate is presented to the stand-in
k3s in every e2e `up`: it answers nothing without one.)"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import threading

import pytest

from harmony import kubeapi
from tests.e2e import tls


@pytest.fixture
def server(tmp_path):
    """An HTTPS server answering /api/v1/nodes with the Authorization header it got, else 401."""
    ca = tls.make(tmp_path / "ca", "127.0.0.1")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            found = self.path == "/api/v1/nodes"
            body = json.dumps({"items": [], "auth": self.headers.get("Authorization")}).encode()
            self.send_response(200 if found else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.server.cert, ca.server.key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", ca.ca_cert.read_bytes()
    httpd.shutdown()


def kubeconfig(url: str, ca: bytes, **user) -> dict:
    return {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": {"server": url,
                                                   "certificate-authority-data": base64.b64encode(ca).decode()}}],
            "users": [{"name": "u", "user": user}]}


def test_a_get_verifies_the_server_against_the_kubeconfigs_ca_and_sends_the_token(server):
    url, ca = server
    assert kubeapi.get(kubeconfig(url, ca, token="secret"), "/api/v1/nodes") == {"items": [], "auth": "Bearer secret"}
    with pytest.raises(kubeapi.ApiError, match="answered 401 for /api/v1/pods"):
        kubeapi.get(kubeconfig(url, ca), "/api/v1/pods")


def test_a_server_the_kubeconfigs_ca_did_not_sign_is_refused(server, tmp_path):
    url, _ = server
    other = tls.make(tmp_path / "other", "127.0.0.1").ca_cert.read_bytes()
    with pytest.raises(ssl.SSLCertVerificationError):
        kubeapi.get(kubeconfig(url, other), "/api/v1/nodes")
