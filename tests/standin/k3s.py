#!/usr/bin/env python3
"""STAND-IN for the k3s binary, for harmony's tests only. Never shipped, never called by harmony.

The test machines have no internet, so the real k3s release cannot be downloaded. This script
follows the parts of the real program's contract that harmony depends on (see docs/testing.md):

- `k3s --version` prints the same two lines as k3s;
- `k3s server` reads /etc/rancher/k3s/config.yaml and config.yaml.d/*.yaml (CLI flags win),
  makes a server CA, writes the token files (`K10<sha256 of the CA>::server:<secret>`) and the
  admin kubeconfig at /etc/rancher/k3s/k3s.yaml (mode 0600), serves an HTTPS API on 6443
  (/cacerts, /ping, /readyz, /version, /api, /apis, /api/v1/nodes with client-certificate auth;
  a node's labels and cordoning by a PATCH of it (merged: labels set so survive its re-registration), /api/v1/pods and pod evictions, over pods that tests plant in
  its data dir, as it runs no workloads), and tells systemd READY=1 once it is serving (at once,
  unlike the real k3s's 10 to 30 s, unless HARMONY_STANDIN_START_SECONDS says otherwise);
- `k3s agent` and `k3s server --server URL` join a server: they fetch /cacerts, check the CA hash
  in the token, and register their node with the token, as real k3s does before trusting a server;
  a joining server also takes the cluster's CA from /v1-k3s/server-bootstrap, which (as with real
  k3s) only a server running embedded etcd (`cluster-init`, or joined itself) offers;
- at start, a node imports the OCI image archives (.tar) in /var/lib/rancher/k3s/agent/images, as
  k3s's containerd does (`import_images`), into containerd's k8s.io namespace. Real k3s releases
  from v1.32.0, v1.31.5, v1.30.9 and v1.29.13 also import files that appear while they run; this
  stand-in, like the older releases the tests install, imports only at start;
- `k3s ctr` (and the `ctr` link to k3s) is containerd's ctr for images (api/containerd.py, whose
  docstring has the contract): `[-n NS] images|image|i import [flags] FILE|-` reads a docker
  archive or an OCI layout as containerd v1.7's importer does, prints `unpacking NAME
  (sha256:...)...done`, and records the images in the node's store,
  /var/lib/rancher/k3s/agent/containerd/standin-images.json, per namespace (k3s's default:
  k8s.io); `images ls [-q]` lists one namespace. While k3s runs, it listens on containerd's
  socket /run/k3s/containerd/containerd.sock; stopped, it leaves the socket behind as
  containerd does, and ctr fails to dial it (`connection refused`, exit 1);
- the kubelet's view of a node's images is the k8s.io namespace of its store (other namespaces
  are containerd's, not the CRI's): it reports them in the Node's `status.images` (each image's
  tags and repo@digest names, its size; at most 50, largest first, as nodeStatusMaxImages), at
  start and within about a second of an import (the real kubelet: on its next node status
  update, every 10 s); an agent re-registers its node with the server to report them. Its pull
  decisions follow each container's imagePullPolicy (defaulted as the API server does: Always
  for `:latest` or no tag, else IfNotPresent; api/workloads.py pull_problem): Never with the
  image absent waits as ErrImageNeverPull; IfNotPresent with it present runs without a pull;
  every pull fails (ImagePullBackOff) on a host marked as reaching no registry
  (/etc/standin-no-registry: an airgapped host), so Always fails there even with the image
  present.

- the EtcdIsVoter condition on each etcd server's Node, as k3s's etcd controller keeps it
  (pkg/etcd manageLearners, every 15 s, or HARMONY_STANDIN_ETCD_TICK seconds): True
  (MemberNotLearner) while the member answers, False (Unhealthy) while it does not. Run by the
  server that started the cluster (real k3s: the etcd leader, wherever it is, so a cluster whose
  first server is down still updates it; this one then does not). Not modelled: learners and
  their promotion (MemberIsLearner), NotAMember, the 5-minute heartbeat of an unchanged condition,
  and quorum itself (a stand-in server keeps answering with most of its members down);
- certificates as k3s keeps them (`server_certificates`): CAs valid 10 years, and the leaf
  certificates of server/tls (and tls/etcd with embedded etcd) and of the server's agent (agent/),
  each followed by its CA's in its file, valid 365 days or CATTLE_NEW_SIGNED_CERT_EXPIRATION_DAYS
  (dynamiclistener's knob; the tests set it in /etc/default/k3s); at every start a leaf that
  expires within 90 days (120 from v1.33.1, v1.32.5, v1.31.9, v1.30.13) is issued again, as k3s's
  deps do; 6443 is served with serving-kube-apiserver.crt (k3s: the supervisor's dynamiclistener
  certificate). `k3s certificate check [-s SERVICE] [--data-dir DIR]` lists them as the release
  does: logrus lines on stderr, and `--output text|table|json|yaml` only from those May 2025
  releases (before: "flag provided but not defined", exit 1). An agent takes its certificates
  from its server at every start (`take_agent_certificates`: the CAs, the server's own kube-proxy
  and k3s-controller ones, kubelet ones signed for it then). `k3s certificate rotate [-s
  SERVICE]... [--data-dir DIR]` as pkg/cli/cert (`certificate_rotate`): server/tls backed up to
  tls-<unix time> (an agent's files to agent/tls-<unix time>), the dynamic listener's trigger
  file for k3s-server, every file of the services removed, whether k3s runs or not; the next
  start issues them. Not modelled: `rotate-ca`, the server's kubelet signing keys, SAN changes
  renewing a certificate, CertificateExpirationWarning events.

- embedded etcd (`Members`, `join_etcd`, `etcd_snapshot`, `cluster_reset`), as pkg/etcd does it.
  The datastore is the files the API and the node registry keep under server/ (k3s: etcd, under
  server/db/etcd). A server's database is server/db/etcd: its member's name, given once
  (db/etcd/name, its host name and 8 hex digits, as k3s's setName), and the ID of the etcd
  cluster it belongs to (db/etcd/standin-member.json; etcd's member/ holds it), made by
  cluster-init or a reset, taken by a joining server; a server with a database runs etcd,
  cluster-init or not. The first server (cluster-init, or the one reset) keeps the member list
  in its database; `/db/info` serves the list and the cluster ID (the MemberListResponse's
  header) to a server's token (`server:<secret>`, k3s's `k3s:server` role) as the supervisor
  does; a joining server reads it there: a database of another cluster (one reset since) fails
  with `request cluster ID mismatch` until it is removed, a new server adds itself (a stand-in
  POST for etcd's MemberAdd), one that was a member and is no longer listed fails at start as
  k3s's etcd Test does. A server's Node carries the etcd member controller's annotations
  (etcd.k3s.cattle.io/node-name, node-address) and its finalizer (wrangler's OnRemove): a DELETE
  of it leaves it with a deletionTimestamp about a second, then its member is removed and the
  Node goes (an agent's goes at once); a removed member's k3s exits within a second ("etcd
  stopped"), as etcd stops a member its peers say was removed. `k3s etcd-snapshot
  save|ls|delete|prune` as the CLI does them: `save` needs the server running and embedded etcd
  (`etcd database not found in .../server`), writes NAME-NODE-UNIXTIME (0600) under
  server/db/snapshots holding the datastore, the cluster's CA (the bootstrap data) and a hash of
  the token, and says `Snapshot NAME saved.`. `k3s server --cluster-reset
  [--cluster-reset-restore-path FILE]` refuses another token than the snapshot's (`bootstrap data
  already found and encrypted with different token`), keeps the old database (db/etcd-old-UNIXTIME)
  and tls/ (tls-UNIXTIME), makes a new cluster ID whose only member the server is from its next
  start (a new member name too), restores, says `Managed etcd cluster membership has been reset,
  restart without --cluster-reset flag now. ...` and exits 0, and db/reset-flag refuses a second
  reset until a normal start. Not modelled: quorum (the list changes whatever the members'
  state), learners, replication between servers (each keeps its own datastore), removing the
  first server or resetting a server that joined another (the first holds the list), the
  etcd.k3s.cattle.io/remove annotation, newer k3s's tombstone rejoin, scheduled snapshots and S3
  (their flags are accepted, nothing is taken or uploaded), compression, ETCDSnapshotFile
  objects, node heartbeats (an old node stays Ready), a deleted node's kubelet registering it
  again.

The release mirror in tests/standin/mirror.py bakes a version into each copy it serves, so that
different versions have different checksums.
"""

from __future__ import annotations

import sys

VERSION = "v0.0.0+k3s1"  # replaced by the mirror with the version it serves
COMMIT = "5tand1n0"

if __name__ == "__main__" and sys.argv[1:2] in ([], ["--version"], ["-v"], ["version"]) \
        and not sys.argv[0].endswith("ctr"):
    # Answered before the imports below: harmony's host fact asks on every run, and the real
    # k3s (a Go binary) answers in milliseconds, not in the tenth of a second they take.
    print(f"k3s version {VERSION} ({COMMIT})\ngo version go1.22.9")
    sys.exit(0)

import base64
import datetime
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

import api  # beside this file in the stand-in's zipapp (tests/standin/mirror.py builds it)
from api import containerd, helmrelease

CONFIG_FILE = "/etc/rancher/k3s/config.yaml"
NO_REGISTRY = "/etc/standin-no-registry"  # a test host marked as reaching no registry (airgapped)
# What the release's airgap images archive holds, as far as the stand-in runs it: the image of
# helm-controller's install Jobs (k3s-images.txt of a release lists it with the others).
SYSTEM_IMAGES = (api.HELM_JOB_IMAGE,)
KUBECONFIG_FILE = "/etc/rancher/k3s/k3s.yaml"


def fail(message: str) -> None:
    print(f'level=fatal msg="{message}"', file=sys.stderr, flush=True)
    sys.exit(1)


def log(message: str) -> None:
    print(f'level=info msg="{message}"', file=sys.stderr, flush=True)


