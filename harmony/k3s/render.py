"""The text of every file harmony writes on a k3s host, rendered from settings.

All of k3s's configuration goes into config.yaml (never onto the command line in the unit), so a
change to any setting is a change to one file that harmony hashes, and re-running can never drop
configuration silently (k3s-io/k3s#7593).
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from harmony.k3s import paths
from harmony.k3s.cluster import FIRST_SERVER, Cluster
from harmony.k3s.service import Service
from harmony.k3s.settings import Settings

HEADER = "# Managed by harmony: edits are replaced on the next `harmony up`.\n"


def config_data(settings: Settings, hostname: str, cluster: Cluster, host_name: str,
                selinux: bool = False) -> dict[str, Any]:
    """The mapping written to /etc/rancher/k3s/config.yaml on host `host_name` of `cluster`
    (`selinux`: the host enforces SELinux, so k3s must run its containers under it).

    Every host but the first server joins through the registration address with the token in
    paths.TOKEN_FILE (so config.yaml holds no secret); the first server of several starts
    embedded etcd; every server's certificate names the registration address.
    """
    data: dict[str, Any] = dict(settings.extra_config)
    data["node-name"] = settings.node(hostname)
    if settings.node_labels:
        data["node-label"] = [f"{k}={v}" for k, v in sorted(settings.node_labels.items())]
    if settings.node_taints:
        data["node-taint"] = list(settings.node_taints)
    first = cluster.stage(host_name) == FIRST_SERVER
    if not first:
        data["server"] = cluster.registration_url
    if not first or settings.token:
        data["token-file"] = paths.TOKEN_FILE
    if first and cluster.ha:
        data["cluster-init"] = True
    if selinux:
        data.setdefault("selinux", True)
    if settings.role == "server":
        data.update(settings.etcd_snapshots)
        sans = data.get("tls-san", [])
        sans = sans if isinstance(sans, list) else [sans]
        data["tls-san"] = list(dict.fromkeys([*sans, cluster.registration_host]))
    return data


def config_yaml(settings: Settings, hostname: str, cluster: Cluster, host_name: str,
                selinux: bool = False) -> str:
    body = yaml.safe_dump(config_data(settings, hostname, cluster, host_name, selinux),
                          default_flow_style=False, sort_keys=True)
    return HEADER + body


def registries_yaml(settings: Settings) -> str:
    return HEADER + yaml.safe_dump(settings.registries, default_flow_style=False, sort_keys=True)


def env_file(settings: Settings, service: Service) -> str:
    """The service's environment file: proxy settings only (they are not k3s flags). systemd
    reads it as an EnvironmentFile; the OpenRC script sources it with sh."""
    quote = shlex.quote if service.openrc else _systemd_quote
    lines = [f"{key}={quote(value)}" for key, value in sorted(settings.proxy_env.items())]
    return HEADER + "".join(line + "\n" for line in lines)


def _systemd_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def service_file(service: Service, firewall: bool = False) -> str:
    """The systemd unit or OpenRC script, as the official install script writes it; with
    `firewall`, it opens k3s's ports in nftables before k3s starts (`harmony.k3s.firewall`)."""
    return openrc_script(service, firewall) if service.openrc else unit(service, firewall)


def unit(service: Service, firewall: bool = False) -> str:
    hook = f"ExecStartPre={paths.FIREWALL_SCRIPT}\n" if firewall else ""
    return f"""{HEADER}[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-{service.env_file}
KillMode=process
Delegate=yes
User=root
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=/bin/sh -xc '! /usr/bin/systemctl is-enabled --quiet nm-cloud-setup.service 2>/dev/null'
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
{hook}ExecStart={paths.BINARY} {service.role}
"""


