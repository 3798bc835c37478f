"""What a host needs before k3s can run there, decided from its facts: kernel modules, kernel
settings and, where SELinux is enforcing, its policy. Each is a no-op where the host has it.

- br_netfilter and overlay: k3s's pod networking and containerd's snapshotter. They are loaded
  with modprobe and listed in /etc/modules-load.d/k3s.conf, so they load again at boot.
- net.ipv4.ip_forward and the bridge's call-iptables settings: without them pods cannot reach
  each other across nodes. They are set with sysctl and kept in /etc/sysctl.d/90-k3s.conf.
- SELinux: on a host that enforces it, k3s runs its containers under SELinux (`selinux: true` in
  config.yaml) and needs the k3s-selinux policy; on the RHEL family it is installed from
  Rancher's RPM repository, as the official install script does.

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


_PACKAGER = "if command -v dnf >/dev/null; then dnf {verb} -y k3s-selinux; else yum {verb} -y k3s-selinux; fi"
INSTALL_POLICY = (_PACKAGER.format(verb="install") + " || { echo 'harmony: cannot install k3s-selinux "
                  "from rpm.rancher.io (k3s needs it where SELinux is enforcing)' >&2; exit 1; }")
REMOVE_POLICY = _PACKAGER.format(verb="remove")


def rpm_repo_path(os_family: set[str], version_id: str) -> str | None:
    """Where Rancher's RPM repository keeps k3s-selinux for a RHEL-family OS (`centos/8`), as
    the official install script picks it; None for other systems."""
    if not {"rhel", "centos", "fedora"} & os_family:
        return None
    major = version_id.split(".", 1)[0]
    if major == "7":
        return "centos/7"
    if major == "8" or (major.isdigit() and int(major) > 36):  # Fedora's numbers, as the script does
        return "centos/8"
    return "centos/9"


def rpm_repo(path: str, channel: str = "stable") -> str:
    return f"""# Managed by harmony: the repository of the k3s-selinux policy, as k3s's install script writes it.
[rancher-k3s-common-{channel}]
name=Rancher K3s Common ({channel})
baseurl=https://rpm.rancher.io/k3s/{channel}/common/{path}/noarch
enabled=1
gpgcheck=1
repo_gpgcheck=0
gpgkey=https://rpm.rancher.io/public.key
"""


def selinux_problem(enforcing: bool, has_policy: bool, repo_path: str | None, airgap: bool) -> str | None:
    """Why harmony cannot give this host the k3s-selinux policy it needs, or None."""
    if not enforcing or has_policy:
        return None
    if repo_path is None:
        return ("SELinux is enforcing and harmony installs k3s-selinux only on the RHEL family: install "
                "k3s-selinux (https://github.com/k3s-io/k3s-selinux) or make SELinux permissive")
    if airgap:
        return ("SELinux is enforcing and k3s-selinux is not installed: an airgapped host cannot "
                "fetch it; install the k3s-selinux RPM (https://rpm.rancher.io) first")
    return None