# ---------------------------------------------------------------- configuration


def parse_flags(argv: list[str]) -> dict:
    """`--key value`, `--key=value` and bare `--flag` (true); repeated keys become lists."""
    flags: dict = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            fail(f"unexpected argument {arg}")
        key, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 1
            else:
                value = True
        if key in flags:
            previous = flags[key] if isinstance(flags[key], list) else [flags[key]]
            flags[key] = previous + [value]
        else:
            flags[key] = value
        i += 1
    return flags


def load_config(argv: list[str], own: tuple[str, ...] = ()) -> dict:
    """config.yaml, then config.yaml.d/*.yaml in order (`key+:` appends), then CLI flags (`own`:
    the subcommand's flags beyond the server's)."""
    flags = parse_flags(argv)
    path = flags.pop("config", os.environ.get("K3S_CONFIG_FILE", CONFIG_FILE))
    files = [path] + sorted(glob.glob(f"{path}.d/*.yaml"))
    config: dict = {}
    for name in files:
        if not os.path.exists(name):
            continue
        with open(name) as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            fail(f"{name}: config must be a mapping")
        for key, value in data.items():
            if key.endswith("+"):
                key = key[:-1]
                old = config.get(key, [])
                config[key] = (old if isinstance(old, list) else [old]) + (
                    value if isinstance(value, list) else [value]
                )
            else:
                config[key] = value
    config.update(flags)
    for env, key in (("K3S_TOKEN", "token"), ("K3S_URL", "server"), ("K3S_NODE_NAME", "node-name")):
        if os.environ.get(env) and key not in config:
            config[key] = os.environ[env]
    if os.environ.get("K3S_TOKEN_FILE") and "token-file" not in config:
        config["token-file"] = os.environ["K3S_TOKEN_FILE"]
    check_flags({key: value for key, value in config.items() if key not in own})
    if "token-file" in config and "token" not in config:
        with open(config["token-file"]) as f:
            config["token"] = f.read().strip()
    return config


# The k3s flags the stand-in knows (of real k3s's many): like k3s, it refuses the others, which
# is how a mistyped setting in config.yaml fails a real node.
KNOWN_FLAGS = {
    "agent-token", "agent-token-file", "bind-address", "cluster-cidr", "cluster-dns", "cluster-domain",
    "cluster-init", "config", "data-dir", "debug", "default-local-storage-path", "disable",
    "disable-cloud-controller", "disable-helm-controller", "disable-kube-proxy", "disable-network-policy",
    "disable-scheduler", "embedded-registry", "etcd-expose-metrics", "flannel-backend", "flannel-iface",
    "https-listen-port", "kube-apiserver-arg", "kube-controller-manager-arg", "kube-proxy-arg",
    "kubelet-arg", "node-external-ip", "node-ip", "node-label", "node-name", "node-taint",
    "prefer-bundled-bin", "private-registry", "protect-kernel-defaults", "secrets-encryption", "selinux",
    "server", "service-cidr", "snapshotter", "tls-san", "token", "token-file", "write-kubeconfig",
    "write-kubeconfig-mode",
    # embedded etcd's snapshots (taken on demand by `k3s etcd-snapshot`; the schedule and S3 are
    # read, not acted on) and its reset
    "cluster-reset", "cluster-reset-restore-path", "etcd-disable-snapshots", "etcd-snapshot-compress",
    "etcd-snapshot-dir", "etcd-snapshot-name", "etcd-snapshot-retention", "etcd-snapshot-schedule-cron",
    "etcd-s3", "etcd-s3-access-key", "etcd-s3-bucket", "etcd-s3-endpoint", "etcd-s3-endpoint-ca",
    "etcd-s3-folder", "etcd-s3-insecure", "etcd-s3-region", "etcd-s3-secret-key", "etcd-s3-skip-ssl-verify",
    "etcd-s3-timeout",
}


def check_flags(config: dict) -> None:
    for key in config:
        if key not in KNOWN_FLAGS:
            fail(f"flag provided but not defined: -{key}")


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- certificates and tokens


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory: str, name: str) -> None:
    """A self-signed CA, valid 10 years, as dynamiclistener's NewSelfSignedCACert makes it; never
    renewed by k3s itself (only `k3s certificate rotate-ca`, which the stand-in has not)."""
    if os.path.exists(f"{directory}/{name}.crt"):
        return
    os.makedirs(os.path.dirname(f"{directory}/{name}.crt"), exist_ok=True)
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{directory}/{name}.key", "-out", f"{directory}/{name}.crt", "-days", "3650",
        "-subj", f"/CN={name.replace('/', '-') if '/' in name else 'k3s-' + name}@{int(time.time())}",
    )


def leaf_days() -> int:
    """How long a new leaf certificate is valid: dynamiclistener's NewSignedCert takes
    CATTLE_NEW_SIGNED_CERT_EXPIRATION_DAYS from the environment (k3s's unit reads it from
    /etc/default/k3s), else 365; a value that is no number is logged and the default used."""
    value = os.environ.get("CATTLE_NEW_SIGNED_CERT_EXPIRATION_DAYS", "")
    if value:
        try:
            return int(value)
        except ValueError:
            log(f"[NewSignedCert] expiration days from ENV ({value}) could not be converted to int "
                "(falling back to default value: 365)")
    return 365


def sign(directory: str, ca: str, name: str, subject: str, extensions: str) -> None:
    """A leaf certificate and its key, signed by `ca` (a path under `directory`, without .crt),
    written as k3s writes them: the certificate, then its CA's."""
    key, csr, crt = (f"{directory}/{name}.{ext}" for ext in ("key", "csr", "crt"))
    os.makedirs(os.path.dirname(crt), exist_ok=True)
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", subject,
    )
    ext_file = f"{directory}/{name}.ext"
    with open(ext_file, "w") as f:
        f.write(extensions)
    openssl(
        "x509", "-req", "-in", csr, "-CA", f"{directory}/{ca}.crt", "-CAkey", f"{directory}/{ca}.key",
        "-set_serial", str(secrets.randbits(63)), "-out", crt, "-days", str(leaf_days()), "-extfile", ext_file,
    )
    with open(f"{directory}/{ca}.crt") as f:
        chain = f.read()
    with open(crt, "a") as f:
        f.write(chain)
    os.remove(csr)
    os.remove(ext_file)


# k3s's renewal window: at every start, a leaf certificate that has expired or expires within
# this many days is issued again (pkg/daemons/control/deps: createClientCertKey's `expired`);
# `k3s certificate check` warns within it. 90 days, 120 from the May 2025 releases.
RENEW_FROM = {(1, 33): (1, 33, 1), (1, 32): (1, 32, 5), (1, 31): (1, 31, 9), (1, 30): (1, 30, 13)}
# `k3s certificate check --output` came with the same releases (before them: text only).


def version_tuple() -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in VERSION[1:].split("+")[0].split("-")[0].split("."))
    except ValueError:
        return (0, 0, 0)


def newer_certificates() -> bool:
    """Whether this version is of the May 2025 releases or later (120 days, `--output`)."""
    version = version_tuple()
    first = RENEW_FROM.get(version[:2])
    return version[:3] >= first if first else version[:2] > (1, 33)


def renew_days() -> int:
    return 120 if newer_certificates() else 90


def cert_dates(path: str) -> dict | None:
    """The first certificate of a PEM file as the ssl module decodes it (subject, issuer,
    notBefore, notAfter), read without a process; None where there is none."""
    try:
        return ssl._ssl._test_decode_cert(path)  # CPython's own test hook: no process a file
    except (OSError, ssl.SSLError, AttributeError):
        return None


def seconds_left(path: str) -> float | None:
    decoded = cert_dates(path)
    return ssl.cert_time_to_seconds(decoded["notAfter"]) - time.time() if decoded else None


def renew(directory: str, ca: str, name: str, subject: str, extensions: str) -> None:
    """Issue a leaf certificate where it is missing, or expires within the renewal window, as
    k3s does at every start (it logs nothing for one it keeps)."""
    left = seconds_left(f"{directory}/{name}.crt")
    if left is not None and left > renew_days() * 86400:
        return
    sign(directory, ca, name, subject, extensions)


CLIENT, SERVER = "extendedKeyUsage=clientAuth\n", "extendedKeyUsage=serverAuth\n"
# The leaf certificates a server makes, by file under server/tls: (CA, subject, usage), and the
# services `k3s certificate check -s` names them by (pkg/util/services).
SERVER_LEAVES = {
    "client-admin": ("client-ca", "/O=system:masters/CN=system:admin", CLIENT, "admin"),
    "client-auth-proxy": ("request-header-ca", "/CN=system:auth-proxy", CLIENT, "auth-proxy"),
    "client-controller": ("client-ca", "/CN=system:kube-controller-manager", CLIENT, "controller-manager"),
    "client-k3s-cloud-controller": ("client-ca", "/CN=k3s-cloud-controller-manager", CLIENT, "cloud-controller"),
    "client-k3s-controller": ("client-ca", "/CN=system:k3s-controller", CLIENT, "k3s-controller"),
    "client-kube-apiserver": ("client-ca", "/O=system:masters/CN=system:apiserver", CLIENT, "api-server"),
    "client-kube-proxy": ("client-ca", "/CN=system:kube-proxy", CLIENT, "kube-proxy"),
    "client-scheduler": ("client-ca", "/CN=system:kube-scheduler", CLIENT, "scheduler"),
    "client-supervisor": ("client-ca", "/O=system:masters/CN=system:k3s-supervisor", CLIENT, "supervisor"),
}
ETCD_LEAVES = {
    "etcd/client": ("etcd/server-ca", "/CN=etcd-client", CLIENT, "etcd"),
    "etcd/peer-server-client": ("etcd/peer-ca", "/CN=etcd-peer", CLIENT + SERVER, "etcd"),
    "etcd/server-client": ("etcd/server-ca", "/CN=etcd-server", CLIENT + SERVER, "etcd"),
}
# A server's agent's, under agent/ (a server signs them itself; an agent's come from its server).
AGENT_LEAVES = {
    "client-k3s-controller": ("client-ca", "/CN=system:k3s-controller", CLIENT, "k3s-controller"),
    "client-kube-proxy": ("client-ca", "/CN=system:kube-proxy", CLIENT, "kube-proxy"),
    "client-kubelet": ("client-ca", "/O=system:nodes/CN=system:node:{node}", CLIENT, "kubelet"),
    "serving-kubelet": ("server-ca", "/CN={node}", SERVER, "kubelet"),
}
AGENT_SERVICES = ("kube-proxy", "kubelet", "k3s-controller")
SERVER_SERVICES = ("api-server", "admin", "auth-proxy", "cloud-controller", "controller-manager", "etcd",
                   "scheduler", "supervisor", "k3s-server") + AGENT_SERVICES


