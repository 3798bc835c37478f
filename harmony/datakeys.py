"""The inventory data keys harmony knows, so that a typo stops the run instead of being ignored.

Every key harmony owns (`k3s_*`, `k3d_*`, `harmony_*`) must be one of KNOWN: a misspelt one
(`k3s_versoin`) would otherwise drop the setting the user meant in silence. Other keys in an
inventory are the user's own, or pyinfra's, and left alone; but `--set` takes only harmony's
keys and pyinfra's connection keys (CONNECTION), since nothing else reads what it sets.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Iterable, Mapping

from harmony import shown, values
from harmony.errors import BadInput

OWNED_PREFIXES = ("k3s_", "k3d_", "harmony_")

K3S = {
    "k3s_role", "k3s_version", "k3s_channel", "k3s_release_url", "k3s_channel_url", "k3s_node_name",
    "k3s_node_labels", "k3s_node_taints", "k3s_config", "k3s_registries", "k3s_airgap_dir",
    "k3s_allow_downgrade", "k3s_start_timeout", "k3s_drain", "k3s_drain_timeout", "k3s_server_address",
    "k3s_registration_address", "k3s_token", "k3s_token_file", "k3s_token_env", "k3s_cert_days",
    "k3s_prune_nodes", "k3s_etcd_snapshots",
}
K3D = {
    "k3d_version", "k3d_release_url", "k3d_servers", "k3d_agents", "k3d_api_port", "k3d_api_host_ip",
    "k3d_ports", "k3d_ingress_ports", "k3d_registries", "k3d_bin_dir", "k3d_install_docker", "k3d_recreate", "k3d_purge",
}
HARMONY = {
    "harmony_kubeconfig_server", "harmony_download_stall_timeout", "harmony_allow_http",
    "harmony_runtime", "harmony_cluster", "harmony_lock_wait",
}
# Set by harmony for the deploy, never by a user: how and who takes a host's lock, what the
# controller resolved for the run (harmony.resolved), and the images it ships (harmony.images.shipping).
INTERNAL = {"harmony_lock", "harmony_run", "harmony_resolved", "harmony_images", "harmony_snapshot",
            "harmony_restore"}
INTERNAL |= {"harmony_certs"}  # which nodes `harmony certs rotate` rotates (harmony.k3s.hoststate.CERTS_KEY)
PROXIES = {"http_proxy", "https_proxy", "no_proxy"}
KNOWN = K3S | K3D | HARMONY | INTERNAL | PROXIES
# pyinfra's own keys that `--set` may give: how to connect, and how to become root.
CONNECTION = {
    "ssh_hostname", "ssh_port", "ssh_user", "ssh_key", "ssh_known_hosts_file",
    "ssh_strict_host_key_checking", "ssh_connect_retries", "ssh_file_transfer_protocol",
    "ssh_config_file", "ssh_bastion", "ssh_forward_agent",
    "_sudo", "_sudo_user", "_use_sudo_login", "_preserve_sudo_env", "_su_user", "_doas", "_doas_user",
}

# pyinfra quotes these where it puts them in a command (sudo -u, su); they are checked as what
# they are all the same, as harmony's own keys are.
CONNECTION_PROBLEMS = {"ssh_hostname": values.host_problem, "ssh_user": values.user_problem,
                       "_sudo_user": values.user_problem, "_su_user": values.user_problem,
                       "_doas_user": values.user_problem}


def _did_you_mean(key: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(choices), n=1, cutoff=0.6)
    return f": did you mean '{close[0]}'?" if close else ""


def check_data(data: Mapping, where: str) -> None:
    """BadInput for the first harmony-owned key in `data` that harmony does not know, or a
    connection key of the wrong type."""
    for key in data:
        if isinstance(key, str) and key.startswith(OWNED_PREFIXES) and key not in KNOWN:
            raise BadInput(f"{where}: unknown data key '{key}'{_did_you_mean(key, KNOWN)} "
                           "(inventories/edge.example.py lists the keys)")
    for key, problem in CONNECTION_PROBLEMS.items():
        value = data.get(key)
        why = value is not None and (problem(value) if isinstance(value, str) else "must be a string")
        if why:
            raise BadInput(f"{where}: data '{key}' {why}, not {shown.value(value)}")
    bastion = data.get("ssh_bastion")
    if bastion is not None:
        from harmony import sshconfig

        if not isinstance(bastion, (str, list, tuple)):
            raise BadInput(f"{where}: data 'ssh_bastion' must be [user@]host[:port] (or a list of them), "
                           f"not {shown.value(bastion)}")
        sshconfig.parse_jumps(bastion, f"{where}: data 'ssh_bastion'")
    config = data.get("ssh_config_file")
    if config is not None and not (isinstance(config, str) and os.path.isfile(os.path.expanduser(config))):
        raise BadInput(f"{where}: data 'ssh_config_file' {shown.value(config)}: no such file")
    port = data.get("ssh_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise BadInput(f"{where}: data 'ssh_port' must be a port number (an int from 1 to 65535), "
                       f"not {shown.value(port)}")


def check_set(key: str) -> None:
    """BadInput unless `--set KEY=...` names a key something reads."""
    allowed = (KNOWN - INTERNAL) | CONNECTION
    if key not in allowed:
        raise BadInput(f"--set {key}: not a data key harmony or pyinfra's connection reads"
                       f"{_did_you_mean(key, allowed)}")


# What a one-line value cannot hold: k3s's config.yaml and shell lines are read a line at a time,
# and YAML forbids C0 and C1 control characters in plain text.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def bad_value(host_name: str, key: str, problem: str) -> BadInput:
    return BadInput(f"host {host_name}: data '{key}' {problem}")


def string(data: Mapping, host_name: str, key: str) -> str | None:
    """A one-line string key's value, if given."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or CONTROL.search(value):
        raise bad_value(host_name, key, f"must be a one-line string, not {shown.value(value)}")
    return value


def checked(data: Mapping, host_name: str, key: str, problem) -> str | None:
    """The key's string value, refused (naming the key, the value cut) where `problem` finds one."""
    value = string(data, host_name, key)
    why = value and problem(value)
    if why:
        raise bad_value(host_name, key, f"{why}, not {shown.value(value)}")
    return value


def flag(data: Mapping, key: str) -> bool:
    """A yes/no key: true as data, or as the strings pyinfra's --data and harmony's --set give."""
    return data.get(key) in (True, "true", "True", "1")


def number(data: Mapping, host_name: str, key: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high` (given as a number or as digits: --set gives strings)."""
    value = data.get(key, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_value(host_name, key, f"must be a whole number from {low} to {high}, not {shown.value(value)}")
    return value
