"""What a host needs before k3s can run there, decided from its facts: kernel modules and
kernel settings. Each is a no-op where the host already has it.

- br_netfilter and overlay: k3s's pod networking and containerd's snapshotter. They are loaded
  with modprobe and listed in /etc/modules-load.d/k3s.conf, so they load again at boot.
- net.ipv4.ip_forward and the bridge's call-iptables settings: without them pods cannot reach
  each other across nodes. They are set with sysctl and kept in /etc/sysctl.d/90-k3s.conf.

A module is seen as loaded by what it adds (/proc/sys/net/bridge, `overlay` in /proc/filesystems),
which also holds where it is built into the kernel and /proc/modules does not list it.
"""

from __future__ import annotations

from harmony.k3s.render import HEADER

MODULES = ("br_netfilter", "overlay")
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}


def missing_modules(loaded: set[str]) -> list[str]:
    return [module for module in MODULES if module not in loaded]


def wrong_sysctls(current: dict[str, str], loaded: set[str]) -> dict[str, str]:
    """The settings to change: those not as k3s needs them. The bridge's exist only once
    br_netfilter is loaded, so without it they are set after it is."""
    wanted = {}
    for key, value in SYSCTLS.items():
        bridge = key.startswith("net.bridge.")
        if current.get(key) != value and (key in current or (bridge and "br_netfilter" not in loaded)):
            wanted[key] = value
    return wanted


def modules_conf(modules: list[str]) -> str:
    return HEADER + "".join(f"{module}\n" for module in modules)


def sysctl_conf(settings: dict[str, str]) -> str:
    return HEADER + "".join(f"{key} = {value}\n" for key, value in sorted(settings.items()))
