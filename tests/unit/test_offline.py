"""Offline `plan` and `check` (issue #28): the release resolved from what is known, each unknown
named with why; a host planned from its facts; `up`'s resolution unchanged (it stops, exit 2).

The sites are really unreachable here: a closed port on 127.0.0.1, asked through the same
`harmony.fetch` as a run (its pauses between tries skipped)."""

from __future__ import annotations

import pytest

from harmony import fetch, localstate, releases
from harmony.errors import BadInput, Unreachable
from harmony.k3d import resolve as k3d_resolve
from harmony.k3d.runtime import K3D
from harmony.k3d.settings import from_data as k3d_settings
from harmony.k3s import resolve as k3s_resolve
from harmony.k3s.runtime import K3S
from harmony.k3s.settings import from_data as k3s_settings
from harmony.resolved import Resolved, Unknown
from harmony.steps import Flow, Request, known
from harmony.targets import Target

CLOSED = "https://127.0.0.1:9"  # nothing listens: connection refused
VERSION = "v1.31.4+k3s1"
OFFLINE = {"k3s_channel_url": f"{CLOSED}/channels", "k3s_release_url": f"{CLOSED}/k3s",
           "k3d_release_url": f"{CLOSED}/k3d"}


@pytest.fixture(autouse=True)
def no_pauses_and_no_kept_checksums(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.time, "sleep", lambda seconds: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))


def k3s_hosts(**data) -> list[tuple[str, object]]:
    return [("s1", k3s_settings({**OFFLINE, **data}, "s1"))]


def test_up_still_stops_with_one_line_where_the_channel_server_cannot_be_reached():
    with pytest.raises(Unreachable) as stopped:
        k3s_resolve.resolve(k3s_hosts())
    assert isinstance(stopped.value, BadInput) and stopped.value.exit_code == 2
    assert str(stopped.value).startswith(f"cannot reach the k3s channel server at {CLOSED}/channels/stable: ")
    assert str(stopped.value).endswith("; check --channel-url, or pin --version")


def test_offline_a_channel_leaves_the_version_and_its_checksums_unknown():
    resolved = k3s_resolve.resolve(k3s_hosts(k3s_channel="v1.31"), offline=True)
    assert resolved.version is None and resolved.sha256 == {}
    (unknown,) = resolved.unknown
    assert unknown.what == "VERSION: the v1.31 channel's current k3s release"
    assert unknown.why.startswith(f"cannot reach {CLOSED}/channels/v1.31: ")
    assert unknown.fix == "check --channel-url, or pin --version"  # options, as up's one line names them
    assert resolved.cluster.servers == ("s1",)  # the cluster's shape needs no site


def test_offline_a_pinned_version_is_known_and_its_checksums_are_not():
    resolved = k3s_resolve.resolve(k3s_hosts(k3s_version=VERSION), offline=True)
    assert resolved.version == VERSION and resolved.sha256 == {}
    (unknown,) = resolved.unknown
    assert unknown.what == f"the sha256 of k3s {VERSION}'s downloads"
    assert unknown.why.startswith(f"cannot reach {CLOSED}/k3s/v1.31.4%2Bk3s1/sha256sum-")
    assert unknown.fix == "check --release-url and the network"


def test_offline_checksums_kept_from_an_earlier_run_are_known():
    url = releases.download_url(f"{CLOSED}/k3s", VERSION, "sha256sum-amd64.txt")
    localstate.keep(url, f"{'a' * 64}  k3s\n")
    for name in ("sha256sum-arm64.txt", "sha256sum-arm.txt", "sha256sum-s390x.txt"):
        localstate.keep(releases.download_url(f"{CLOSED}/k3s", VERSION, name), "")  # known to be absent
    resolved = k3s_resolve.resolve(k3s_hosts(k3s_version=VERSION), offline=True)
    assert resolved.unknown == ()
    assert resolved.sha256 == {releases.download_url(f"{CLOSED}/k3s", VERSION, "k3s"): "a" * 64}


