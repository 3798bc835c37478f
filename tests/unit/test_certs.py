"""k3s's certificates in the host fact: read only where asked, parsed from openssl's lines or
`k3s certificate check --output json`, and the threshold `check` applies."""

from __future__ import annotations

import calendar
import json
import subprocess

import pytest

from harmony.k3s import facts
from harmony.k3s.runtime import K3S, certificate_problem, renew_days

MAY_2026 = calendar.timegm((2026, 5, 15, 21, 50, 12))
DAY = 86400


def test_certificates_are_read_only_where_asked():
    assert "certificate check" not in facts.K3sHost().command()
    assert "openssl x509" not in facts.K3sHost().command(images="docker.io/library/web:1")
    asked = facts.K3sHost().command(certs="yes")
    assert "certificate check --output json" in asked and "openssl x509 -noout -enddate" in asked
    assert K3S.fact_arguments({}) == {"certs": "yes"}


def test_openssl_lines_give_each_file_its_expiry():
    state = facts.parse([
        "certfile\t/var/lib/rancher/k3s/server/tls/client-admin.crt",
        "notAfter=May 15 21:50:12 2026 GMT",
        "certfile\t/var/lib/rancher/k3s/agent/client-kubelet.crt",
        "notAfter=Jun  1 00:00:00 2026 GMT",
        "certfile\t/var/lib/rancher/k3s/agent/broken.crt",  # openssl said nothing on stdout
    ])
    assert state.cert_reader == "openssl"
    assert state.certificates == {"/var/lib/rancher/k3s/server/tls/client-admin.crt": MAY_2026,
                                  "/var/lib/rancher/k3s/agent/client-kubelet.crt": calendar.timegm((2026, 6, 1, 0, 0, 0))}


def test_k3s_certificate_check_json_takes_each_files_earliest():
    printed = json.dumps({"Certificates": [
        {"Filename": "client-admin.crt", "Subject": "system:admin", "Issuer": "k3s-client-ca@1", "Usages": ["ClientAuth"],
         "ExpiryTime": "2026-05-15T21:50:12Z", "ResidualTime": 1, "Status": "OK"},
        {"Filename": "client-admin.crt", "Subject": "k3s-client-ca@1", "Issuer": "k3s-client-ca@1", "Usages": ["CertSign"],
         "ExpiryTime": "2035-05-13T21:50:12Z", "ResidualTime": 1, "Status": "OK"},
        {"Filename": "serving-kubelet.crt", "Subject": "n1", "Issuer": "k3s-server-ca@1", "Usages": ["ServerAuth"],
         "ExpiryTime": "2026-05-15T23:50:12.5+02:00", "ResidualTime": 1, "Status": "WARNING"},
        {"Filename": "future.crt", "ExpiryTime": "2020-01-01T00:00:00Z", "Status": "NOT YET VALID"},
    ]})
    state = facts.parse([f"certjson\t{printed}"])
    assert state.cert_reader == "k3s"
    assert state.certificates == {"client-admin.crt": MAY_2026, "serving-kubelet.crt": MAY_2026}
    assert facts.parse(["certjson\tnot json"]).certificates == {}


def test_the_summary_names_the_earliest_and_its_days():
    state = facts.HostState(certificates={"/a.crt": MAY_2026 + DAY, "/b.crt": MAY_2026}, cert_reader="openssl")
    summary = facts.certificates_summary(state, MAY_2026 - 20 * DAY - 3600)
    assert summary == {"read_with": "openssl", "files": 2, "file": "/b.crt", "expires": "2026-05-15T21:50:12Z",
                       "days_left": 20}
    assert facts.certificates_summary(state, MAY_2026 + 1)["days_left"] == -1  # expired: negative
    unread = facts.certificates_summary(facts.HostState(cert_reader="none"), 0)
    assert unread["files"] == 0 and "openssl is not installed" in unread["unread"]
    assert facts.certificates_summary(facts.HostState(), 0) == {"read_with": "", "files": 0}


@pytest.mark.parametrize("version, days", [
    ("v1.31.4+k3s1", 90), ("v1.31.9+k3s1", 120), ("v1.30.12+k3s1", 90), ("v1.30.13+k3s1", 120),
    ("v1.33.0+k3s1", 90), ("v1.33.1+k3s1", 120), ("v1.34.1+k3s1", 120), ("v1.29.15+k3s1", 90), ("", 90)])
def test_k3s_renewal_window_by_release(version, days):
    assert renew_days(version) == days