def openrc_script(service: Service, firewall: bool = False) -> str:
    log = paths.log_file(service.role)
    hook = f"\n    {paths.FIREWALL_SCRIPT}" if firewall else ""
    return f"""#!/sbin/openrc-run
{HEADER.strip()}

depend() {{
    after network-online
    want cgroups
}}

start_pre() {{
    rm -f /tmp/k3s.*{hook}
}}

supervisor=supervise-daemon
name={service.name}
command={paths.BINARY}
command_args="{service.role} >>{log} 2>&1"

output_log={log}
error_log={log}

pidfile="/var/run/{service.name}.pid"
respawn_delay=5
respawn_max=0

set -o allexport
if [ -f /etc/environment ]; then . /etc/environment; fi
if [ -f {service.env_file} ]; then . {service.env_file}; fi
set +o allexport
"""


def logrotate(role: str) -> str:
    """Rotation of k3s's log under OpenRC, as the install script sets it up."""
    return f"""{HEADER}{paths.log_file(role)} {{
	missingok
	notifempty
	copytruncate
}}
"""


KILLALL = f"""#!/bin/sh
{HEADER.strip()}
# Stops k3s and everything it started: containers, mounts and network interfaces.
[ "$(id -u)" -eq 0 ] || exec sudo "$0" "$@"

for service in {paths.SYSTEMD_DIR}/k3s*.service; do
    [ -s "$service" ] && systemctl stop "$(basename "$service")"
done
for service in {paths.OPENRC_DIR}/k3s*; do
    [ -x "$service" ] && "$service" stop
done

pschildren() {{
    ps -e -o ppid= -o pid= | sed -e 's/^\\s*//g; s/\\s\\s*/\\t/g;' | grep -w "^$1" | cut -f2
}}
pstree() {{
    for pid in "$@"; do
        echo "$pid"
        for child in $(pschildren "$pid"); do pstree "$child"; done
    done
}}
killtree() {{
    kill -9 $( {{ set +x; }} 2>/dev/null; pstree "$@"; set -x ) 2>/dev/null
}}
shims=$(ps -e -o pid= -o args= | sed -e 's/^ *//; s/\\s\\s*/\\t/;' \\
    | grep -w 'k3s/data/[^/]*/bin/containerd-shim' | cut -f1)
[ -n "$shims" ] && killtree $shims

do_unmount_and_remove() {{
    set +x
    while read -r _ path _; do
        case "$path" in $1*) echo "$path" ;; esac
    done < /proc/self/mounts | sort -r | xargs -r -t -n 1 sh -c 'umount -f "$0" && rm -rf "$0"'
    set -x
}}
do_unmount_and_remove /run/k3s
do_unmount_and_remove /var/lib/rancher/k3s
do_unmount_and_remove /var/lib/kubelet/pods
do_unmount_and_remove /var/lib/kubelet/plugins
do_unmount_and_remove /run/netns/cni-

ip netns show 2>/dev/null | grep cni- | xargs -r -t -n 1 ip netns delete
for link in flannel.1 flannel-v6.1 flannel-wg flannel-wg-v6 cni0 kube-ipvs0; do
    ip link show "$link" >/dev/null 2>&1 && ip link delete "$link"
done
rm -rf /var/lib/cni/
if command -v iptables-save >/dev/null; then
    iptables-save | grep -v KUBE- | grep -v CNI- | grep -iv flannel | iptables-restore
fi
exit 0
"""


def uninstall_script(service: Service) -> str:
    """Removes k3s by hand, as the install script's uninstall script does."""
    links = " ".join(paths.LINKED_COMMANDS)
    return f"""#!/bin/sh
{HEADER.strip()}
# Removes k3s from this host. `harmony down` does the same from the controller.
set -x
[ "$(id -u)" -eq 0 ] || exec sudo "$0" "$@"

{paths.KILLALL_SCRIPT}
{service.disable()} >/dev/null 2>&1
rm -f {" ".join(service.files)}
{service.reload or ""}
for cmd in {links}; do
    [ "$(readlink -f {paths.BIN_DIR}/$cmd)" = {paths.BINARY} ] && rm -f {paths.BIN_DIR}/$cmd
done
rm -rf {" ".join(paths.REMOVED_PATHS)}
rm -f {paths.BINARY} {paths.KILLALL_SCRIPT}
"""