def server_certificates(tls_dir: str, agent_dir: str, sans: list[str], etcd: bool, node: str) -> None:
    """Every CA and leaf certificate of a server, each leaf issued again where it is missing or
    within the renewal window. `serving-kube-apiserver` is the API's (with the SANs): the
    stand-in serves 6443 with it, where k3s's supervisor serves its dynamiclistener certificate
    (dynamic-cert.json, renewed within the same window) in front of the apiserver's."""
    for ca in ("server-ca", "client-ca", "request-header-ca") + (("etcd/server-ca", "etcd/peer-ca") if etcd else ()):
        make_ca(tls_dir, ca)
    leaves = {**SERVER_LEAVES, **(ETCD_LEAVES if etcd else {}),
              "serving-kube-apiserver": ("server-ca", "/CN=kube-apiserver",
                                         f"subjectAltName={','.join(dict.fromkeys(sans))}\n{SERVER}", "api-server")}
    os.makedirs(agent_dir, exist_ok=True)
    for ca in ("server-ca", "client-ca"):
        with open(f"{tls_dir}/{ca}.crt") as f:
            write_private(f"{agent_dir}/{ca}.crt", f.read(), 0o644)
    # (on a first start, two dozen openssl runs: two at a time, as the test hosts have two cores)
    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(renew, tls_dir, ca, name, subject, extensions)
                for name, (ca, subject, extensions, _) in leaves.items()]
        done += [pool.submit(renew, tls_dir, ca, f"../../agent/{name}", subject.format(node=node), extensions)
                 for name, (ca, subject, extensions, _) in AGENT_LEAVES.items()]
    for each in done:
        each.result()  # an openssl that failed fails the start


def certificate_flags(argv: list[str], known: tuple[str, ...]) -> dict[str, list[str]] | None:
    """`k3s certificate check|rotate`'s flags (urfave/cli: `-s`/`--service`, repeated, and the
    others), or None after urfave's usage error for a flag the command has not."""
    flags: dict[str, list[str]] = {"service": []}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, sep, value = arg.lstrip("-").partition("=")
        name = {"s": "service", "o": "output"}.get(name, name)
        if not arg.startswith("-") or name not in known:
            print(f"Incorrect Usage: flag provided but not defined: -{name}", file=sys.stderr)
            return None
        if name != "debug" and not sep:
            i += 1
            value = argv[i] if i < len(argv) else ""
        flags.setdefault(name, [])
        flags[name] = flags[name] + [value] if name == "service" else [value]
        i += 1
    return flags


def certificate_services(flags: dict[str, list[str]], doing: str) -> tuple[str, list[str]]:
    """The data dir and the services asked for (each one checked), or, none asked, a server's
    (agent and server ones: it has a server dir) or an agent's, as k3s decides and logs it."""
    data_dir = (flags.get("data-dir") or ["/var/lib/rancher/k3s"])[0]
    services = flags["service"]
    for service in services:
        if service not in SERVER_SERVICES:
            fail(f"service {service} is not recognized")
    if services:
        return data_dir, services
    if os.path.isdir(f"{data_dir}/server"):
        log(f"Server detected, {doing} agent and server certificates")
        return data_dir, list(SERVER_SERVICES)
    log(f"Agent detected, {doing} agent certificates")
    return data_dir, list(AGENT_SERVICES)


def service_files(data_dir: str, services: list[str]) -> dict[str, list[str]]:
    """Each service's certificate and key files, as pkg/util/services FilesForServices lists
    them (whether or not they exist): under server/tls, and the agent's under agent/. kubelet's
    are the server's signing keys for kubelets (server/tls/{client,serving}-kubelet.key, which
    the stand-in's server has not) and the agent's own; k3s-server has none (the supervisor's
    dynamiclistener certificate is regenerated through a trigger file instead)."""
    tls_dir, agent_dir = f"{data_dir}/server/tls", f"{data_dir}/agent"
    leaves = {**SERVER_LEAVES, **ETCD_LEAVES, "serving-kube-apiserver": (None, None, None, "api-server")}
    files: dict[str, list[str]] = {}
    for service in services:
        if service == "k3s-server":
            continue
        paths = [f"{tls_dir}/{name}.{ext}" for name, leaf in leaves.items() if leaf[3] == service
                 for ext in ("crt", "key")]
        if service == "kubelet":
            paths += [f"{tls_dir}/client-kubelet.key", f"{tls_dir}/serving-kubelet.key"]
        paths += [f"{agent_dir}/{name}.{ext}" for name, leaf in AGENT_LEAVES.items() if leaf[3] == service
                  for ext in ("crt", "key")]
        files[service] = paths
    return files


def certificate_rotate(argv: list[str]) -> int:
    """`k3s certificate rotate [-s SERVICE]... [--data-dir DIR]` as pkg/cli/cert's rotate does
    it: it backs up server/tls whole to server/tls-<unix time> (an agent, without one: into
    agent/tls-<unix time>), with the agent's files of the services copied in by their base
    names (a missing one skipped); for k3s-server, writes server/tls/dynamic-cert-regenerate;
    then removes every file of the services (a missing one ignored), logging each service. It
    does not check whether k3s runs (the docs say to stop it first); the next start issues what
    is missing (a server's, signed by its CAs; an agent's, from its server)."""
    flags = certificate_flags(argv, ("service", "data-dir", "debug"))
    if flags is None:
        return 1
    data_dir, services = certificate_services(flags, "rotating")
    files = service_files(data_dir, services)
    stamp = int(time.time())
    tls_dir, agent_dir = f"{data_dir}/server/tls", f"{data_dir}/agent"
    backup = f"{agent_dir}/tls-{stamp}"
    if os.path.isdir(tls_dir):
        backup = f"{data_dir}/server/tls-{stamp}"
        shutil.copytree(tls_dir, backup, symlinks=True)
    for path in (p for paths in files.values() for p in paths if p.startswith(f"{agent_dir}/")):
        if os.path.exists(path):
            os.makedirs(backup, exist_ok=True)
            shutil.copy2(path, f"{backup}/{os.path.basename(path)}")
    if "k3s-server" in services:
        try:
            write_private(f"{tls_dir}/dynamic-cert-regenerate", "")
        except OSError as error:
            fail(str(error))
        log("Rotating dynamic listener certificate")
    for service, paths in files.items():
        log(f"Rotating certificates for {service}")
        for path in paths:
            if os.path.exists(path):
                os.remove(path)
    log(f"Successfully backed up certificates to {backup}, please restart k3s server or agent to rotate certificates")
    return 0


def certificate_check(argv: list[str]) -> int:
    """`k3s certificate check`: every certificate in the files of the node's services (a server:
    agent and server ones; an agent: its own), the leaf and the CA after it in each file. Text
    (logrus's lines, on stderr) in every release that has it (v1.27.13, v1.28.9, v1.29.4,
    v1.30.0 on); `--output text|table|json|yaml` only from the May 2025 releases, whose text
    names each file by its base name and the subject by its CN, where the older text has the
    full path and `CN=...,O=...`."""
    flags = certificate_flags(argv, ("service", "output", "data-dir", "debug") if newer_certificates()
                              else ("service", "data-dir", "debug"))
    if flags is None:
        return 1
    data_dir, services = certificate_services(flags, "checking")
    tls_dir, agent_dir = f"{data_dir}/server/tls", f"{data_dir}/agent"
    files = [(f"{tls_dir}/{name}.crt", f"{tls_dir}/{ca}.crt", extensions, service)
             for name, (ca, _, extensions, service) in {**SERVER_LEAVES, **ETCD_LEAVES}.items()]
    files.append((f"{tls_dir}/serving-kube-apiserver.crt", f"{tls_dir}/server-ca.crt", SERVER, "api-server"))
    files += [(f"{agent_dir}/{name}.crt", f"{tls_dir if os.path.isdir(tls_dir) else agent_dir}/{ca}.crt", extensions, service)
              for name, (ca, _, extensions, service) in AGENT_LEAVES.items()]
    now, warn = time.time(), time.time() + renew_days() * 86400
    listed = []
    for path, ca_path, extensions, service in files:
        if service not in services or not os.path.exists(path):
            continue
        usages = [u for u, word in (("ServerAuth", "serverAuth"), ("ClientAuth", "clientAuth")) if word in extensions]
        for decoded, usage in ((cert_dates(path), usages), (cert_dates(ca_path), ["CertSign"])):
            if not decoded:
                continue
            before, after = (ssl.cert_time_to_seconds(decoded[k]) for k in ("notBefore", "notAfter"))
            status = "NOT YET VALID" if now < before else "EXPIRED" if now > after else \
                "WARNING" if warn > after else "OK"
            names = dict(pair[0] for pair in decoded["subject"])
            listed.append({"path": path, "Subject": names.get("commonName", ""),
                           "subject": ",".join(f"{k}={names[v]}" for k, v in (("CN", "commonName"),
                                                                            ("O", "organizationName")) if v in names),
                           "Issuer": dict(pair[0] for pair in decoded["issuer"]).get("commonName", ""),
                           "Usages": usage, "at": before if status == "NOT YET VALID" else after,
                           "residual": after - now, "Status": status})
    output = (flags.get("output") or ["text"])[0]
    stamp = lambda seconds: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))  # noqa: E731
    if output == "json":
        print(json.dumps({"Certificates": [
            {"Filename": os.path.basename(c["path"]), "Subject": c["Subject"], "Issuer": c["Issuer"],
             "Usages": c["Usages"], "ExpiryTime": stamp(c["at"]), "ResidualTime": int(c["residual"] * 1e9),
             "Status": c["Status"]} for c in listed]}, separators=(",", ":")))
    elif output == "yaml":
        print(yaml.safe_dump({"certificates": [
            {"filename": os.path.basename(c["path"]), "subject": c["Subject"], "issuer": c["Issuer"],
             "usages": c["Usages"], "expirytime": stamp(c["at"]), "residualtime": int(c["residual"] * 1e9),
             "status": c["Status"]} for c in listed]}, sort_keys=False), end="")
    elif output == "table":
        rows = [("FILENAME", "SUBJECT", "USAGES", "EXPIRES", "RESIDUAL TIME", "STATUS"),
                ("--------", "-------", "------", "-------", "-------------", "------")]
        rows += [(os.path.basename(c["path"]), c["Subject"], ",".join(c["Usages"]),
                  time.strftime("%b %d, %Y %H:%M UTC", time.gmtime(c["at"])), relative(c["residual"]), c["Status"])
                 for c in listed]
        widths = [max(len(row[i]) for row in rows) + 3 for i in range(6)]
        print()
        for row in rows:
            print("".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + " ")
    elif output == "text":
        for c in listed:
            who = (f"{os.path.basename(c['path'])}: certificate {c['Subject']} ({','.join(c['Usages'])})"
                   if newer_certificates() else f"{c['path']}: certificate {c['subject']}")
            level, said = {"NOT YET VALID": ("error", f"is not valid before {stamp(c['at'])}"),
                           "EXPIRED": ("error", f"expired at {stamp(c['at'])}"),
                           "WARNING": ("warning", f"will expire within {renew_days()} days at {stamp(c['at'])}")
                           }.get(c["Status"], ("info", f"is ok, expires at {stamp(c['at'])}"))
            print(f'level={level} msg="{who} {said}"', file=sys.stderr, flush=True)
    else:
        fail(f"invalid output format {output}")
    return 0


