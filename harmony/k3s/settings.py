"""A host's k3s settings, read from pyinfra host data and checked before anything runs.

The data keys (inventories/edge.example.py shows them in use):
- k3s_role: server or agent; by default a host's group says (`k3s_servers`, `k3s_agents`), and a
  host in neither is a server;
- k3s_version: a release tag like v1.31.4+k3s1; k3s_channel: stable (default), latest, vX.Y;
- k3s_release_url, k3s_channel_url: mirrors of the release site and the channel server (https;
  plain http only with harmony_allow_http, the CLI's --allow-http);
- k3s_node_name (default: the host name), k3s_node_labels (mapping), k3s_node_taints (list);
- k3s_config: further k3s settings for config.yaml (flags without "--");
- k3s_registries: k3s's registries.yaml (`mirrors`, `configs`); a registry's password or token
  comes from the controller's environment or a file (`password_env`, `password_file`,
  `token_env`, `token_file` in its `auth`), never from the inventory itself. Without the key, a
  registries.yaml on the host is left alone; an empty one removes it;
- k3s_airgap_dir: an airgap bundle on the controller (harmony.k3s.airgap) to install from, instead of
  downloading on each host;
- k3s_allow_downgrade: install an older k3s than the one on the host (refused otherwise);
- k3s_start_timeout: seconds a k3s start or restart may take before the host is reported failed
  (default 300; k3s itself goes on retrying a join it cannot make yet);
- k3s_drain: in a rolling restart (an upgrade, a changed setting), cordon each node and evict its
  pods before its restart, and uncordon it once it is Ready again (default: no drain; every
  restarted node is waited for, Ready on its new version, either way); k3s_drain_timeout: how
  long the evictions may take, in seconds (default 300);
- harmony_kubeconfig_server: the API address the controller uses, during the run too (the CLI's
  --kubeconfig-server; default the registration address);
- harmony_lock_wait: seconds a run waits for another run's lock on a host before it fails that
  host naming the holder (default 60; harmony.runlock);
- harmony_download_stall_timeout: seconds a download (k3s's, k3d's) may stall, moving under 1 KiB/s,
  before it is abandoned and tried again, 4 tries in all (default 30);
- http_proxy, https_proxy, no_proxy: for the k3s service (its environment file);
- k3s_server_address: where the other nodes reach this server (default: its SSH address);
- k3s_registration_address: where nodes join the cluster, `host` or `host:port`, for example a
  load balancer (default: the first server's address); it goes into every server's TLS SANs;
- k3s_etcd_snapshots: k3s's scheduled etcd snapshots on the servers: `schedule` (cron), `retention`,
  `s3` (bucket, endpoint, region, folder; access_key_env, secret_key_env name the controller's
  environment variables holding the keys): harmony.k3s.snapshot_schedule;
- k3s_token, k3s_token_file (a file on the controller), k3s_token_env (an environment variable
  on the controller): the cluster's join token, at most one of them. Without one, the first
  server's k3s generates it, and the others are given the first server's.

The harmony CLI's options arrive as the same keys (through pyinfra's `--data`, which wins over
the inventory). Bad values raise BadInput naming the host and the key, so a typo stops the run
before any host is touched.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from harmony import k3sconfig, shown, values
from harmony.datakeys import bad_value as _fail, checked, flag, number, string
from harmony.errors import BadInput
from harmony.k3s import paths, snapshot_schedule
from harmony.k3sconfig import K3sConfig
from harmony.runlock import lock_wait as runlock_wait

GROUP_ROLES = {"k3s_servers": "server", "k3s_agents": "agent"}
NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _proxy_problem(value: str) -> str | None:
    return values.url_problem(value, values.PROXY_SCHEMES, credentials=True, path=False)


PROXY_PROBLEMS = {"http_proxy": _proxy_problem, "https_proxy": _proxy_problem, "no_proxy": values.no_proxy_problem}


@dataclass(frozen=True)
class Settings(K3sConfig):
    """What k3s is given (harmony.k3sconfig), and how harmony installs and runs it on the host."""

    role: str = "server"
    node_name: str | None = None
    proxy_env: dict[str, str] = field(default_factory=dict)
    registration_address: str | None = None
    allow_downgrade: bool = False
    start_timeout: int = 300
    drain: bool = False
    drain_timeout: int = 300
    lock_wait: int = 60
    airgap_dir: str | None = None
    registries: dict[str, Any] | None = field(default=None, repr=False)  # secrets resolved
    etcd_snapshots: dict[str, Any] = field(default_factory=dict, repr=False)  # config.yaml's flags, S3 keys resolved

    def node(self, hostname: str) -> str:
        """The host's node name in the cluster: k3s_node_name, else its host name."""
        return self.node_name or hostname.lower()


def _role(data: Mapping, host_name: str, groups) -> str:
    """The host's role: its k3s_role, else its group's; the two must not disagree."""
    by_group = {GROUP_ROLES[g] for g in groups if g in GROUP_ROLES}
    if len(by_group) > 1:
        raise BadInput(f"host {host_name} is in both k3s_servers and k3s_agents: keep it in one")
    role = string(data, host_name, "k3s_role")
    if role and role not in paths.ROLES:
        raise _fail(host_name, "k3s_role", f"must be one of {', '.join(paths.ROLES)}, not {role!r}")
    if role and by_group and role not in by_group:
        raise _fail(host_name, "k3s_role",
                    f"is {role!r} but the host is in group k3s_{by_group.pop()}s: make them agree")
    return role or (by_group.pop() if by_group else "server")