def test_offline_k3d_names_the_channel_and_its_own_checksums():
    resolved = k3d_resolve.resolve(k3d_settings(OFFLINE, "@local"), offline=True)
    assert resolved.version is None and resolved.sha256 == {}
    assert [(u.what, u.fix) for u in resolved.unknown] == [
        ("VERSION: the stable channel's current k3s release", "check --channel-url, or pin --version"),
        ("the sha256 of k3d v5.7.4's executables", "check --set k3d_release_url=URL and the network")]
    with pytest.raises(Unreachable, match="cannot reach the k3s channel server"):
        k3d_resolve.resolve(k3d_settings(OFFLINE, "@local"))


def test_an_untrusted_certificate_is_no_offline_unknown(monkeypatch):
    """A mirror whose TLS this machine does not trust is the user's to fix: offline or not, it
    stops the command with the fix (SSL_CERT_FILE)."""
    import httpx

    def untrusted(*args, **kwargs):
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    monkeypatch.setattr(fetch, "_follow", untrusted)
    with pytest.raises(BadInput, match="SSL_CERT_FILE") as stopped:
        k3s_resolve.resolve(k3s_hosts(), offline=True)
    assert not isinstance(stopped.value, Unreachable)


def flow(runtime, settings, resolved: Resolved) -> Flow:
    made = Flow(Request(Target("@local", "this machine"), None, name="shop"))
    made.runtime, made.settings, made.resolved = runtime, settings, resolved
    return made


UNREACHED = (Unknown("VERSION: the stable channel's current k3s release", "cannot reach X: refused",
                     "check --channel-url, or pin --version"),)


@pytest.mark.parametrize("installed,status,reason", [
    ("", "would change", f"has no k3s: up would install k3s VERSION from {CLOSED}/k3s/VERSION/k3s-arm64"),
    ("v1.30.8+k3s1", "unknown", "has k3s v1.30.8+k3s1: whether VERSION is another release is not known"),
])
def test_a_k3s_host_is_planned_from_its_facts_where_the_version_is_not_known(installed, status, reason):
    settings = dict(k3s_hosts())
    planned = known._plan_row(flow(K3S, settings, Resolved("k3s", None, unknown=UNREACHED)),
                              {"host": "s1", "reachable": True, "version": installed, "arch": "aarch64"})
    assert (planned.status, planned.reason) == (status, reason)
    assert planned.details == {"installed": installed or None, "downloads": [f"{CLOSED}/k3s/VERSION/k3s-arm64"]}


def test_a_k3s_host_of_an_unknown_architecture_lists_every_binary_and_one_out_of_reach_says_why():
    settings = dict(k3s_hosts())
    offline = flow(K3S, settings, Resolved("k3s", None, unknown=UNREACHED))
    planned = known._plan_row(offline, {"host": "s1", "reachable": True, "version": ""})
    assert [url.rsplit("/", 1)[1] for url in planned.details["downloads"]] == ["k3s", "k3s-arm64", "k3s-armhf",
                                                                              "k3s-s390x"]
    out = known._plan_row(offline, {"host": "s1", "reachable": False, "reason": "Could not connect"})
    assert (out.status, out.reason) == ("unreachable", "Could not connect")


def test_a_k3d_host_is_planned_with_its_executable_and_the_k3s_image():
    settings = k3d_settings({**OFFLINE, "harmony_cluster": "shop"}, "@local")
    offline = flow(K3D, settings, Resolved("k3d", None, unknown=UNREACHED))
    planned = known._plan_row(offline, {"host": "@local", "reachable": True, "system": "Darwin", "arch": "arm64",
                                        "cluster": None})
    assert planned.details["downloads"] == [f"{CLOSED}/k3d/v5.7.4/k3d-darwin-arm64", "docker.io/rancher/k3s:VERSION"]
    running = {"host": "@local", "reachable": True, "system": "Linux", "arch": "x86_64",
               "cluster": {"image": "rancher/k3s:v1.31.4-rc1-k3s1", "servers": 1, "agents": 0, "running": 1}}
    assert K3D.installed(running) == "v1.31.4-rc1+k3s1"