def relative(seconds: float) -> str:
    """go-humanize's RelTime with no labels, roughly: `1 year`, `10 years`, `20 days`."""
    days = abs(seconds) / 86400
    for size, unit in ((365, "year"), (30, "month"), (7, "week"), (1, "day")):
        if days >= size:
            n = max(1, round(days / size))
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "now"


def host_addresses() -> list[str]:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout
    return out.split()


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def secret_of(token: str) -> str:
    """The secret part of a full (`K10<hash>::<user>:<secret>`) or bare token."""
    if token.startswith("K10") and "::" in token:
        return token.split("::", 1)[1].split(":", 1)[1]
    return token


def fetch_trusted_ca(server: str, token: str) -> bytes:
    """Fetch the server's CA and check it against the hash in a full token, as k3s does."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    while True:  # as k3s does, an unreachable server is retried every 2 s, for ever
        try:
            with urllib.request.urlopen(f"{server}/cacerts", context=context, timeout=10) as response:
                ca_pem = response.read()
            break
        except urllib.error.HTTPError as error:
            fail(f"failed to get CA certs: {server}/cacerts: {error}")
        except OSError as error:
            print(f'level=error msg="failed to get CA certs: Get \\"{server}/cacerts\\": {error}"',
                  file=sys.stderr, flush=True)
            time.sleep(2)
    if token.startswith("K10") and "::" in token:
        expected = token[3:].split("::", 1)[0]
        if ca_hash(ca_pem) != expected:
            fail("token CA hash does not match the Cluster CA certificate hash")
    return ca_pem


# ---------------------------------------------------------------- node registry


class Registry:
    """The nodes a server knows, kept in a JSON file under the data dir."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()

    def load(self) -> dict:
        if not os.path.exists(self.path):
            return {}
        with open(self.path) as f:
            return json.load(f)

    def register(self, node: dict) -> None:
        """Add or refresh a node; as in Kubernetes, a node registering again stays cordoned and
        keeps the labels set through the API (the kubelet reconciles only its own)."""
        with self.lock:
            nodes = self.load()
            old = nodes.get(node["name"], {})
            if old.get("deleting"):  # a node being deleted is not registered again
                return
            node["created"] = old.get("created", node["created"])
            node["unschedulable"] = old.get("unschedulable", False)
            node["api_labels"] = old.get("api_labels", {})
            if "etcd" in old:
                node["etcd"] = old["etcd"]
            nodes[node["name"]] = node
            self._save(nodes)

    def patch(self, name: str, labels: dict, unschedulable: bool | None) -> dict | None:
        """A merge patch of a node's labels (a null value removes one) and spec.unschedulable."""
        with self.lock:
            nodes = self.load()
            if name not in nodes:
                return None
            node = nodes[name]
            node["api_labels"] = {k: v for k, v in {**node.get("api_labels", {}), **labels}.items() if v is not None}
            if unschedulable is not None:
                node["unschedulable"] = unschedulable
            self._save(nodes)
            return node

    def set_etcd_status(self, name: str, status: str, reason: str, message: str) -> None:
        """Set a node's EtcdIsVoter condition, as k3s's setEtcdStatusCondition: its transition
        time changes only with it (the real one also refreshes an unchanged heartbeat every 5 min)."""
        with self.lock:
            nodes = self.load()
            if name not in nodes:
                return
            old = nodes[name].get("etcd") or {}
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            new = {"status": status, "reason": reason, "message": message}
            if {k: old.get(k) for k in new} != new:
                nodes[name]["etcd"] = {**new, "lastHeartbeatTime": now, "lastTransitionTime": now}
                self._save(nodes)

    def delete(self, name: str) -> dict | None:
        """A node's deletion: an agent's node goes at once; a server's etcd node is kept,
        `deleting`, while its finalizer runs (k3s's etcd member controller, `Members`)."""
        with self.lock:
            nodes = self.load()
            node = nodes.get(name)
            if node is None:
                return None
            if node.get("etcd_member"):
                node["deleting"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            else:
                del nodes[name]
            self._save(nodes)
            return node

    def forget(self, name: str) -> None:
        """The node's object gone, its finalizer done."""
        with self.lock:
            nodes = self.load()
            nodes.pop(name, None)
            self._save(nodes)

    def _save(self, nodes: dict) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump(nodes, f)
        os.replace(tmp, self.path)


class Pods:
    """The pods a server knows: this stand-in runs no workloads, so tests plant pod objects in its
    JSON file (under the data dir) to see what a drain evicts."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()

    def on_node(self, node: str | None) -> list[dict]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            pods = json.load(f)
        return [p for p in pods if node is None or p.get("spec", {}).get("nodeName") == node]

    def evict(self, namespace: str, name: str) -> bool:
        with self.lock:
            pods = self.on_node(None)
            kept = [p for p in pods if (p["metadata"]["namespace"], p["metadata"]["name"]) != (namespace, name)]
            with open(self.path, "w") as f:
                json.dump(kept, f)
            return len(kept) < len(pods)


# ---------------------------------------------------------------- embedded etcd's members


# What k3s's etcd member controller (pkg/etcd/member_controller.go) keeps on a server's Node: its
# member's name and address, and (wrangler's OnRemove) a finalizer that removes the member when
# the Node is deleted, before the Node goes.
ETCD_NAME_ANNOTATION = "etcd.k3s.cattle.io/node-name"
ETCD_ADDRESS_ANNOTATION = "etcd.k3s.cattle.io/node-address"
ETCD_FINALIZER = "wrangler.cattle.io/managed-etcd-controller"
FINALIZER_SECONDS = 1.0  # the controller's turn: the Node stays, deleting, this long at least


class Members:
    """etcd's member list, kept by the server that started the cluster (cluster-init, or the
    reset one) in its etcd database (MEMBERS_FILE); every server's /db/info serves it, as
    `MemberList` through any member answers the same."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()

    def load(self) -> list[dict]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return json.load(f)

    def add(self, member: dict) -> None:
        """MemberAdd: a member of the same name and peer URL is not added twice."""
        with self.lock:
            members = [m for m in self.load() if m["name"] != member["name"]]
            self._save(members + [member])

    def remove(self, name: str) -> None:
        """MemberRemove, as k3s's removePeer asks it by the member's name."""
        with self.lock:
            self._save([m for m in self.load() if m["name"] != name])

    def _save(self, members: list[dict]) -> None:
        write_private(self.path, json.dumps(members))


def etcd_member(data_dir: str, address: str) -> tuple[dict, bool]:
    """This server's member, named as k3s names it once and keeps in db/etcd/name (its host
    name and 8 random hex digits), and whether it was a member before this start."""
    name_file = f"{data_dir}/server/db/etcd/name"
    existing = os.path.exists(name_file)
    if not existing:
        write_private(name_file, f"{socket.gethostname().split('.')[0]}-{secrets.token_hex(4)}")
    with open(name_file) as f:
        name = f.read().strip()
    return {"ID": int(hashlib.sha256(name.encode()).hexdigest()[:15], 16), "name": name,
            "peerURLs": [f"https://{address}:2380"], "clientURLs": [f"https://{address}:2379"]}, existing