def test_check_lists_a_node_within_the_threshold_and_says_what_renews_it():
    near = {"file": "/var/lib/rancher/k3s/server/tls/client-admin.crt", "expires": "2026-05-15T21:50:12Z",
            "days_left": 20}
    said = certificate_problem(near, "v1.31.4+k3s1", "k3s", 30)
    assert said.startswith("certificate /var/lib/rancher/k3s/server/tls/client-admin.crt expires in 20 days "
                           "(2026-05-15T21:50:12Z), within 30 days: restarting its k3s service renews it")
    assert "within 90 days of expiry each time it starts" in said
    assert certificate_problem(near, "v1.31.4+k3s1", "k3s", 20) is None  # 20 days left: not within 20
    assert "expired 3 days ago" in certificate_problem({**near, "days_left": -3}, "v1.31.4+k3s1", "k3s-agent", 30)
    far = certificate_problem({**near, "days_left": 100}, "v1.31.4+k3s1", "k3s", 200)
    assert far.endswith("k3s renews it when it starts within 90 days of its expiry; harmony certs rotate renews it now")
    assert said.endswith("or harmony certs rotate, node by node")
    assert certificate_problem({"read_with": "openssl", "files": 0}, "", "", 30) is None


def test_status_row_carries_the_threshold_and_differences_list_it():
    class Host:
        name, data = "h1", {"k3s_cert_days": 40}

    class Settings:
        def node(self, hostname):
            return hostname

    fact = {"hostname": "n1", "version": "v1.31.4+k3s1", "staged": [], "role": "server", "unit": "k3s",
            "service": "active", "active": True,
            "certificates": {"read_with": "openssl", "files": 14, "file": "/x.crt", "expires": "2026-05-15T21:50:12Z",
                             "days_left": 35}}
    row = K3S.status_row(Host(), fact, {}, "harmony", {"h1": Settings()})
    assert row["certificates"]["warn_days"] == 40
    assert any("certificate /x.crt expires in 35 days" in said for said in K3S.differences(row))
    assert "certificates until 2026-05-15 (35 days, x.crt)" in K3S.status_line(row)


def test_the_threshold_is_checked_as_input():
    from harmony.errors import BadInput
    from harmony.k3s.runtime import cert_days

    assert cert_days({}, "h1") == 30 and cert_days({"k3s_cert_days": "45"}, "h1") == 45
    with pytest.raises(BadInput, match="k3s_cert_days"):
        cert_days({"k3s_cert_days": 0}, "h1")


def test_the_script_reads_the_files_there_with_one_openssl_each(tmp_path, monkeypatch):
    """The fact's certificate fragment under dash, over real files: no k3s binary (so no
    `certificate check`), two of the files present."""
    made = []
    for name in ("client-admin", "client-kubelet"):
        crt = tmp_path / f"{name}.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(tmp_path / f"{name}.key"), "-out", str(crt), "-days", "20",
                        "-subj", f"/CN={name}"], check=True, capture_output=True)
        made.append(str(crt))
    monkeypatch.setattr(facts, "CERT_FILES", (made[0], str(tmp_path / "absent.crt"), made[1]))
    script = facts._certs_script(str(tmp_path / "no-k3s"))
    lines = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    state = facts.parse(lines)
    assert state.cert_reader == "openssl" and set(state.certificates) == set(made)
    assert facts.certificates_summary(state, __import__("time").time())["days_left"] in (19, 20)
    empty = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                           env={"PATH": str(tmp_path)}).stdout  # no openssl on PATH
    assert empty.strip() == "certreader\tnone"


def test_certs_rotate_chooses_every_node_or_those_expiring_within_the_days_given():
    from harmony.k3s.rotation import reason

    near = {"file": "/var/lib/rancher/k3s/server/tls/client-admin.crt", "expires": "2026-05-15T21:50:12Z",
            "days_left": 20}
    assert reason(near, None) == "earliest: client-admin.crt expires in 20 days"
    assert reason(near, 30) == "client-admin.crt expires in 20 days, within 30"
    assert reason(near, 20) == ""  # 20 days left is not within 20: kept
    assert reason({**near, "days_left": -2}, 1) == "client-admin.crt expired 2 days ago, within 1"
    unread = {"read_with": "", "files": 0, "unread": "openssl is not installed on the host"}
    assert reason(unread, 30) == reason(unread, None) == "their expiry could not be read"


def test_a_failed_rotation_starts_k3s_again_and_fails_the_host():
    import subprocess

    from harmony.k3s.rotation import stopped_and_rotated
    from harmony.k3s.service import Service

    command = stopped_and_rotated(Service("agent", "systemd"))
    assert command.startswith("systemctl stop k3s-agent.service && { /usr/local/bin/k3s certificate rotate || {")
    # run with stand-ins for systemctl and a k3s whose rotation fails: k3s is started again
    script = command.replace("/usr/local/bin/k3s", "false").replace("systemctl", "echo systemctl")
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout.split("\n")[:2] == ["systemctl stop k3s-agent.service", "systemctl start k3s-agent.service"]
    assert "harmony: k3s certificate rotate failed; k3s-agent was started again on its certificates" in done.stderr