def test_what_could_not_be_known_is_said_and_in_the_json():
    offline = flow(K3S, dict(k3s_hosts()), Resolved("k3s", None, unknown=UNREACHED))
    lines = known.said(offline)
    assert lines[0] == "release: k3s VERSION, run by k3s"
    assert lines[1] == ("unknown: VERSION: the stable channel's current k3s release (cannot reach X: refused): "
                        "check --channel-url, or pin --version")
    assert lines[2] == ("unknown: what up's steps would change on each host (its files, config and service) (its "
                        "dry run needs the release's version): pin --version to plan them")
    assert lines[-1].startswith("up installs nothing it cannot verify")
    assert known.as_json(offline) == {
        "runtime": "k3s", "version": None,
        "unknown": [{"what": "VERSION: the stable channel's current k3s release", "why": "cannot reach X: refused",
                     "fix": "check --channel-url, or pin --version"},
                    {"what": known.STEPS_UNKNOWN.what, "why": known.STEPS_UNKNOWN.why,
                     "fix": "pin --version to plan them"}]}
    pinned = flow(K3S, dict(k3s_hosts()), Resolved("k3s", VERSION, unknown=UNREACHED))
    assert len(known.said(pinned)) == 3 and known.said(pinned)[0] == f"release: k3s {VERSION}, run by k3s"


def test_with_a_pinned_version_the_dry_run_plans_every_step_and_installs_no_unverified_binary(tmp_path):
    """Offline with the version pinned (the checksums not known), `up`'s dry run runs as ever:
    the server that reports the release asked for installs nothing, the agent without k3s would
    install it, and the step that would do that refuses to run: it has no checksum to verify."""
    import subprocess

    from harmony import operations
    from tests.unit import fakehosts

    path = fakehosts.inventory(tmp_path, ["s1"], ["a1"], running=False, facts={"s1": [
        f"version\tk3s version {VERSION} (abc)", *fakehosts.in_place("/usr/local/bin/k3s", b"k3s", "755")]})
    resolved = (f"{{'k3s_airgap_dir': '', 'k3s_release_url': {CLOSED + '/k3s'!r}, 'harmony_resolved': Resolved("
                f"'k3s', {VERSION!r}, {{}}, Cluster(('@fake/s1',), ('@fake/a1',), '10.0.0.1'), "
                "(Unknown('the sha256', 'cannot reach it', 'check --release-url'),))}")
    hosts = fakehosts.run(tmp_path, path, dry=True, data=resolved)
    server, agent = hosts["hosts"]["@fake/s1"], hosts["hosts"]["@fake/a1"]
    assert not any(" | binary | " in name for name in server["planned"]), server["planned"]
    assert f"k3s up | binary | Install k3s {VERSION}" in agent["changed"]
    assert server["refused"] == agent["refused"] == ""

    install = operations.binary.__wrapped__.__wrapped__  # the step's own commands, without pyinfra's host
    (command,) = install(url=f"{CLOSED}/k3s/x", sha256=None, dest="/usr/local/bin/k3s", current=None, stall_timeout=1)
    ran = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10)
    assert ran.returncode == 1
    assert ran.stderr.strip() == f"harmony: refusing to install {CLOSED}/k3s/x: its sha256 is not known"



def test_offline_a_hosts_own_k3d_stands_in_for_the_release_and_none_is_installed_unverified():
    from harmony.facts import FileState
    from harmony.k3d.facts import K3dHostState
    from harmony.k3d.hostrun import K3dHostRun

    settings = k3d_settings(OFFLINE, "@local")
    state = K3dHostState(system="Linux", arch="x86_64", home="/home/u", bin_dir="/home/u/.local/bin",
                         files={"/home/u/.local/bin/k3d": FileState("755", "c" * 64)})
    offline = Resolved("k3d", VERSION, {}, unknown=UNREACHED)
    assert K3dHostRun(settings, offline, state=state).k3d_sha256 == "c" * 64
    assert K3dHostRun(settings, offline, state=K3dHostState(system="Linux", arch="x86_64", home="/home/u",
                                                            bin_dir="/home/u/.local/bin")).k3d_sha256 is None
    published = Resolved("k3d", VERSION, {f"{CLOSED}/k3d/v5.7.4/k3d-linux-amd64": "d" * 64})
    assert K3dHostRun(settings, published, state=state).k3d_sha256 == "d" * 64
