"""A host's k3d settings, from pyinfra host data; checked before anything runs.

The data keys, besides what the k3s in the containers is given (harmony.k3sconfig: the release
for the k3s image, the node labels, taints and k3s_config as k3s's arguments, k3s_token):
- k3d_version: the k3d release (default DEFAULT_VERSION); k3d_release_url: a mirror of k3d's
  release downloads;
- k3d_servers (default 1), k3d_agents (default 0): the cluster's nodes, each a container;
- k3d_api_port (default 6443): the host port of the Kubernetes API; k3d_api_host_ip: the address
  it listens on (default 127.0.0.1 on this machine, 0.0.0.0 on a remote host);
- k3d_ports: k3d port mappings, like ["8080:80@loadbalancer"];
- k3d_ingress_ports (default true): when harmony creates the cluster, it publishes the cluster's
  ports 80 and 443 (Ingresses, through Traefik) on free host ports where k3d_ports maps neither
  (`harmony.k3d.ports`); false publishes only k3d_ports;
- k3d_registries: k3d's `registries` section, passed through (create, use, config);
- k3d_bin_dir: where the k3d executable goes (default /usr/local/bin as root, ~/.local/bin else,
  %LOCALAPPDATA%\\harmony\\bin on Windows: `harmony.k3d.bindir`);
- k3d_install_docker: install Docker from the distribution's packages where it is missing
  (Linux with systemd or OpenRC, as root or with sudo; opt-in).

harmony's CLI gives harmony_cluster (--name), k3d_recreate (--recreate) and k3d_purge (--purge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from harmony import shown, values
from harmony.datakeys import bad_value, flag, number
from harmony.errors import BadInput
from harmony.k3sconfig import K3sConfig, from_data as k3s_given
from harmony.urls import url

DEFAULT_VERSION = "v5.7.4"
DEFAULT_RELEASE_URL = "https://github.com/k3d-io/k3d/releases/download"
VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")
PORT_MAPPING = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}:)?(\d{1,5}:)?\d{1,5}(/(tcp|udp))?(@[a-z0-9:*,-]+)?$")
YES_NO = {True: True, False: False, "true": True, "false": False, "True": True, "False": False, "1": True, "0": False}


@dataclass(frozen=True)
class K3dSettings:
    k3s: K3sConfig  # what the k3s in the cluster's containers is given
    cluster: str = "harmony"
    version: str = DEFAULT_VERSION
    release_url: str = DEFAULT_RELEASE_URL
    servers: int = 1
    agents: int = 0
    api_host_ip: str = "0.0.0.0"
    api_port: int = 6443
    ports: tuple[str, ...] = ()
    ingress_ports: bool = True  # publish 80 and 443 on free host ports when creating the cluster
    registries: dict[str, Any] = field(default_factory=dict)
    bin_dir: str | None = None
    recreate: bool = False
    purge: bool = False
    install_docker: bool = False
    airgap_dir: str | None = None  # given only to be refused: k3d installs no k3s on a host
    # The host's engine runs containers in a user namespace (`harmony.engine`): set from
    # the host's fact where the cluster is rendered, never from the data.
    rootless: bool = False


def from_data(data: Mapping, host_name: str) -> K3dSettings:
    """Check a host's data for k3d; BadInput names the first wrong key."""
    k3s = k3s_given(data, host_name)
    cluster = data.get("harmony_cluster") or "harmony"
    if not isinstance(cluster, str) or not CLUSTER_NAME.fullmatch(cluster):
        raise BadInput(f"invalid cluster name {shown.value(cluster)} for k3d: use lower-case letters, digits "
                       "and '-' (at most 32), as k3d requires")
    return K3dSettings(k3s=k3s, cluster=cluster, **checked(data, host_name))


def checked(data: Mapping, host_name: str) -> dict[str, Any]:
    """The k3d keys' values, each checked as what it is; BadInput names the first wrong key.
    The inventory's hosts are checked with it whatever their runtime, since a runtime may be
    chosen by asking the host, and no host is asked anything before its data is checked."""
    version = data.get("k3d_version") or DEFAULT_VERSION
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise bad_value(host_name, "k3d_version", f"must be a k3d release like {DEFAULT_VERSION}, "
                                                  f"not {shown.value(version)}")
    ports = data.get("k3d_ports") or []
    if isinstance(ports, str) or not all(isinstance(p, str) and PORT_MAPPING.fullmatch(p) for p in ports):
        raise bad_value(host_name, "k3d_ports", f"must be a list like ['8080:80@loadbalancer'], not {shown.value(ports)}")
    ingress = data.get("k3d_ingress_ports", True)
    if not isinstance(ingress, (bool, str)) or ingress not in YES_NO:
        raise bad_value(host_name, "k3d_ingress_ports", f"must be true or false, not {shown.value(ingress)}")
    registries = data.get("k3d_registries") or {}
    if not isinstance(registries, Mapping):
        raise bad_value(host_name, "k3d_registries", "must be a mapping (k3d's registries section)")
    host_ip = data.get("k3d_api_host_ip") or ("127.0.0.1" if host_name == "@local" else "0.0.0.0")
    for key, value, problem in (("k3d_api_host_ip", host_ip, values.ip_problem),
                                ("k3d_bin_dir", data.get("k3d_bin_dir"), values.path_problem)):
        why = value is not None and (problem(value) if isinstance(value, str) else "must be a string")
        if why:
            raise bad_value(host_name, key, f"{why}, not {shown.value(value)}")
    return {
        "version": version,
        "release_url": url(data, host_name, "k3d_release_url", DEFAULT_RELEASE_URL),
        "servers": number(data, host_name, "k3d_servers", 1, 1, 9),
        "agents": number(data, host_name, "k3d_agents", 0, 0, 99),
        "api_host_ip": host_ip,
        "api_port": number(data, host_name, "k3d_api_port", 6443, 1, 65535),
        "ports": tuple(ports),
        "ingress_ports": YES_NO[ingress],
        "registries": dict(registries),
        "bin_dir": data.get("k3d_bin_dir"),
        "recreate": flag(data, "k3d_recreate"),
        "purge": flag(data, "k3d_purge"),
        "install_docker": flag(data, "k3d_install_docker"),
        "airgap_dir": data.get("k3s_airgap_dir"),
    }