def server_request(server: str, token: str, path: str, body: dict | None = None):
    """A request to a server's supervisor port as a server (the `server` user of its token),
    as a joining server makes: /db/info, and the stand-in's stand-in for etcd's MemberAdd."""
    context = ssl.create_default_context(cadata=fetch_trusted_ca(server, token).decode())
    context.check_hostname = False
    auth = base64.b64encode(f"server:{secret_of(token)}".encode()).decode()
    request = urllib.request.Request(f"{server}{path}", data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST",
                                     headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.load(response)


def join_etcd(server: str, token: str, member: dict, existing: bool, local: str) -> None:
    """k3s's etcd join: the members and the cluster ID from the server's /db/info. A database of
    another cluster (`local`: this server's server/ dir; the cluster was reset since, from a
    snapshot or not) is refused as etcd's peers refuse it, until the database is removed; a new
    server adds itself (MemberAddAsLearner, promoted at once here); one that was a member and is
    no longer in the list fails as k3s's etcd Test does."""
    info = server_request(server, token, "/db/info")
    cluster, mine = info["header"]["cluster_id"], etcd_cluster(local)
    if mine and mine != cluster:
        fail("starting kubernetes: preparing server: start managed database: etcd: request cluster ID "
             f"mismatch (local member of cluster {mine}, remote {cluster})")
    names = [m["name"] for m in info["members"]]
    if member["name"] in names:
        return
    if existing:
        fail(f"this server is a not a member of the etcd cluster. Found {names}, expect: "
             f"{member['name']}={member['peerURLs'][0]}")
    log(f"Adding {member['peerURLs'][0]} to etcd cluster {names}")
    server_request(server, token, "/v1-k3s/standin-etcd-member-add", member)
    set_etcd_cluster(local, cluster)


def stop_when_removed(server: str, token: str, name: str) -> None:
    """A removed member's etcd stops itself ("the member has been permanently removed from the
    cluster"), and k3s exits with it. Its peers tell it at once; the stand-in asks every second."""
    while True:
        time.sleep(1)
        try:
            names = [m["name"] for m in server_request(server, token, "/db/info")["members"]]
        except (OSError, ValueError, SystemExit):
            continue
        if name not in names:
            print('level=fatal msg="etcd stopped: the member has been permanently removed from the cluster"',
                  file=sys.stderr, flush=True)
            os._exit(1)


def node_record(config: dict, roles: list[str]) -> dict:
    labels = {}
    for item in as_list(config.get("node-label")):
        key, _, value = str(item).partition("=")
        labels[key] = value
    name = config.get("node-name") or socket.gethostname()
    return {
        "name": name,
        "uid": hashlib.md5(name.encode()).hexdigest(),
        "roles": roles,
        "labels": labels,
        "taints": [str(t) for t in as_list(config.get("node-taint"))],
        "address": (as_list(config.get("node-ip")) or host_addresses() or ["127.0.0.1"])[0],
        "version": VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **reported_images(containerd_root(config)),
        "no_registry": os.path.exists(NO_REGISTRY),
    }


def containerd_root(config: dict) -> str:
    """containerd's root in the data dir, where the stand-in keeps a node's image store."""
    return f"{config.get('data-dir', '/var/lib/rancher/k3s')}/agent/containerd"


def reported_images(root: str) -> dict:
    """What the kubelet knows of the node's images, from the CRI (containerd's k8s.io
    namespace): `images`, every name (tags and repo@digest) for its pull decisions, and
    `image_entries`, one per image, for the Node's `status.images`."""
    store = containerd.ImageStore(root).images("k8s.io")
    entries = containerd.cri_images(store)
    return {"images": [n for e in entries for n in e["names"]], "image_entries": entries}


def start_containerd(config: dict) -> None:
    """What k3s's containerd does at start for the stand-in: listen on its socket (for `k3s
    ctr`), and import the archives of the images directory into k8s.io."""
    root = containerd_root(config)
    containerd.serve_socket(containerd.DEFAULT_ADDRESS, root)
    images = import_images(f"{config.get('data-dir', '/var/lib/rancher/k3s')}/agent/images")
    if images:
        containerd.ImageStore(root).add("k8s.io", images)


def report_images(config: dict, node: dict, send) -> None:
    """The kubelet's node status updates, as far as images go: every second (the real kubelet's
    nodeStatusUpdateFrequency is 10 s), a node whose images changed (`k3s ctr images import`)
    reports them with `send(node)`; a failed report is tried again."""
    root, last = containerd_root(config), node.get("images")
    while True:
        time.sleep(1)
        current = reported_images(root)
        if current["images"] == last:
            continue
        try:
            send({**node, **current})
            last = current["images"]
        except (SystemExit, Exception) as error:  # noqa: BLE001 - keep reporting
            print(f'level=error msg="failed to update node status: {error}"', file=sys.stderr, flush=True)


def import_images(directory: str) -> list[dict]:
    """What k3s's containerd imports at start from the images directory, as its importer
    reads an OCI Image Layout tar: every blob checked against its digest, every manifest that
    index.json names present, each image named by its `io.containerd.image.name`. A file that
    fails is logged and skipped, as k3s does. The release's own archive
    (k3s-airgap-images-ARCH.tar.zst, a token file from the test mirror) is not read: it gives
    the system images k3s's packaged components run (SYSTEM_IMAGES). The images, as
    tests/standin/api/containerd.py records them."""
    images = []
    if glob.glob(f"{directory}/k3s-airgap-images-*"):
        for image in SYSTEM_IMAGES:
            digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
            images.append({"name": api.normalized(image), "target": digest, "mediaType": containerd.OCI_INDEX,
                           "config": digest, "size": 0, "platforms": ["linux/amd64"]})
    for path in sorted(glob.glob(f"{directory}/*.tar")):
        try:
            with tarfile.open(path) as archive:
                blobs = {}
                for member in archive.getmembers():
                    if member.isfile() and member.name.startswith("blobs/sha256/"):
                        data = archive.extractfile(member).read()
                        if hashlib.sha256(data).hexdigest() != member.name.rsplit("/", 1)[1]:
                            raise ValueError(f"{member.name}: unexpected commit digest")
                        blobs[member.name] = data
                index = json.loads(archive.extractfile("index.json").read())
            imported = []
            for entry in index["manifests"]:
                manifest = json.loads(blobs["blobs/" + entry["digest"].replace(":", "/")])
                for child in [manifest["config"], *manifest.get("layers", [])]:
                    if "blobs/" + child["digest"].replace(":", "/") not in blobs:
                        raise ValueError(f"content digest {child['digest']}: not found")
                imported.append(entry["annotations"]["io.containerd.image.name"])
            with open(path, "rb") as f:
                records = [r for r in containerd.import_archive(f) if r["name"] in imported]
        except (OSError, KeyError, ValueError, tarfile.TarError, containerd.CtrError) as error:
            print(f'level=error msg="Error encountered while importing {path}: {error}"', file=sys.stderr, flush=True)
            continue
        for name in imported:
            log(f"Imported {name}")
        images += records
    return images


def node_object(node: dict) -> dict:
    labels = {
        "kubernetes.io/hostname": node["name"],
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "k3s",
    }
    for role in node["roles"]:
        labels[f"node-role.kubernetes.io/{role}"] = "true"
    labels.update(node["labels"])
    labels.update(node.get("api_labels") or {})
    taints = []
    for taint in node["taints"] + (["node.kubernetes.io/unschedulable:NoSchedule"] if node.get("unschedulable") else []):
        key_value, _, effect = taint.partition(":")
        key, _, value = key_value.partition("=")
        taints.append({"key": key, "value": value, "effect": effect})
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": node["name"], "uid": node["uid"],
                     "creationTimestamp": node["created"], "labels": labels,
                     **({"annotations": {ETCD_NAME_ANNOTATION: node["etcd_member"],
                                         ETCD_ADDRESS_ANNOTATION: node["address"]},
                         "finalizers": [ETCD_FINALIZER]} if node.get("etcd_member") else {}),
                     **({"deletionTimestamp": node["deleting"]} if node.get("deleting") else {})},
        "spec": {**({"taints": taints} if taints else {}),
                 **({"unschedulable": True} if node.get("unschedulable") else {})},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": now, "lastTransitionTime": node["created"]}]
            + ([{"type": "EtcdIsVoter", **node["etcd"]}] if node.get("etcd") else []),
            # the kubelet reports at most nodeStatusMaxImages (50), largest first
            "images": containerd.node_images(node["image_entries"]) if "image_entries" in node
            else [{"names": [name], "sizeBytes": 0} for name in node.get("images", [])],
            "addresses": [{"type": "InternalIP", "address": node["address"]},
                          {"type": "Hostname", "address": node["name"]}],
            "nodeInfo": {"kubeletVersion": node["version"], "kubeProxyVersion": node["version"],
                         "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": os.uname().release,
                         "machineID": node["uid"], "systemUUID": node["uid"], "bootID": node["uid"]},
        },
    }


def node_table(nodes: list[dict]) -> dict:
    """The server-side Table kubectl asks for with `kubectl get nodes`."""
    rows = []
    for node in nodes:
        roles = ",".join(sorted(r for r in node["roles"])) or "<none>"
        rows.append({"cells": [node["name"], "Ready", roles, "1m", node["version"]],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                "metadata": {"name": node["name"]}}})
    columns = [{"name": n, "type": "string", "format": "name" if n == "Name" else "",
                "description": n, "priority": 0}
               for n in ("Name", "Status", "Roles", "Age", "Version")]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": columns, "rows": rows}


# ---------------------------------------------------------------- the HTTPS API


def not_found(path: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
            "code": 404, "message": f"{path} not found"}


