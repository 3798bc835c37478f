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

from harmony import releases, shown, values
from harmony.datakeys import CONTROL, bad_value as _fail, checked, flag, number, string
from harmony.errors import BadInput
from harmony.k3s import paths
from harmony.runlock import lock_wait as runlock_wait
from harmony.urls import url

# k3s settings harmony writes itself; setting them through k3s_config would contradict it.
OWNED_CONFIG_KEYS = {"node-name", "node-label", "node-taint", "token", "token-file", "server",
                     "cluster-init"}
GROUP_ROLES = {"k3s_servers": "server", "k3s_agents": "agent"}
CONFIG_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*\+?$")
NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Kubernetes' rules for label (and taint) keys and values: a key is an optional DNS-subdomain
# prefix (at most 253 characters) and '/', then a name of at most 63; a value is at most 63,
# empty or alphanumeric at both ends with '-', '_', '.' between (k8s.io/apimachinery validation).
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
MAX_VALUE = 4096  # longer, a value in config.yaml is a mistake


def _proxy_problem(value: str) -> str | None:
    return values.url_problem(value, values.PROXY_SCHEMES, credentials=True, path=False)


PROXY_PROBLEMS = {"http_proxy": _proxy_problem, "https_proxy": _proxy_problem, "no_proxy": values.no_proxy_problem}
# k3s settings that harmony reads too (the firewall's openings), checked as what they are.
CONFIG_VALUE_PROBLEMS = {"cluster-cidr": values.networks_problem, "service-cidr": values.networks_problem,
                         "https-listen-port": values.port_problem}


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
    server_address: str = ""
    registration_address: str | None = None
    token: str | None = field(default=None, repr=False)  # never printed
    allow_downgrade: bool = False
    allow_http: bool = False  # plain-http downloads, redirects to plain http included
    start_timeout: int = 300
    download_stall_timeout: int = 30
    drain: bool = False
    drain_timeout: int = 300
    lock_wait: int = 60
    airgap_dir: str | None = None
    registries: dict[str, Any] | None = field(default=None, repr=False)  # secrets resolved

    def node(self, hostname: str) -> str:
        """The host's node name in the cluster: k3s_node_name, else its host name."""
        return self.node_name or hostname.lower()


def label_key_problem(key: str) -> str | None:
    """What is wrong with a label (or taint) key by Kubernetes' rules, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and not (prefix and len(prefix) <= 253 and LABEL_PREFIX.fullmatch(prefix)):
        return "a key's prefix must be a lower-case DNS subdomain of at most 253 characters"
    if not LABEL_NAME.fullmatch(name):
        return ("a key's name must be 1 to 63 characters, letters and digits at both ends, "
                "'-', '_' or '.' between")
    return None


def label_value_problem(value: str) -> str | None:
    """What is wrong with a label (or taint) value by Kubernetes' rules, or None."""
    if value and not LABEL_NAME.fullmatch(value):
        return ("a value must be empty, or 1 to 63 characters, letters and digits at both ends, "
                "'-', '_' or '.' between")
    return None


def taint_problem(taint: str) -> str | None:
    """What is wrong with a taint written `key[=value]:Effect`, as k3s's node-taint takes it."""
    rest, colon, effect = taint.rpartition(":")
    if not colon or effect not in TAINT_EFFECTS:
        return f"expected key=value:Effect, the effect one of {', '.join(TAINT_EFFECTS)}"
    key, _, value = rest.partition("=")
    return label_key_problem(key) or label_value_problem(value)


def config_value_problem(value: Any) -> str | None:
    """Why k3s could not take `value` for a flag in config.yaml, or None: a flag's value is a
    string, number or yes/no, or a list of those (a repeated flag), each one line."""
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, (str, int, float, bool)) or item is None:
            return f"{item!r} is not a string, number, yes/no, or a list of them"
        text = str(item)
        if CONTROL.search(text):
            return f"{shown.value(text)} holds a line break or control character (flags are one line)"
        if len(text) > MAX_VALUE:
            return f"a value of {len(text)} characters (at most {MAX_VALUE})"
    return None


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


def _address(data: Mapping, host_name: str, key: str) -> str | None:
    return checked(data, host_name, key, values.host_problem)