def _secret(host_name: str, where: str, auth: Mapping, name: str) -> str | None:
    """A registry secret from `<name>_env` or `<name>_file` on the controller; never its value in
    the inventory, nor in a message."""
    if name in auth:
        raise _fail(host_name, "k3s_registries",
                    f"gives {where}'s {name} in the inventory: use {name}_env or {name}_file")
    if f"{name}_env" in auth:
        variable = str(auth[f"{name}_env"])
        if variable not in os.environ:
            raise _fail(host_name, "k3s_registries", f"names ${variable} for {where}, which is not set")
        return os.environ[variable]
    if f"{name}_file" in auth:
        try:
            with open(os.path.expanduser(str(auth[f"{name}_file"]))) as f:
                return f.read().strip()
        except OSError as error:
            raise _fail(host_name, "k3s_registries", f"names a file for {where} that cannot be read: "
                                                     f"{error.strerror}") from None
    return None


def _registry_name(host_name: str, name: Any) -> None:
    """A registry as registries.yaml names one: its host[:port], or '*' for every registry."""
    problem = "must be a host[:port] or '*'" if not isinstance(name, str) else (
        None if name == "*" else values.host_problem(name))
    if problem:
        raise _fail(host_name, "k3s_registries", f"names a registry {shown.value(name)}: {problem}")


def _mirrors(host_name: str, mirrors: Any) -> dict[str, Any]:
    """registries.yaml's `mirrors`: each a registry's name, its endpoints URLs (without
    credentials: those go in `configs`)."""
    if not isinstance(mirrors, Mapping):
        raise _fail(host_name, "k3s_registries", "mirrors must map registry names to their endpoints")
    for name, mirror in mirrors.items():
        _registry_name(host_name, name)
        endpoints = mirror.get("endpoint", []) if isinstance(mirror, Mapping) else None
        if not isinstance(endpoints, list):
            raise _fail(host_name, "k3s_registries", f"mirrors.{name} must be a mapping with an endpoint list")
        for endpoint in endpoints:
            problem = values.url_problem(endpoint) if isinstance(endpoint, str) else "must be a URL"
            if problem:
                raise _fail(host_name, "k3s_registries",
                            f"mirrors.{name} has an endpoint {shown.value(endpoint)}: {problem}")
    return dict(mirrors)


def registries(data: Mapping, host_name: str) -> dict[str, Any] | None:
    """registries.yaml's content, with each registry's secrets read from where the data says;
    None when the data does not manage registries."""
    if data.get("k3s_registries") is None:
        return None
    registries = data.get("k3s_registries") or {}
    if not isinstance(registries, Mapping) or set(registries) - {"mirrors", "configs"}:
        raise _fail(host_name, "k3s_registries", "must be a mapping with 'mirrors' and/or 'configs'")
    configs = {}
    for registry, config in (registries.get("configs") or {}).items():
        _registry_name(host_name, registry)
        if not isinstance(config, Mapping):
            raise _fail(host_name, "k3s_registries", f"configs.{registry} must be a mapping")
        config = dict(config)
        auth = dict(config.get("auth") or {})
        if auth:
            resolved = {k: v for k, v in auth.items() if k in ("username", "auth")}
            for name in ("password", "token"):
                value = _secret(host_name, registry, auth, name)
                if value is not None:
                    resolved["identitytoken" if name == "token" else name] = value
            config["auth"] = resolved
        configs[str(registry)] = config
    result = {}
    if registries.get("mirrors"):
        result["mirrors"] = _mirrors(host_name, registries["mirrors"])
    if configs:
        result["configs"] = configs
    return result


def from_data(data: Mapping, host_name: str, groups=()) -> Settings:
    """Check a host's data and return its settings; BadInput names the first wrong key.

    `groups` are the host's pyinfra inventory groups, which may give its role.
    """
    role = _role(data, host_name, groups)
    given = k3sconfig.from_data(data, host_name)
    node_name = string(data, host_name, "k3s_node_name")
    if node_name and not NODE_NAME.fullmatch(node_name):
        raise _fail(host_name, "k3s_node_name", "must be a lower-case DNS name (a-z, 0-9, '-', '.')")
    proxy_env = {}
    for key, problem in PROXY_PROBLEMS.items():
        value = checked(data, host_name, key, problem)
        if value:
            proxy_env[key.upper()] = value
    airgap_dir = data.get("k3s_airgap_dir")
    return Settings(
        **vars(given),
        role=role,
        node_name=node_name,
        proxy_env=proxy_env,
        registration_address=checked(data, host_name, "k3s_registration_address", values.host_problem),
        allow_downgrade=flag(data, "k3s_allow_downgrade"),
        start_timeout=number(data, host_name, "k3s_start_timeout", 300, 1, 86400),
        drain=flag(data, "k3s_drain"),
        drain_timeout=number(data, host_name, "k3s_drain_timeout", 300, 1, 86400),
        lock_wait=runlock_wait(data, host_name),
        registries=registries(data, host_name),
        etcd_snapshots=snapshot_schedule.flags(data, host_name),
        airgap_dir=os.path.abspath(os.path.expanduser(str(airgap_dir))) if airgap_dir else None,
    )
