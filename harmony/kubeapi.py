"""A GET of the Kubernetes API through the standard library, with what the kubeconfig harmony
fetched from a server holds: the cluster's CA, and a client certificate (k3s and k3d write
both inline) or a bearer token.

Why not the official client here: importing it costs 0.25 s, about a third of a no-op `up`,
whose only word with the API is one list of the nodes. Everything that writes (the workloads,
a node's cordon and drain) keeps the official client. As it does, this verifies the server's
certificate and name, and uses no proxy from the environment.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import tempfile
from urllib.parse import urlsplit


class ApiError(Exception):
    """The API answered, but not with what was asked for."""


def get(kubeconfig: dict, path: str, timeout: float = 5.0) -> dict:
    """The API's JSON answer to a GET of `path`, through the kubeconfig's current context."""
    cluster, user = _current(kubeconfig)
    server = urlsplit(cluster["server"])
    connection = http.client.HTTPSConnection(server.hostname, server.port or 443, timeout=timeout,
                                             context=_tls(cluster, user))
    headers = {"Accept": "application/json"}
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    try:
        connection.request("GET", server.path.rstrip("/") + path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise ApiError(f"the API answered {response.status} for {path}")
    return json.loads(body)


def _current(kubeconfig: dict) -> tuple[dict, dict]:
    """The current context's cluster and user entries."""
    def named(kind: str, name: str) -> dict:
        return next((e.get(kind[:-1]) or {} for e in kubeconfig.get(kind) or [] if e.get("name") == name), {})

    context = named("contexts", kubeconfig.get("current-context", ""))
    return named("clusters", context.get("cluster", "")), named("users", context.get("user", ""))


def _tls(cluster: dict, user: dict) -> ssl.SSLContext:
    """TLS as the kubeconfig says: its CA (else the system's), and its client certificate. The
    certificate and key are handed to OpenSSL through files only it reads (0600, in a 0700
    directory), removed once read."""
    ca = cluster.get("certificate-authority-data")
    context = ssl.create_default_context(cadata=base64.b64decode(ca).decode() if ca else None)
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if user.get("client-certificate-data") and user.get("client-key-data"):
        with tempfile.TemporaryDirectory(prefix="harmony-") as directory:
            files = []
            for key in ("client-certificate-data", "client-key-data"):
                path = os.path.join(directory, key)
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                    f.write(base64.b64decode(user[key]))
                files.append(path)
            context.load_cert_chain(*files)
    return context
