"""A host's k3s settings, read from pyinfra host data and checked before anything runs.

The data keys (inventories/edge.example.py shows them in use):
- k3s_role: server (default) or agent;
- k3s_version: a release tag like v1.31.4+k3s1; k3s_channel: stable (default), latest, vX.Y;
- k3s_release_url, k3s_channel_url: mirrors of the release site and the channel server;
- k3s_node_name (default: the host name), k3s_node_labels (mapping), k3s_node_taints (list);
- k3s_config: further k3s settings for config.yaml (flags without "--");
- http_proxy, https_proxy, no_proxy: for the k3s service (its environment file).

The harmony CLI's options arrive as the same keys (through pyinfra's `--data`, which wins over
the inventory). Bad values raise BadInput naming the host and the key, so a typo stops the run
before any host is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from harmony import releases
from harmony.errors import BadInput
from harmony.k3s import paths

# k3s settings harmony writes itself; setting them through k3s_config would contradict it.
OWNED_CONFIG_KEYS = {"node-name", "node-label", "node-taint", "token", "server", "cluster-init"}
CONFIG_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*\+?$")
NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
TAINT = re.compile(r"^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$")


@dataclass(frozen=True)
class Settings:
    role: str = "server"
    version: str | None = None
    channel: str = releases.DEFAULT_CHANNEL
    release_url: str = releases.DEFAULT_RELEASE_URL
    channel_url: str = releases.DEFAULT_CHANNEL_URL
    node_name: str | None = None
    node_labels: dict[str, str] = field(default_factory=dict)
    node_taints: tuple[str, ...] = ()
    extra_config: dict[str, Any] = field(default_factory=dict)
    proxy_env: dict[str, str] = field(default_factory=dict)


def _fail(host_name: str, key: str, problem: str) -> BadInput:
    return BadInput(f"host {host_name}: data '{key}' {problem}")


def _string(data: Mapping, host_name: str, key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\n" in value:
        raise _fail(host_name, key, f"must be a one-line string, not {value!r}")
    return value


def _url(data: Mapping, host_name: str, key: str, default: str) -> str:
    value = _string(data, host_name, key) or default
    if not value.startswith(("https://", "http://")):
        raise _fail(host_name, key, f"must be an http(s) URL, not {value!r}")
    return value.rstrip("/")


def from_data(data: Mapping, host_name: str) -> Settings:
    """Check a host's data and return its settings; BadInput names the first wrong key."""
    role = _string(data, host_name, "k3s_role") or "server"
    if role not in paths.ROLES:
        raise _fail(host_name, "k3s_role", f"must be one of {', '.join(paths.ROLES)}, not {role!r}")

    version = _string(data, host_name, "k3s_version")
    channel = _string(data, host_name, "k3s_channel") or releases.DEFAULT_CHANNEL
    try:
        if version:
            releases.check_version(version)
        releases.check_channel(channel)
    except BadInput as error:
        raise BadInput(f"host {host_name}: {error}") from None

    node_name = _string(data, host_name, "k3s_node_name")
    if node_name and not NODE_NAME.fullmatch(node_name):
        raise _fail(host_name, "k3s_node_name", "must be a lower-case DNS name (a-z, 0-9, '-', '.')")

    labels = data.get("k3s_node_labels") or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and "\n" not in k + v for k, v in labels.items()
    ):
        raise _fail(host_name, "k3s_node_labels", "must map label names to string values")

    taints = data.get("k3s_node_taints") or []
    if isinstance(taints, str) or not all(isinstance(t, str) and TAINT.fullmatch(t) for t in taints):
        raise _fail(host_name, "k3s_node_taints", "must be a list like ['key=value:NoSchedule']")

    extra = data.get("k3s_config") or {}
    if not isinstance(extra, Mapping):
        raise _fail(host_name, "k3s_config", "must be a mapping of k3s settings")
    for key in extra:
        if not isinstance(key, str) or not CONFIG_KEY.fullmatch(key):
            raise _fail(host_name, "k3s_config", f"has an invalid k3s setting name {key!r}")
        if key.rstrip("+") in OWNED_CONFIG_KEYS:
            raise _fail(
                host_name, "k3s_config",
                f"sets '{key}', which harmony manages; use the k3s_* data keys instead",
            )

    proxy_env = {}
    for key in ("http_proxy", "https_proxy", "no_proxy"):
        value = _string(data, host_name, key)
        if value:
            proxy_env[key.upper()] = value

    return Settings(
        role=role,
        version=version,
        channel=channel,
        release_url=_url(data, host_name, "k3s_release_url", releases.DEFAULT_RELEASE_URL),
        channel_url=_url(data, host_name, "k3s_channel_url", releases.DEFAULT_CHANNEL_URL),
        node_name=node_name,
        node_labels=dict(labels),
        node_taints=tuple(taints),
        extra_config=dict(extra),
        proxy_env=proxy_env,
    )
