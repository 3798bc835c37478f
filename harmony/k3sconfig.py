"""What k3s is given, whichever runtime runs it: harmony.k3s writes it into a host's config.yaml,
harmony.k3d passes it to the k3s in its containers.

The data keys (their meanings: harmony.k3s.settings):
- the release: k3s_version, or k3s_channel from k3s_channel_url; k3s_release_url;
- the node's flags: k3s_node_labels, k3s_node_taints, and k3s_config (any other k3s flag, without
  "--", except those harmony writes itself: OWNED_CONFIG_KEYS);
- the join token: k3s_token, k3s_token_file or k3s_token_env (never printed);
- how the host is reached and downloads to it: k3s_server_address (default its SSH address),
  harmony_allow_http, harmony_download_stall_timeout.
Each is checked as Kubernetes and k3s would read it, so that a value they would refuse stops the
run before any host is touched, with the host and key named.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from harmony import releases, shown, values
from harmony.datakeys import CONTROL, bad_value, checked, flag, number, string
from harmony.errors import BadInput
from harmony.urls import url

# k3s settings harmony writes itself; setting them through k3s_config would contradict it.
OWNED_CONFIG_KEYS = {"node-name", "node-label", "node-taint", "token", "token-file", "server",
                     "cluster-init"}
CONFIG_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*\+?$")
# Kubernetes' rules for label (and taint) keys and values: a key is an optional DNS-subdomain
# prefix (at most 253 characters) and '/', then a name of at most 63; a value is at most 63,
# empty or alphanumeric at both ends with '-', '_', '.' between (k8s.io/apimachinery validation).
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
MAX_VALUE = 4096  # longer, a value in config.yaml is a mistake
# k3s settings that harmony reads too (the firewall's openings), checked as what they are.
CONFIG_VALUE_PROBLEMS = {"cluster-cidr": values.networks_problem, "service-cidr": values.networks_problem,
                         "https-listen-port": values.port_problem}


@dataclass(frozen=True)
class K3sConfig:
    version: str | None = None
    channel: str = releases.DEFAULT_CHANNEL
    release_url: str = releases.DEFAULT_RELEASE_URL
    channel_url: str = releases.DEFAULT_CHANNEL_URL
    node_labels: dict[str, str] = field(default_factory=dict)
    node_taints: tuple[str, ...] = ()
    extra_config: dict[str, Any] = field(default_factory=dict)
    server_address: str = ""
    token: str | None = field(default=None, repr=False)  # never printed
    allow_http: bool = False  # plain-http downloads, redirects to plain http included
    download_stall_timeout: int = 30


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
        raise bad_value(host_name, key, "must be a string")
    if key == "k3s_token_file":
        try:
            with open(os.path.expanduser(source)) as f:
                token = f.read().strip()
        except OSError as error:
            raise bad_value(host_name, key, f"names a file that cannot be read: {error.strerror}") from None
    elif key == "k3s_token_env":
        if source not in os.environ:
            raise bad_value(host_name, key, f"names ${source}, which is not set in harmony's environment")
        token = os.environ[source].strip()
    else:
        token = source
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise bad_value(host_name, key, "must give a non-empty token without spaces or newlines")
    return token


def _release(data: Mapping, host_name: str) -> tuple[str | None, str]:
    """The k3s release asked for, and the channel that gives one when none is."""
    version = string(data, host_name, "k3s_version")
    channel = string(data, host_name, "k3s_channel") or releases.DEFAULT_CHANNEL
    for key, value, check in (("k3s_version", version, releases.check_version),
                              ("k3s_channel", channel, releases.check_channel)):
        try:
            if value:
                check(value)
        except BadInput as error:
            raise BadInput(f"host {host_name}: data '{key}': {error}") from None
    return version, channel


def _labels(data: Mapping, host_name: str) -> dict[str, str]:
    labels = data.get("k3s_node_labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in labels.items()):
        raise bad_value(host_name, "k3s_node_labels", "must map label names to string values")
    for key, value in labels.items():
        problem = label_key_problem(key) or label_value_problem(value)
        if problem:
            raise bad_value(host_name, "k3s_node_labels", f"has {shown.value(key)}: {shown.value(value)}: {problem}")
    return dict(labels)


def _taints(data: Mapping, host_name: str) -> tuple[str, ...]:
    taints = data.get("k3s_node_taints") or []
    if isinstance(taints, str) or not all(isinstance(t, str) for t in taints):
        raise bad_value(host_name, "k3s_node_taints", "must be a list like ['key=value:NoSchedule']")
    for taint in taints:
        problem = taint_problem(taint)
        if problem:
            raise bad_value(host_name, "k3s_node_taints", f"has {shown.value(taint)}: {problem}")
    return tuple(taints)


def _extra_config(data: Mapping, host_name: str) -> dict[str, Any]:
    extra = data.get("k3s_config") or {}
    if not isinstance(extra, Mapping):
        raise bad_value(host_name, "k3s_config", "must be a mapping of k3s settings")
    for key, value in extra.items():
        if not isinstance(key, str) or not CONFIG_KEY.fullmatch(key):
            raise bad_value(host_name, "k3s_config", f"has an invalid k3s setting name {shown.value(key)}")
        if key.rstrip("+") in OWNED_CONFIG_KEYS:
            raise bad_value(host_name, "k3s_config",
                            f"sets '{key}', which harmony manages; use the k3s_* data keys instead")
        problem = config_value_problem(value) or (
            CONFIG_VALUE_PROBLEMS[key](str(value)) if key in CONFIG_VALUE_PROBLEMS else None)
        if problem:
            raise bad_value(host_name, "k3s_config", f"sets '{key}' to a value k3s cannot read: {problem}")
    return dict(extra)


def from_data(data: Mapping, host_name: str) -> K3sConfig:
    """Check what a host's data gives k3s; BadInput names the first wrong key."""
    version, channel = _release(data, host_name)
    return K3sConfig(
        version=version,
        channel=channel,
        release_url=url(data, host_name, "k3s_release_url", releases.DEFAULT_RELEASE_URL),
        channel_url=url(data, host_name, "k3s_channel_url", releases.DEFAULT_CHANNEL_URL),
        node_labels=_labels(data, host_name),
        node_taints=_taints(data, host_name),
        extra_config=_extra_config(data, host_name),
        server_address=checked(data, host_name, "k3s_server_address", values.host_problem)
        or ("127.0.0.1" if host_name == "@local" else str(data.get("ssh_hostname") or host_name)),
        token=_token(data, host_name),
        allow_http=flag(data, "harmony_allow_http"),
        download_stall_timeout=number(data, host_name, "harmony_download_stall_timeout", 30, 1, 3600),
    )
