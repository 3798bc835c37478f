"""k3s under each host's init system, as a runtime (`harmony.runtime.Runtime`): any number of
Linux hosts with systemd or OpenRC, servers and agents, one cluster."""

from __future__ import annotations

import posixpath

from harmony.runtime import INITS, Api, Fit, Platform, Runtime

# `harmony check` lists a node whose earliest certificate expires within this many days
# (`--cert-days`, data `k3s_cert_days`).
CERT_DAYS = 30


def cert_days(data, host_name: str) -> int:
    from harmony.datakeys import number

    return number(data, host_name, "k3s_cert_days", CERT_DAYS, 1, 3650)


def renew_days(version: str) -> int:
    """The days before expiry within which k3s renews its certificates when it starts: 90, and
    120 from the May 2025 releases (v1.33.1, v1.32.5, v1.31.9, v1.30.13; k3s-io/k3s#12232)."""
    from harmony.releases import version_key

    try:
        key = version_key(version)
    except Exception:  # not a release tag (not installed): the older window, the less kind one
        return 90
    firsts = {(1, 33): (1, 33, 1), (1, 32): (1, 32, 5), (1, 31): (1, 31, 9), (1, 30): (1, 30, 13)}
    first = firsts.get(key[:2])
    return 120 if (key[:3] >= first if first else key[:2] > (1, 33)) else 90


def certificate_problem(certificates: dict, version: str, unit: str, within: int) -> str | None:
    """A node's earliest certificate expiring within `within` days, in words, and what renews it:
    k3s itself, at its next start, once the certificate is within its renewal window."""
    days = certificates.get("days_left")
    if days is None or days >= within:
        return None
    window = renew_days(version)
    plural = "s" if abs(days) != 1 else ""
    when = f"expired {-days} day{plural} ago" if days < 0 else f"expires in {days} day{plural}"
    if days < window:
        renews = (f"restarting its {unit or 'k3s'} service renews it (k3s renews its certificates within {window} "
                  "days of expiry each time it starts), or harmony certs rotate, node by node")
    else:
        renews = f"k3s renews it when it starts within {window} days of its expiry; harmony certs rotate renews it now"
    return f"certificate {certificates['file']} {when} ({certificates['expires']}), within {within} days: {renews}"


class K3s(Runtime):
    name = "k3s"
    deploys = "harmony.k3s.deploy"
    image_deploy = "images"

    def check_data(self, host) -> None:
        from harmony.k3s.settings import from_data

        from_data(host.data, host.name, host.groups)
        cert_days(host.data, host.name)

    def settings(self, hosts: list) -> dict:
        """Each host's k3s settings, by host name."""
        from harmony.k3s.settings import from_data

        return {h.name: from_data(h.data, h.name, h.groups) for h in hosts}

    def fit(self, platform: Platform, settings) -> Fit:
        if platform.os != "linux":
            return Fit(False, f"k3s runs on Linux, and this host runs {platform.system}")
        if platform.init not in INITS:
            return Fit(False, "k3s needs an init system harmony supports (systemd or OpenRC), and this host "
                              f"has {platform.init}")
        if platform.root == "none":
            return Fit(False, "k3s needs root, and the login user is not root and has no sudo")
        return Fit(True, f"Linux with {platform.init} and root")

    def bundle(self, settings: dict) -> str | None:
        return next((s.airgap_dir for s in settings.values() if s.airgap_dir), None)

    def bundled_builds(self, settings: dict, arch: str, names: list[str]) -> dict[str, str] | None:
        from harmony.k3s import airgap

        directory = self.bundle(settings)
        return airgap.builds(directory, arch, names) if directory else None

    def resolve(self, hosts: list, settings: dict, pin: bool, whole: bool, offline: bool = False):
        from harmony.k3s import resolve

        return resolve.resolve([(h.name, settings[h.name]) for h in hosts], pin, whole, offline)

    def api(self, hosts, settings, resolved, ok, server, fetched) -> Api:
        """The first healthy server's kubeconfig, at the registration address (never the
        127.0.0.1 that k3s writes)."""
        shape = resolved.cluster
        first = next((h for name in shape.servers for h in hosts if h.name == name and name in ok), None)
        return Api(fetched(first) if first else None, server or shape.registration_url,
                   {settings[h.name].node_name for h in hosts if h.name in ok and settings[h.name].node_name},
                   len(ok))

    @property
    def status_fact(self) -> type:
        from harmony.k3s.facts import K3sStatus

        return K3sStatus

    def fact_arguments(self, settings) -> dict:
        """status and check read the certificates' expiries too (`up`'s fact never does)."""
        return {"certs": "yes"}

    def running(self, fact: dict, cluster: str) -> bool:
        return bool(fact.get("active"))

    def status_row(self, host, fact, nodes, cluster, settings) -> dict:
        node_name = settings[host.name].node((fact or {}).get("hostname", ""))
        node = nodes.pop(node_name, None)
        row = {**(fact or {}), "node": node_name, "node_ready": bool(node and node.ready),
               "running": node.version if node else ""}
        if isinstance(row.get("certificates"), dict):
            row["certificates"] = {**row["certificates"], "warn_days": cert_days(host.data, host.name)}
        row["healthy"] = bool(row.get("active") and row["node_ready"])
        return row

    def status_line(self, row: dict) -> str:
        return (f"{row['role'] or 'no role'}, k3s {row['version'] or 'not installed'}, "
                f"{row['unit'] or 'k3s'} {row['service']}, node {row['node']} {'Ready' if row['node_ready'] else 'not Ready'}"
                + _certificates_line(row.get("certificates"))
                + "".join(f"; {difference}" for difference in self.differences(row)))

    def installed(self, row: dict) -> str:
        return row.get("version") or ""

    def downloads(self, settings, resolved, row) -> list[str]:
        """The host's architecture's binary (every architecture's where that is not known); none
        from an airgap bundle."""
        from harmony import releases
        from harmony.resolved import VERSION

        ours = settings[row["host"]]
        if ours.airgap_dir:
            return []
        arch = row.get("arch")
        names = [releases.ASSETS[arch].name] if arch in releases.ASSETS else sorted(
            {a.name for a in releases.ASSETS.values()})
        return [releases.download_url(ours.release_url, resolved.version or VERSION, name) for name in names]

    def differences(self, row: dict) -> list[str]:
        """A version installed but not yet running, new files a stopped rollout staged for the
        host's turn, a certificate that expires within `k3s_cert_days`."""
        said = []
        if row.get("running") and row.get("version") and row["running"] != row["version"]:
            said.append(f"its node runs {row['running']}: a restart is pending (harmony up does it)")
        if row.get("staged"):
            said.append(f"new {', '.join(posixpath.basename(p) for p in row['staged'])} staged, waiting for its "
                        "turn (harmony up puts them in place)")
        certificates = row.get("certificates") or {}
        problem = certificate_problem(certificates, row.get("version", ""), row.get("unit", ""),
                                      certificates.get("warn_days", CERT_DAYS))
        if problem:
            said.append(problem)
        return said


def _certificates_line(certificates: dict | None) -> str:
    """`, certificates until 2026-05-15 (364 days, client-admin.crt)`, or why they were not read."""
    if not certificates:
        return ""
    if "file" in certificates:
        return (f", certificates until {certificates['expires'][:10]} ({certificates['days_left']} days, "
                f"{posixpath.basename(certificates['file'])})")
    return f", certificates not read: {certificates['unread']}" if certificates.get("unread") else ""


K3S = K3s()