class Api(BaseHTTPRequestHandler):
    server_version = "k3s-standin"
    registry: Registry
    pods: Pods
    store: api.Store
    ca_pem: bytes
    secret: str
    tls_dir: str
    etcd: bool
    members: Members | None  # the cluster's member list, on the server that started it
    join: tuple[str, str] | None  # a joined server's server and token: its /db/info is theirs

    def log_message(self, format, *args):  # noqa: A002 - keep the journal quiet
        pass

    def reply(self, code: int, body, content_type: str = "application/json", warnings=()) -> None:
        """Answer; each warning as the API gives it, a `Warning: 299 - "..."` header (RFC 7234)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for warning in warnings:
            self.send_header("Warning", "299 - " + json.dumps(warning))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authenticated(self) -> bool:
        return bool(self.connection.getpeercert())

    def node_authenticated(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user in ("node", "server") and secrets.compare_digest(password, self.secret)

    def server_authenticated(self) -> bool:
        """As a server (k3s's `k3s:server` role): what /db/info and the server bootstrap ask."""
        return self.node_authenticated() and base64.b64decode(
            self.headers["Authorization"][6:]).decode().startswith("server:")

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/cacerts":
            return self.reply(200, self.ca_pem, "text/plain")
        if path == "/ping":
            return self.reply(200, b"pong", "text/plain")
        if path in ("/readyz", "/livez", "/healthz"):
            return self.reply(200, b"ok", "text/plain")
        if path == "/v1-k3s/server-bootstrap":
            return self.server_bootstrap()
        if path == "/db/info":
            return self.db_info()
        if path.startswith("/v1-k3s/") and path.endswith(".crt"):
            return self.agent_file(path[len("/v1-k3s/"):-len(".crt")])
        if path == "/version":
            minor = VERSION.lstrip("v").split(".")[1]
            return self.reply(200, {"major": "1", "minor": minor, "gitVersion": VERSION,
                                    "gitCommit": COMMIT, "platform": "linux/amd64"})
        if not self.authenticated():
            return self.reply(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "reason": "Unauthorized", "code": 401, "message": "Unauthorized"})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": [
                                        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
        nodes = sorted(self.registry.load().values(), key=lambda n: n["name"])
        if path == "/api/v1/nodes":
            if "as=Table" in self.headers.get("Accept", ""):
                return self.reply(200, node_table(nodes))
            return self.reply(200, {"kind": "NodeList", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": "1"},
                                    "items": [node_object(n) for n in nodes]})
        if path.startswith("/api/v1/nodes/"):
            name = path.rsplit("/", 1)[1]
            for node in nodes:
                if node["name"] == name:
                    return self.reply(200, node_object(node))
            return self.reply(404, not_found(path))
        if path == "/api/v1/pods":
            query = urllib.parse.parse_qs(self.path.partition("?")[2])
            selector = (query.get("fieldSelector") or [""])[0]
            node = selector.removeprefix("spec.nodeName=") if selector.startswith("spec.nodeName=") else None
            return self.reply(200, {"kind": "PodList", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": "1"}, "items": self.pods.on_node(node)})
        return self.objects_api()

    def objects_api(self) -> None:
        """The Kubernetes API's objects and discovery (tests/standin/api), else 404."""
        if not self.authenticated():
            return self.reply(401, {"message": "Unauthorized"})
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        helmrelease.install_succeeded(self.store)  # what helm installed is there as its Job succeeds
        answer = api.handle(self.store, self.command, path, urllib.parse.parse_qs(query), self.headers, body)
        if answer is None:
            return self.reply(404, not_found(path))
        code, reply, warnings = answer
        if isinstance(reply, str):  # a pod's log
            return self.reply(code, reply.encode(), "text/plain")
        if isinstance(reply, bytes):
            return self.reply(code, reply, api.OPENAPI_V2_TYPE)
        if isinstance(reply, list):  # a watch's events, one JSON object a line
            return self.reply(code, "".join(json.dumps(event) + "\n" for event in reply).encode())
        return self.reply(code, reply, warnings=warnings)

    do_PUT = objects_api

    def do_DELETE(self) -> None:  # noqa: N802 - http.server's naming
        """A node's deletion, as the API server does it: an object with finalizers stays, its
        deletionTimestamp set, until they are done; a server's (k3s's etcd member controller's
        finalizer) once its etcd member is removed. Other objects are the object store's."""
        path = self.path.split("?", 1)[0]
        if not path.startswith("/api/v1/nodes/"):
            return self.objects_api()
        if not self.authenticated():
            return self.reply(401, {"message": "Unauthorized"})
        self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        name = path.rsplit("/", 1)[1]
        node = self.registry.delete(name)
        if node is None:
            return self.reply(404, not_found(path))
        log(f"node {name} deleted")
        if node.get("etcd_member") and self.members is not None:
            threading.Thread(target=self.remove_member, args=(node,), daemon=True).start()
        return self.reply(200, node_object(node))

    def remove_member(self, node: dict) -> None:
        """The finalizer's work: the node's etcd member removed, then the node gone."""
        time.sleep(FINALIZER_SECONDS)
        log(f"Removing etcd member {node['name']} from cluster")
        self.members.remove(node["etcd_member"])
        self.registry.forget(node["name"])

    def db_info(self) -> None:
        """etcd's members (`{"members": [...]}`), for a server only, as k3s's supervisor serves them."""
        if not self.server_authenticated():
            return self.reply(401, {"message": "Unauthorized"})
        if self.members is not None:  # etcd's MemberListResponse: its header names the cluster
            return self.reply(200, {"header": {"cluster_id": etcd_cluster(os.path.dirname(self.tls_dir))},
                                    "members": self.members.load()})
        if self.join is None:
            return self.reply(404, not_found("/db/info"))  # no embedded etcd: no route
        return self.reply(200, server_request(*self.join, "/db/info"))

    def do_PATCH(self) -> None:  # noqa: N802 - http.server's naming
        """A node's merge or strategic merge patch: its labels, and spec.unschedulable (cordon and
        uncordon, logged to the journal); each only where the patch gives it, as the API server
        merges. Other objects' patches (server-side apply among them) are the object store's."""
        path = self.path.split("?", 1)[0]
        if not path.startswith("/api/v1/nodes/"):
            return self.objects_api()
        if not self.authenticated():
            return self.reply(401, {"message": "Unauthorized"})
        patch = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        name = path.rsplit("/", 1)[1]
        spec = patch.get("spec") or {}
        value = bool(spec["unschedulable"]) if "unschedulable" in spec else None  # null: removed, schedulable
        node = self.registry.patch(name, (patch.get("metadata") or {}).get("labels") or {}, value)
        if node is None:
            return self.reply(404, not_found(path))
        if value is not None:
            log(f"node {name} {'cordoned' if value else 'uncordoned'}")
        return self.reply(200, node_object(node))

    def server_bootstrap(self) -> None:
        """The cluster CA for a joining server: with the token, and only with embedded etcd."""
        if not self.node_authenticated():
            return self.reply(401, {"message": "Unauthorized"})
        if not self.etcd:
            return self.reply(503, {"message": "this server does not run embedded etcd: "
                                               "start the first server with cluster-init"})
        files = {}
        for name in CLUSTER_CA_FILES:
            with open(f"{self.tls_dir}/{name}") as f:
                files[name] = f.read()
        return self.reply(200, files)

    def agent_file(self, name: str) -> None:
        """An agent's certificate, for the token (pkg/server/router.go): the CAs, and the
        server's own client-kube-proxy and client-k3s-controller (certificate and key: every
        agent presents the same, renewed where the server renewed it); a kubelet's client and
        serving certificates signed for the node the request names (K3s-Node-Name), fresh at
        every request, valid as this server issues its own (its CATTLE_NEW_SIGNED_CERT_EXPIRATION_DAYS)."""
        if not self.node_authenticated():
            return self.reply(401, {"message": "Unauthorized"})
        if name in ("server-ca", "client-ca"):
            with open(f"{self.tls_dir}/{name}.crt", "rb") as f:
                return self.reply(200, f.read(), "text/plain")
        if name in ("client-kube-proxy", "client-k3s-controller"):
            with open(f"{self.tls_dir}/{name}.crt", "rb") as crt, open(f"{self.tls_dir}/{name}.key", "rb") as key:
                return self.reply(200, crt.read() + key.read(), "text/plain")
        node = self.headers.get("K3s-Node-Name", "")
        if name not in ("client-kubelet", "serving-kubelet") or not node:
            return self.reply(404, not_found(self.path))
        ca, subject, extensions, _ = AGENT_LEAVES[name]
        with tempfile.TemporaryDirectory() as work:
            for ext in ("crt", "key"):
                shutil.copy(f"{self.tls_dir}/{ca}.{ext}", f"{work}/{ca}.{ext}")
            sign(work, ca, name, subject.format(node=node), extensions)
            with open(f"{work}/{name}.crt", "rb") as crt, open(f"{work}/{name}.key", "rb") as key:
                return self.reply(200, crt.read() + key.read(), "text/plain")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        # /api/v1/namespaces/NS/pods/NAME/eviction
        if len(parts) == 7 and parts[:3] == ["api", "v1", "namespaces"] and parts[4::2] == ["pods", "eviction"]:
            if not self.authenticated():
                return self.reply(401, {"message": "Unauthorized"})
            if not self.pods.evict(parts[3], parts[5]):
                return self.reply(404, not_found(self.path))
            log(f"pod {parts[3]}/{parts[5]} evicted")
            return self.reply(201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201})
        if self.path == "/v1-k3s/standin-etcd-member-add":  # etcd's MemberAdd, through any member
            if not self.server_authenticated() or (self.members is None and self.join is None):
                return self.reply(401, {"message": "Unauthorized"})
            member = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if self.members is None:
                return self.reply(200, server_request(*self.join, self.path, member))
            self.members.add(member)
            return self.reply(200, {"added": True})
        if self.path != "/v1-k3s/register":
            return self.objects_api()
        if not self.node_authenticated():
            return self.reply(401, {"message": "Unauthorized"})
        length = int(self.headers.get("Content-Length", "0"))
        self.registry.register(json.loads(self.rfile.read(length)))
        return self.reply(200, {"registered": True})


CLUSTER_CA_FILES = ("server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key", "request-header-ca.crt",
                    "request-header-ca.key", "etcd/server-ca.crt", "etcd/server-ca.key", "etcd/peer-ca.crt",
                    "etcd/peer-ca.key")


def take_cluster_ca(server: str, token: str, tls_dir: str) -> None:
    """Fetch the cluster's CA from a server with embedded etcd, as a joining server does."""
    context = ssl.create_default_context(cadata=fetch_trusted_ca(server, token).decode())
    context.check_hostname = False
    auth = base64.b64encode(f"server:{secret_of(token)}".encode()).decode()
    request = urllib.request.Request(f"{server}/v1-k3s/server-bootstrap",
                                     headers={"Authorization": f"Basic {auth}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            files = json.load(response)
    except urllib.error.HTTPError as error:
        fail(f"failed to get the cluster's bootstrap data from {server}: {error.code} "
             f"{error.read().decode(errors='replace')}")
    except OSError as error:
        fail(f"failed to get the cluster's bootstrap data from {server}: {error}")
    for name in CLUSTER_CA_FILES:
        write_private(f"{tls_dir}/{name}", files[name])


def serve(config: dict, tls_dir: str, registry: Registry, ca_pem: bytes, secret: str, etcd: bool,
          members: Members | None, join: tuple[str, str] | None) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{tls_dir}/serving-kube-apiserver.crt", f"{tls_dir}/serving-kube-apiserver.key")
    context.load_verify_locations(f"{tls_dir}/client-ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL
    pods = Pods(os.path.join(os.path.dirname(registry.path), "standin-pods.json"))
    store = api.Store(os.path.join(os.path.dirname(registry.path), "standin-objects.json"),
                          (host_addresses() or ["127.0.0.1"])[0],
                          lambda: [{"labels": node_object(n)["metadata"]["labels"], "images": n.get("images", []),
                                    "no_registry": n.get("no_registry", False)} for n in registry.load().values()])
    handler = type("BoundApi", (Api,), {"registry": registry, "pods": pods, "store": store, "ca_pem": ca_pem,
                                        "secret": secret, "tls_dir": tls_dir, "etcd": etcd, "members": members,
                                        "join": join})
    address = (str(config.get("bind-address", "0.0.0.0")), int(config.get("https-listen-port", 6443)))
    httpd = ThreadingHTTPServer(address, handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    manifests = os.path.join(os.path.dirname(registry.path), "manifests")
    threading.Thread(target=deploy_manifests, args=(store, manifests), daemon=True).start()


# k3s's manageTickerTime: how often the etcd leader checks each member (pkg/etcd/etcd.go).
ETCD_TICK = float(os.environ.get("HARMONY_STANDIN_ETCD_TICK", "15"))


def manage_members(registry: Registry, self_name: str) -> None:
    """k3s's manageLearners, on the server that started the cluster (the real one runs it on the
    etcd leader, wherever it is): every tick, each node with the etcd role gets its EtcdIsVoter
    condition from its member's health. The real leader asks each member's etcd (2379) for its
    status with a 2 s timeout; this stand-in runs no etcd, and asks the member's supervisor
    (6443), which answers while its k3s runs."""
    while True:
        time.sleep(ETCD_TICK)
        for node in list(registry.load().values()):
            if "etcd" not in node["roles"]:
                continue
            try:
                if node["name"] != self_name:
                    socket.create_connection((node["address"], 6443), timeout=2).close()
            except OSError as error:
                registry.set_etcd_status(node["name"], "False", "Unhealthy", "failed to check etcd member "
                                         f"status: {error}")
            else:
                registry.set_etcd_status(node["name"], "True", "MemberNotLearner",
                                         "Node is a voting member of the etcd cluster")


def deploy_manifests(store: api.Store, directory: str) -> None:
    """k3s's deploy controller, on the server's manifests directory (tests/standin/api/manifests.py)."""
    seen: dict[str, float] = {}
    while True:
        api.deploy_manifests(store, directory, seen)
        time.sleep(2)


# ---------------------------------------------------------------- embedded etcd: snapshots, reset

# What the stand-in's datastore is: the files under server/ that its API and node registry keep
# (the real k3s keeps them in etcd, under server/db/etcd). A snapshot holds them, with the
# cluster's CA files (k3s's bootstrap data, which it encrypts with the token: a restore needs the
# token the snapshot was taken with) and a hash of that token.
DATASTORE_FILES = ("standin-nodes.json", "standin-objects.json", "standin-pods.json")
# Under server/: the etcd cluster this server's database belongs to (etcd keeps its cluster ID in
# db/etcd/member), and, on the server that keeps the member list (`Members`), that list.
MEMBER_FILE = "db/etcd/standin-member.json"
MEMBERS_FILE = "db/etcd/standin-members.json"


def server_dir(config: dict) -> str:
    return f"{config.get('data-dir', '/var/lib/rancher/k3s')}/server"


def snapshot_dir(config: dict) -> str:
    return str(config.get("etcd-snapshot-dir") or f"{server_dir(config)}/db/snapshots")


def etcd_cluster(server: str) -> str | None:
    """The etcd cluster this server's member belongs to, None without an etcd database."""
    path = f"{server}/{MEMBER_FILE}"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["cluster"]


def set_etcd_cluster(server: str, cluster: str) -> None:
    """Record the etcd cluster this server's database belongs to (a new one: a random ID)."""
    write_private(f"{server}/{MEMBER_FILE}", json.dumps({"cluster": cluster}))


def etcd_snapshot(argv: list[str]) -> int:
    """`k3s etcd-snapshot save|ls|delete|prune` (bare: save), on this server's embedded etcd, with
    config.yaml's settings under the command's flags. `save` needs the server running (the
    releases of 2024 on ask it over its API); it writes `NAME-NODE-UNIXTIME` (0600) in the
    snapshot directory and says `Snapshot NAME-NODE-UNIXTIME saved.` on stderr."""
    command = argv[0] if argv and not argv[0].startswith("-") else "save"
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    flags, names = split_arguments(rest)
    config = load_config(flags, own=("name", "snapshot-retention"))
    server, directory = server_dir(config), snapshot_dir(config)
    if command in ("ls", "list", "l"):
        print(f"{'Name':<48} {'Location':<100} {'Size':<10} Created")
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            path = f"{directory}/{name}"
            created = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
            print(f"{name:<48} {'file://' + path:<100} {os.path.getsize(path):<10} "
                  f"{created.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        return 0
    if command == "delete":
        for name in names:
            if not os.path.exists(f"{directory}/{name}"):
                fail(f"snapshot {name} not found")
            os.remove(f"{directory}/{name}")
            log(f"Snapshot {name} deleted.")
        return 0
    if command == "prune":
        prefix = f"{config.get('name', 'on-demand')}-"
        keep = int(config.get("snapshot-retention") or config.get("etcd-snapshot-retention") or 5)
        found = sorted((os.path.getmtime(f"{directory}/{n}"), n) for n in os.listdir(directory) if n.startswith(prefix)) \
            if os.path.isdir(directory) else []
        for _, name in found[:max(len(found) - keep, 0)]:
            os.remove(f"{directory}/{name}")
            log(f"Removing local snapshot {directory}/{name}")
        return 0
    if command != "save" or names:
        fail(f"stand-in k3s does not implement 'etcd-snapshot {command} {' '.join(names)}'")
    if etcd_cluster(server) is None:
        fail(f"etcd database not found in {server}")
    port = int(config.get("https-listen-port", 6443))
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError as error:
        fail(f'Post "https://127.0.0.1:{port}/db/snapshot": dial tcp 127.0.0.1:{port}: connect: {str(error.strerror).lower()}')
    name = f"{config.get('name', 'on-demand')}-{config.get('node-name') or socket.gethostname()}-{int(time.time())}"
    snapshot = {"format": "stand-in etcd snapshot", "cluster": etcd_cluster(server),
                "token": hashlib.sha256(secret_of(open(f"{server}/token").read().strip()).encode()).hexdigest(),
                "datastore": {}, "bootstrap": {}}
    for file in DATASTORE_FILES:
        if os.path.exists(f"{server}/{file}"):
            with open(f"{server}/{file}") as f:
                snapshot["datastore"][file] = f.read()
    for file in CLUSTER_CA_FILES:
        with open(f"{server}/tls/{file}") as f:
            snapshot["bootstrap"][file] = f.read()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    write_private(f"{directory}/{name}", json.dumps(snapshot))
    log(f"Snapshot {name} saved.")
    return 0


def split_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """A subcommand's flags, and the arguments after them (urfave/cli reads flags first)."""
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        i += 1 if "=" in argv[i] or i + 1 == len(argv) or argv[i + 1].startswith("--") else 2
    return argv[:i], argv[i:]


def cluster_reset(config: dict) -> None:
    """`k3s server --cluster-reset [--cluster-reset-restore-path FILE]`, k3s stopped: the member
    made the only one of a new etcd cluster, its datastore (and with FILE, the cluster's CA from
    it, the old tls/ kept as tls-UNIXTIME) restored from the snapshot, the old database kept as
    db/etcd-old-UNIXTIME; then it says so and exits 0, as k3s does. The token in use (config.yaml's,
    else the one on disk) must be the one the snapshot was taken with. A second reset is refused
    while db/reset-flag (removed by the next normal start) says one was done."""
    server = server_dir(config)
    flag = f"{server}/db/reset-flag"
    if os.path.exists(flag):
        fail("cluster-reset was successfully performed, please remove the cluster-reset flag and start k3s "
             "normally, if you need to perform another cluster reset, you must first manually delete the "
             f"{flag} file")
    restore = config.get("cluster-reset-restore-path")
    snapshot = None
    if restore:
        if not os.path.exists(str(restore)):
            fail(f"starting kubernetes: preparing server: start managed database: etcd: snapshot path does not "
                 f"exist: {restore}")
        with open(str(restore)) as f:
            snapshot = json.load(f)
        token = str(config.get("token") or (open(f"{server}/token").read().strip()
                                            if os.path.exists(f"{server}/token") else ""))
        if not token or hashlib.sha256(secret_of(token).encode()).hexdigest() != snapshot["token"]:
            fail("starting kubernetes: preparing server: bootstrap data already found and encrypted with "
                 "different token")
    stamp = int(time.time())
    if os.path.isdir(f"{server}/db/etcd"):
        os.rename(f"{server}/db/etcd", f"{server}/db/etcd-old-{stamp}")
    set_etcd_cluster(server, secrets.token_hex(8))  # its member joins it, alone, at the next start
    if snapshot:
        for file in DATASTORE_FILES:
            if file in snapshot["datastore"]:
                write_private(f"{server}/{file}", snapshot["datastore"][file], 0o644)
            elif os.path.exists(f"{server}/{file}"):
                os.remove(f"{server}/{file}")
        if os.path.isdir(f"{server}/tls"):
            log(f"Cluster reset: backing up certificates directory to {server}/tls-{stamp}")
            os.rename(f"{server}/tls", f"{server}/tls-{stamp}")
        for file, text in snapshot["bootstrap"].items():
            write_private(f"{server}/tls/{file}", text)
        with open(f"{server}/tls/server-ca.crt", "rb") as f:
            full = f"K10{ca_hash(f.read())}::server:{secret_of(token)}\n"
        for name in ("token", "node-token", "agent-token"):
            write_private(f"{server}/{name}", full)
    write_private(flag, "")
    log("Managed etcd cluster membership has been reset, restart without --cluster-reset flag now. Backup and "
        "delete ${datadir}/server/db on each peer etcd server and rejoin the nodes")
    sys.exit(0)


# ---------------------------------------------------------------- systemd and the main loop


def notify_ready() -> None:
    """READY=1 to systemd, after HARMONY_STANDIN_START_SECONDS (default 0): the real k3s takes
    10 to 30 s to start; the suite keeps its starts quick, and the tests of what a slow start
    changes set it (in /etc/default/k3s, which the unit reads)."""
    time.sleep(float(os.environ.get("HARMONY_STANDIN_START_SECONDS", "0")))
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(b"READY=1")


def register_with(server: str, token: str, node: dict) -> None:
    """Present the token to a server and register this node there."""
    context = ssl.create_default_context(cadata=fetch_trusted_ca(server, token).decode())
    context.check_hostname = False
    auth = base64.b64encode(f"node:{secret_of(token)}".encode()).decode()
    request = urllib.request.Request(
        f"{server}/v1-k3s/register", data=json.dumps(node).encode(), method="POST",
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, context=context, timeout=10).read()
    except urllib.error.HTTPError as error:
        if error.code == 401:
            fail(f"failed to register with {server}: token is not valid (401 Unauthorized)")
        fail(f"failed to register with {server}: {error}")
    except OSError as error:
        fail(f"failed to register with {server}: {error}")


def take_agent_certificates(server: str, token: str, node: str, agent_dir: str) -> None:
    """An agent's certificates, taken from its server at every start as k3s's agent does
    (pkg/agent/config: getHostFile, getNodeNamedHostFile, getServingCert): the CAs, then each
    leaf's certificate and key, split and written 0600 under agent/. So a restart renews the
    kubelet's (signed anew), and kube-proxy's and k3s-controller's as far as the server renewed its own."""
    context = ssl.create_default_context(cadata=fetch_trusted_ca(server, token).decode())
    context.check_hostname = False
    auth = base64.b64encode(f"node:{secret_of(token)}".encode()).decode()
    for name in ("client-ca", "server-ca", *AGENT_LEAVES):
        request = urllib.request.Request(f"{server}/v1-k3s/{name}.crt",
                                         headers={"Authorization": f"Basic {auth}", "K3s-Node-Name": node})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                pem = response.read().decode()
        except (urllib.error.HTTPError, OSError) as error:
            fail(f"failed to get {name}.crt from {server}: {error}")
        marker = "-----BEGIN PRIVATE KEY-----" if "-----BEGIN PRIVATE KEY-----" in pem else "-----BEGIN EC PRIVATE KEY-----"
        certificate, _, key = pem.partition(marker)
        write_private(f"{agent_dir}/{name}.crt", certificate)
        if key:
            write_private(f"{agent_dir}/{name}.key", marker + key)


def write_private(path: str, text: str, mode: int = 0o600) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def kubeconfig(tls_dir: str, port: int) -> str:
    def b64(name: str) -> str:
        with open(f"{tls_dir}/{name}", "rb") as f:
            return base64.b64encode(f.read()).decode()

    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "default",
        "clusters": [{"name": "default", "cluster": {
            "certificate-authority-data": b64("server-ca.crt"), "server": f"https://127.0.0.1:{port}"}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
        "users": [{"name": "default", "user": {
            "client-certificate-data": b64("client-admin.crt"), "client-key-data": b64("client-admin.key")}}],
    })


def server(config: dict) -> None:
    data_dir = config.get("data-dir", "/var/lib/rancher/k3s")
    tls_dir = f"{data_dir}/server/tls"
    os.makedirs(tls_dir, exist_ok=True)
    os.chmod(f"{data_dir}/server", 0o700)
    if config.get("cluster-reset"):
        cluster_reset(config)
    if os.path.exists(f"{data_dir}/server/db/reset-flag"):
        os.remove(f"{data_dir}/server/db/reset-flag")
    token = str(config.get("token", ""))
    join = config.get("server")
    if join:
        if not token:
            fail("--token is required when joining a server")
        if not os.path.exists(f"{tls_dir}/server-ca.crt"):
            take_cluster_ca(join, token, tls_dir)
    # As with k3s, a server whose etcd database exists runs etcd, cluster-init or not.
    etcd = bool(config.get("cluster-init") or join or etcd_cluster(f"{data_dir}/server") is not None)
    # `certificate rotate`'s trigger for the supervisor's certificate (k3s: dynamiclistener's, on
    # 6443; the stand-in's is serving-kube-apiserver): consumed, and the certificate issued again.
    regenerate, served = f"{tls_dir}/dynamic-cert-regenerate", f"{tls_dir}/serving-kube-apiserver.crt"
    if os.path.exists(regenerate):
        os.remove(regenerate)
        if os.path.exists(served):
            os.remove(served)
    sans = ["DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default", f"DNS:{socket.gethostname()}",
            "IP:127.0.0.1", "IP:::1"]
    for name in as_list(config.get("tls-san")) + host_addresses():
        sans.append(f"IP:{name}" if name.replace(".", "").isdigit() or ":" in name else f"DNS:{name}")
    server_certificates(tls_dir, f"{data_dir}/agent", sans, etcd,
                        str(config.get("node-name") or socket.gethostname()))
    with open(f"{tls_dir}/server-ca.crt", "rb") as f:
        ca_pem = f.read()

    token_file = f"{data_dir}/server/token"
    stored = open(token_file).read().strip() if os.path.exists(token_file) else ""
    secret = secret_of(token) if token else (secret_of(stored) if stored else secrets.token_hex(16))
    if stored and secret_of(stored) != secret:
        fail("bootstrap data already found and encrypted with different token")
    full = f"K10{ca_hash(ca_pem)}::server:{secret}"
    for name in ("token", "node-token", "agent-token"):
        write_private(f"{data_dir}/server/{name}", full + "\n")

    port = int(config.get("https-listen-port", 6443))
    mode = int(str(config.get("write-kubeconfig-mode", "600")), 8)
    write_private(config.get("write-kubeconfig", KUBECONFIG_FILE), kubeconfig(tls_dir, port), mode)

    roles = ["control-plane", "master"] + (["etcd"] if etcd else [])
    registry = Registry(f"{data_dir}/server/standin-nodes.json")
    start_containerd(config)
    node = node_record(config, roles)
    members = None
    if etcd:
        member, existing = etcd_member(data_dir, node["address"])
        node["etcd_member"] = member["name"]
        if join:
            join_etcd(join, token, member, existing, f"{data_dir}/server")
            threading.Thread(target=stop_when_removed, args=(join, token, member["name"]), daemon=True).start()
        else:  # the cluster-init server, or the reset one: a new cluster's first member
            if etcd_cluster(f"{data_dir}/server") is None:
                set_etcd_cluster(f"{data_dir}/server", secrets.token_hex(8))
            members = Members(f"{data_dir}/server/{MEMBERS_FILE}")
            if not existing:
                members.add(member)
            elif member["name"] not in [m["name"] for m in members.load()]:
                fail(f"this server is a not a member of the etcd cluster: expect {member['name']}")
    if join:
        register_with(join, token, node)
    registry.register(dict(node))
    serve(config, tls_dir, registry, ca_pem, secret, etcd, members, (join, token) if join else None)

    def send(update: dict) -> None:  # to this server's registry, and a joined server's
        registry.register(dict(update))
        if join:
            register_with(join, token, dict(update))

    threading.Thread(target=report_images, args=(config, node, send), daemon=True).start()
    if etcd and not join:
        threading.Thread(target=manage_members, args=(registry, node["name"]), daemon=True).start()
    log(f"k3s {VERSION} is up and running")
    notify_ready()
    signal.pause()


def agent(config: dict) -> None:
    join, token = config.get("server"), str(config.get("token", ""))
    if not join:
        fail("--server is required")
    if not token:
        fail("--token is required")
    start_containerd(config)
    node = node_record(config, [])
    register_with(join, token, node)
    take_agent_certificates(join, token, node["name"], f"{config.get('data-dir', '/var/lib/rancher/k3s')}/agent")
    threading.Thread(target=report_images, args=(config, node, lambda n: register_with(join, token, n)),
                     daemon=True).start()
    log(f"k3s agent {VERSION} joined {join}")
    notify_ready()
    signal.pause()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.path.basename(sys.argv[0]) == "ctr":  # the ctr link to k3s, as the real multi-call binary
        sys.exit(containerd.main(argv))
    command, rest = argv[0], argv[1:]
    if command == "ctr":
        sys.exit(containerd.main(rest))
    if command == "certificate" and rest[:1] == ["check"]:
        sys.exit(certificate_check(rest[1:]))
    if command == "certificate" and rest[:1] == ["rotate"]:
        sys.exit(certificate_rotate(rest[1:]))
    if command == "etcd-snapshot":
        sys.exit(etcd_snapshot(rest))
    if command == "server":
        server(load_config(rest))
    elif command == "agent":
        agent(load_config(rest))
    else:
        fail(f"stand-in k3s does not implement '{command}'")


if __name__ == "__main__":
    main(sys.argv[1:])
