"""Downloads against release sites that behave like the real ones: redirects to expiring links
on another origin, transient failures, plain mirrors, HTTPS with a private CA, proxies, and a
pinned no-op that needs no release site at all."""

from __future__ import annotations

import contextlib
import shutil

import pytest

from tests.e2e.conftest import NEW, assert_untouched, needs_mirror, one_error_line, start_mirror
from tests.e2e.proxy import Proxy
from tests.e2e.test_failures import BINARY_PATH

CHECKSUMS_PATH = f"/k3s-io/k3s/releases/download/{NEW}/sha256sum-amd64.txt"
BINARY = BINARY_PATH.format(version=NEW)


def up_from(harmony, mirror, host, *extra: str, env: dict | None = None):
    """`harmony up` of one host from `mirror`, pinned to NEW (plain http only if it is http)."""
    allow = ["--allow-http"] if mirror.base.startswith("http://") else []
    return harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--version", NEW,
                   "--release-url", mirror.release_url, *allow, "--kubeconfig-server", host.api_url,
                   "--yes", *extra, env=env)


def trust(host, private_ca) -> None:
    """Put the test's CA in the host's system trust store, as its administrator would."""
    host.write("/usr/local/share/ca-certificates/harmony-test-ca.crt", private_ca.ca_cert.read_text())
    host.sh("update-ca-certificates >/dev/null")


@contextlib.contextmanager
def downgraded(mirror, *paths: str):
    mirror.downgrade.update(paths)
    try:
        yield
    finally:
        mirror.downgrade.difference_update(paths)


@needs_mirror
def test_redirects_to_another_origin_are_followed_on_the_controller_and_on_the_host(harmony, host):
    mirror = harmony.mirror
    seen = len(mirror.hits)
    result = harmony.up(host)
    assert result.returncode == 0, result.stdout + result.stderr
    hits = mirror.hits[seen:]
    controller = {h.client for h in hits if h.path == CHECKSUMS_PATH}
    assert controller and host.ip not in controller  # the controller asked for the checksums
    for path, client in ((CHECKSUMS_PATH, controller.pop()), (BINARY, host.ip)):
        asked = [i for i, h in enumerate(hits) if h.origin == "release" and h.path == path and h.client == client]
        assert asked, (path, client)
        # ... and followed the 302 to the blob server, another origin, for the same file.
        assert any(h.origin == "blob" and h.client == client for h in hits[asked[0] + 1:]), (path, client)
    assert NEW in host.sh("k3s --version") and host.is_active()


@needs_mirror
def test_stale_links_and_transient_answers_are_asked_for_again(harmony, host):
    mirror = harmony.mirror
    mirror.stale.update({CHECKSUMS_PATH: 1, BINARY: 1})
    mirror.transient.update({CHECKSUMS_PATH: [503], BINARY: [502]})
    seen = len(mirror.requests)
    try:
        result = harmony.up(host)
    finally:
        for faults in (mirror.stale, mirror.transient):
            faults.pop(CHECKSUMS_PATH, None)
            faults.pop(BINARY, None)
    assert result.returncode == 0, result.stdout + result.stderr
    asked = mirror.requests[seen:]
    # A 503, then a link that had expired (403 from the blob server), then one that works.
    assert asked.count(CHECKSUMS_PATH) == 3 and asked.count(BINARY) == 3
    assert NEW in host.sh("k3s --version") and host.is_active()


@needs_mirror
def test_a_host_with_wget_only_follows_redirects_and_asks_again_after_a_stale_link(harmony, host):
    host.sh("rm /usr/bin/curl && command -v wget")
    mirror = harmony.mirror
    mirror.stale[BINARY] = 1
    seen = len(mirror.hits)
    try:
        result = harmony.up(host)
    finally:
        mirror.stale.pop(BINARY, None)
    assert result.returncode == 0, result.stdout + result.stderr
    hits = [h for h in mirror.hits[seen:] if h.client == host.ip]
    assert [h.origin for h in hits] == ["release", "blob", "release", "blob"]  # 403, then the file
    assert NEW in host.sh("k3s --version") and host.is_active()


@needs_mirror
def test_a_plain_mirror_that_serves_downloads_itself(harmony, host, tmp_path):
    plain = start_mirror(tmp_path / "plain", redirect=False)
    try:
        result = up_from(harmony, plain, host)
    finally:
        plain.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert {h.origin for h in plain.hits} == {"release"}
    assert BINARY in plain.requests and CHECKSUMS_PATH in plain.requests
    assert host.is_active()


@needs_mirror
def test_an_https_mirror_with_a_private_ca(harmony, host, https_mirror, private_ca):
    trust(host, private_ca)
    trusted = {"SSL_CERT_FILE": str(private_ca.ca_cert)}
    untrusted = up_from(harmony, https_mirror, host)
    assert untrusted.returncode == 2
    assert "does not trust its TLS certificate" in one_error_line(untrusted)
    assert "SSL_CERT_FILE" in untrusted.stderr
    assert_untouched(host)

    seen = len(https_mirror.hits)
    result = harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--channel", "stable",
                     "--channel-url", https_mirror.channel_url, "--release-url", https_mirror.release_url,
                     "--kubeconfig-server", host.api_url, "--yes", env=trusted)
    assert result.returncode == 0, result.stdout + result.stderr
    assert NEW in host.sh("k3s --version") and host.is_active()
    assert any(h.origin == "blob" and h.client == host.ip for h in https_mirror.hits[seen:])
    again = up_from(harmony, https_mirror, host, env=trusted)
    assert again.returncode == 0 and "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout


@needs_mirror
def test_a_host_that_does_not_trust_the_mirror_is_told_how_to(harmony, host, https_mirror, private_ca):
    result = up_from(harmony, https_mirror, host, env={"SSL_CERT_FILE": str(private_ca.ca_cert)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "download failed after 1 try: this host does not trust the server's TLS certificate" in result.stdout
    assert "update-ca-certificates" in result.stdout
    assert_untouched(host)


@needs_mirror
def test_a_redirect_from_https_down_to_plain_http_is_refused(harmony, host, https_mirror, private_ca):
    trust(host, private_ca)
    trusted = {"SSL_CERT_FILE": str(private_ca.ca_cert)}
    with downgraded(https_mirror, CHECKSUMS_PATH):  # refused on the controller
        refused = up_from(harmony, https_mirror, host, env=trusted)
    assert refused.returncode == 2
    assert "redirects to plain http" in one_error_line(refused) and "--allow-http" in refused.stderr
    assert_untouched(host)

    with downgraded(https_mirror, BINARY):  # refused on the host (the checksums come over https)
        refused = up_from(harmony, https_mirror, host, env=trusted)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "download failed after 1 try: it redirects to plain http, which is refused" in refused.stdout
    assert_untouched(host)
    assert not any(h.origin == "blob-http" and h.client == host.ip for h in https_mirror.hits)


@needs_mirror
def test_the_controller_goes_through_https_proxy_unless_no_proxy(harmony, host, https_mirror, private_ca):
    proxy = Proxy().start()
    release, blob = (https_mirror.origin(name).split("://", 1)[1] for name in ("release", "blob"))
    plan = ["plan", host.target, "--ssh-key", str(harmony.ssh_key), "--channel", "stable",
            "--channel-url", https_mirror.channel_url, "--release-url", https_mirror.release_url]
    env = {"SSL_CERT_FILE": str(private_ca.ca_cert), "HTTPS_PROXY": proxy.url}
    try:
        proxied = harmony(*plan, env=env)
        assert proxied.returncode == 0, proxied.stdout + proxied.stderr
        assert f"CONNECT {release}" in proxy.asked and f"CONNECT {blob}" in proxy.asked
        shutil.rmtree(harmony.home / ".cache" / "harmony")  # the checksums must be fetched again
        asked = len(proxy.asked)
        direct = harmony(*plan, env={**env, "NO_PROXY": release.split(":")[0]})
        assert direct.returncode == 0, direct.stdout + direct.stderr
        assert proxy.asked[asked:] == []
    finally:
        proxy.stop()


@needs_mirror
def test_a_pinned_no_op_asks_the_release_site_nothing_and_works_while_it_is_down(harmony, host, tmp_path):
    own = start_mirror(tmp_path / "mirror")
    try:
        first = up_from(harmony, own, host)
        assert first.returncode == 0, first.stdout + first.stderr
        seen = len(own.hits)
        # The controller asked for each architecture's checksum file once (s390x: not published
        # by the stand-in release), and the host for its binary alone.
        asked = [h for h in own.hits if h.origin == "release"]
        assert sorted(h.path.rsplit("/", 1)[1] for h in asked if h.client != host.ip) == [
            "sha256sum-amd64.txt", "sha256sum-arm.txt", "sha256sum-arm64.txt", "sha256sum-s390x.txt"]
        assert [h.path for h in asked if h.client == host.ip] == [BINARY]
        again = up_from(harmony, own, host)
        assert again.returncode == 0 and "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
        assert own.hits[seen:] == []
    finally:
        own.stop()
    down = up_from(harmony, own, host)  # the mirror is gone: nothing listens there
    assert down.returncode == 0, down.stdout + down.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in down.stdout
    for command in ("plan", "check"):
        result = harmony(command, host.target, "--ssh-key", str(harmony.ssh_key), "--version", NEW,
                         "--release-url", own.release_url, "--allow-http",
                         "--kubeconfig-server", host.api_url)
        assert result.returncode == 0, (command, result.stdout + result.stderr)


@pytest.mark.parametrize("case", ["no init system", "no sudo", "no curl or wget", "unsupported architecture"])
def test_plan_predicts_each_refusal_of_up(harmony, start_host, case):
    host = start_host(init=None if case == "no init system" else "systemd")
    target, extra, expected = host.target, ["--runtime", "k3s"], {
        "no init system": "no systemd or OpenRC",
        "no sudo": "sudo asks for a password (or this user may not use sudo)",
        "no curl or wget": "neither curl nor wget is installed",
        "unsupported architecture": "k3s has no release for architecture 'mips'",
    }[case]
    if case == "no sudo":
        host.sh("useradd -m -s /bin/sh edge && mkdir -p /home/edge/.ssh && "
                "cp /root/.ssh/authorized_keys /home/edge/.ssh/ && chown -R edge /home/edge/.ssh")
        target = f"edge@127.0.0.1:{host.ssh_port}"
    elif case == "no curl or wget":
        host.sh("rm -f /usr/bin/curl /usr/bin/wget")
    elif case == "unsupported architecture":  # uname -m answers mips; everything else is real
        host.write("/usr/local/bin/uname", '#!/bin/sh\n[ "$1" = -m ] && echo mips || exec /usr/bin/uname "$@"\n')
        host.sh("chmod 755 /usr/local/bin/uname")
    args = [target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(), *extra]
    plan = harmony("plan", *args)
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert "would fail: " in plan.stdout and expected in plan.stdout, plan.stdout
    assert "host(s) would fail" in plan.stderr
    up = harmony("up", *args, "--kubeconfig-server", host.api_url, "--yes")
    assert up.returncode == 1 and expected in up.stdout, up.stdout + up.stderr
    assert_untouched(host)
