"""k3s's certificates seen and checked: `status` shows each node's earliest expiry, `check` fails
under the threshold, and a restart of k3s renews them (the stand-in, as k3s does, within 90 days
of expiry: tests/standin/k3s.py)."""

from __future__ import annotations

import json

from tests.e2e.conftest import until

AGENT_FILES = ("client-k3s-controller.crt", "client-kube-proxy.crt", "client-kubelet.crt", "serving-kubelet.crt")


def test_certificates_near_expiry_fail_check_until_a_restart_renews_them(harmony, host):
    # dynamiclistener's knob, read by k3s from its unit's environment: new leaf certificates
    # valid 20 days (the CAs stay at 10 years).
    host.write("/etc/default/k3s", "CATTLE_NEW_SIGNED_CERT_EXPIRATION_DAYS=20\n")
    up = harmony.up(host)
    assert up.returncode == 0, up.stdout + up.stderr
    args = (host.target, "--ssh-key", str(harmony.ssh_key), "--kubeconfig-server", host.api_url)

    status = harmony("status", *args, "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    (row,) = json.loads(status.stdout)["hosts"]
    certificates = row["certificates"]
    assert certificates["read_with"] == "openssl"  # v1.31.4 has `certificate check`, not its --output
    assert certificates["files"] == 14  # 10 under server/tls and 4 of its agent's (no etcd)
    assert certificates["days_left"] in (19, 20) and certificates["warn_days"] == 30
    assert certificates["file"].startswith("/var/lib/rancher/k3s/")
    text = harmony("status", *args)
    assert f"certificates until {certificates['expires'][:10]} ({certificates['days_left']} days, " in text.stdout

    check = harmony("check", *args, *harmony.release_args())
    assert check.returncode == 1, check.stdout + check.stderr
    line = next(line for line in check.stdout.splitlines() if ": drifted: " in line)
    assert f"certificate {certificates['file']} expires in {certificates['days_left']} days" in line
    assert "within 30 days: restarting its k3s service renews it (k3s renews its certificates within 90 days" in line
    assert json.loads(harmony("check", *args, *harmony.release_args(), "--json").stdout)["hosts"][0][
        "certificates"]["days_left"] == certificates["days_left"]
    # a lower threshold lets it pass
    assert harmony("check", *args, *harmony.release_args(), "--cert-days", "10").returncode == 0

    # k3s's own view of them, as the release prints it (text on stderr; no --output before v1.31.9)
    said = host.sh("k3s certificate check 2>&1")
    assert "will expire within 90 days at" in said and "client-admin.crt: certificate CN=system:admin" in said
    assert "flag provided but not defined: -output" in host.sh("k3s certificate check --output json 2>&1 || true")

    host.sh("rm /etc/default/k3s && systemctl restart k3s")
    assert until(host.is_active, 60)
    renewed = json.loads(harmony("status", *args, "--json").stdout)["hosts"][0]["certificates"]
    assert renewed["days_left"] >= 364, renewed
    check = harmony("check", *args, *harmony.release_args())
    assert check.returncode == 0, check.stdout + check.stderr
    for name in AGENT_FILES:
        assert host.sh(f"openssl x509 -noout -checkend {300 * 86400} -in /var/lib/rancher/k3s/agent/{name}")


def test_a_host_without_openssl_says_so(harmony, host):
    up = harmony.up(host)
    assert up.returncode == 0, up.stdout + up.stderr
    host.sh("mv /usr/bin/openssl /usr/bin/openssl.away")
    try:
        args = (host.target, "--ssh-key", str(harmony.ssh_key), "--kubeconfig-server", host.api_url)
        status = harmony("status", *args)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "certificates not read: openssl is not installed on the host" in status.stdout
        assert harmony("check", *args, *harmony.release_args()).returncode == 0
    finally:
        host.sh("mv /usr/bin/openssl.away /usr/bin/openssl")