def _token(data: Mapping, host_name: str) -> str | None:
    """The join token from k3s_token, k3s_token_file or k3s_token_env; never put in a message."""
    given = [key for key in ("k3s_token", "k3s_token_file", "k3s_token_env") if data.get(key)]
    if len(given) > 1:
        raise BadInput(f"host {host_name}: give the join token once, not as {' and '.join(given)}")
    if not given:
        return None
    key = given[0]
    source = data.get(key)
    if not isinstance(source, str):
        raise _fail(host_name, key, "must be a string")
    if key == "k3s_token_file":
        try:
            with open(os.path.expanduser(source)) as f:
                token = f.read().strip()
        except OSError as error:
            raise _fail(host_name, key, f"names a file that cannot be read: {error.strerror}") from None
    elif key == "k3s_token_env":
        if source not in os.environ:
            raise _fail(host_name, key, f"names ${source}, which is not set in harmony's environment")
        token = os.environ[source].strip()
    else:
        token = source
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise _fail(host_name, key, "must give a non-empty token without spaces or newlines")
    return token


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

    version = string(data, host_name, "k3s_version")
    channel = string(data, host_name, "k3s_channel") or releases.DEFAULT_CHANNEL
    for key, value, check in (("k3s_version", version, releases.check_version),
                              ("k3s_channel", channel, releases.check_channel)):
        try:
            if value:
                check(value)
        except BadInput as error:
            raise BadInput(f"host {host_name}: data '{key}': {error}") from None

    node_name = string(data, host_name, "k3s_node_name")
    if node_name and not NODE_NAME.fullmatch(node_name):
        raise _fail(host_name, "k3s_node_name", "must be a lower-case DNS name (a-z, 0-9, '-', '.')")

    labels = data.get("k3s_node_labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in labels.items()):
        raise _fail(host_name, "k3s_node_labels", "must map label names to string values")
    for key, value in labels.items():
        problem = label_key_problem(key) or label_value_problem(value)
        if problem:
            raise _fail(host_name, "k3s_node_labels", f"has {shown.value(key)}: {shown.value(value)}: {problem}")

    taints = data.get("k3s_node_taints") or []
    if isinstance(taints, str) or not all(isinstance(t, str) for t in taints):
        raise _fail(host_name, "k3s_node_taints", "must be a list like ['key=value:NoSchedule']")
    for taint in taints:
        problem = taint_problem(taint)
        if problem:
            raise _fail(host_name, "k3s_node_taints", f"has {shown.value(taint)}: {problem}")

    extra = data.get("k3s_config") or {}
    if not isinstance(extra, Mapping):
        raise _fail(host_name, "k3s_config", "must be a mapping of k3s settings")
    for key, value in extra.items():
        if not isinstance(key, str) or not CONFIG_KEY.fullmatch(key):
            raise _fail(host_name, "k3s_config", f"has an invalid k3s setting name {shown.value(key)}")
        if key.rstrip("+") in OWNED_CONFIG_KEYS:
            raise _fail(
                host_name, "k3s_config",
                f"sets '{key}', which harmony manages; use the k3s_* data keys instead",
            )
        problem = config_value_problem(value) or (
            CONFIG_VALUE_PROBLEMS[key](str(value)) if key in CONFIG_VALUE_PROBLEMS else None)
        if problem:
            raise _fail(host_name, "k3s_config", f"sets '{key}' to a value k3s cannot read: {problem}")

    proxy_env = {}
    for key, problem in PROXY_PROBLEMS.items():
        value = checked(data, host_name, key, problem)
        if value:
            proxy_env[key.upper()] = value

    return Settings(
        role=role,
        version=version,
        channel=channel,
        release_url=url(data, host_name, "k3s_release_url", releases.DEFAULT_RELEASE_URL),
        channel_url=url(data, host_name, "k3s_channel_url", releases.DEFAULT_CHANNEL_URL),
        node_name=node_name,
        node_labels=dict(labels),
        node_taints=tuple(taints),
        extra_config=dict(extra),
        proxy_env=proxy_env,
        server_address=_address(data, host_name, "k3s_server_address")
        or ("127.0.0.1" if host_name == "@local" else str(data.get("ssh_hostname") or host_name)),
        registration_address=_address(data, host_name, "k3s_registration_address"),
        token=_token(data, host_name),
        allow_downgrade=flag(data, "k3s_allow_downgrade"),
        allow_http=flag(data, "harmony_allow_http"),
        start_timeout=number(data, host_name, "k3s_start_timeout", 300, 1, 86400),
        drain=flag(data, "k3s_drain"),
        drain_timeout=number(data, host_name, "k3s_drain_timeout", 300, 1, 86400),
        download_stall_timeout=number(data, host_name, "harmony_download_stall_timeout", 30, 1, 3600),
        lock_wait=runlock_wait(data, host_name),
        registries=registries(data, host_name),
        airgap_dir=os.path.abspath(os.path.expanduser(str(data.get("k3s_airgap_dir")))) if data.get("k3s_airgap_dir") else None,
    )
