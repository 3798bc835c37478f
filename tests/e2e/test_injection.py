"""No value becomes shell text on a host (issue #23): hostile strings fed through every setting
that reaches a host, by `--set`, by an inventory's data and by harmony.yaml, are each refused as
bad input (exit 2, one line naming the key, nothing on the host) or passed through quoted; and no
marker file ever appears on the host.

The refusals cost no connection, so one host serves them all; the values that pass go through
one real `up` per init system (OpenRC's service sources its environment file with sh).
"""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.conftest import NEW, assert_untouched, each_init, needs_mirror, one_error_line, write_inventory
from tests.standin.mirror import DOWNLOAD_PREFIX

# Where a value run by a shell would leave its mark (`touch pwned` in root's home, or where the
# command ran), however the shell's quotes and splitting named the file.
MARKED = "find / /root /tmp -maxdepth 1 -name '*pwned*'"
HOSTILE = ["$(touch /tmp/pwned)", "`touch /tmp/pwned`", "x;touch /tmp/pwned", "x|touch /tmp/pwned",
           "x'\"$(touch /tmp/pwned)\"'", "x\ntouch /tmp/pwned", "${IFS}touch${IFS}/tmp/pwned",
           "x&&touch${IFS}pwned"]
# Every string setting that reaches a host, as `--set` gives it.
SET_KEYS = ["k3s_version", "k3s_channel", "k3s_release_url", "k3s_channel_url", "k3s_node_name", "k3s_role",
            "k3s_server_address", "k3s_registration_address", "http_proxy", "https_proxy", "no_proxy",
            "k3d_version", "k3d_release_url", "k3d_bin_dir", "k3d_api_host_ip", "harmony_cluster",
            "harmony_kubeconfig_server", "ssh_user", "_sudo_user"]


def structured(value: str) -> list[tuple[str, object]]:
    """The settings that take mappings and lists, each holding `value` where a host would see it."""
    return [("k3s_node_labels", {"site": value}), ("k3s_node_labels", {value: "x"}),
            ("k3s_node_taints", [f"{value}:NoSchedule"]), ("k3s_config", {"cluster-cidr": value}),
            ("k3s_config", {"https-listen-port": value}), ("k3s_config", {"node-ip": f"{value}\n"}),
            ("k3s_config", {value: "x"}), ("k3s_registries", {"mirrors": {value: {"endpoint": []}}}),
            ("k3s_registries", {"mirrors": {"docker.io": {"endpoint": [f"https://m/{value}"]}}}),
            ("k3d_ports", [value])]


def some(index: int, count: int = 3) -> list[str]:
    """`count` of the hostile values for the setting at `index`, in turn: every value goes through
    many settings, every setting takes several, and the run stays short (the unit tests give every
    value to every setting, in process)."""
    return [HOSTILE[(index + i) % len(HOSTILE)] for i in range(count)]


def assert_refused(result, key: str) -> None:
    assert result.returncode == 2, (key, result.stdout + result.stderr)
    assert key in one_error_line(result), key


def assert_no_marker(host) -> None:
    assert host.sh(MARKED) == ""


def test_hostile_values_are_refused_before_any_host_is_touched(harmony, host, tmp_path):
    for index, key in enumerate(SET_KEYS):
        for value in some(index):
            # No --version or --release-url: an option would win over the data --set gives.
            assert_refused(harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--yes",
                                   "--set", f"{key}={value}"), key)
    for value in some(0):
        assert_refused(harmony("up", host.target, "--ssh-user", value, "--ssh-key", str(harmony.ssh_key), "--yes"),
                       "--ssh-user")
    for index in range(len(structured(""))):
        for value in some(index):
            key, data = structured(value)[index]
            inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (host, {key: data})})
            assert_refused(harmony.up_cluster(inventory, host), key)
    assert_untouched(host)
    assert_no_marker(host)


def test_hostile_values_in_harmony_yaml_are_refused_before_any_host_is_touched(harmony, host, tmp_path):
    """cluster.k3s.* and cluster.k3d.* become the data keys k3s_* and k3d_*; cluster.* its own."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)

    def settings(value: str) -> list[tuple[str, dict]]:
        return [("release_url", {"k3s": {"release_url": value}}),
                ("release_url", {"k3s": {"release_url": f"{harmony.mirror.release_url}/{value}"}}),
                ("channel_url", {"k3s": {"channel_url": f"http://{value}/channels"}}),
                ("registration_address", {"k3s": {"registration_address": value}}),
                ("node_labels", {"k3s": {"node_labels": {"site": value}}}),
                ("node_taints", {"k3s": {"node_taints": [value]}}),
                ("service-cidr", {"k3s": {"config": {"service-cidr": value}}}),
                ("registries", {"k3s": {"registries": {"mirrors": {value: {"endpoint": []}}}}}),
                ("bin_dir", {"k3d": {"bin_dir": f"/opt/{value}"}}),
                ("api_host_ip", {"k3d": {"api_host_ip": value}}),
                ("version", {"version": value}),
                ("name", {"name": value})]

    for index in range(len(settings(""))):
        for value in some(index):
            key, cluster = settings(value)[index]
            spec = {"cluster": {"version": NEW, "allow_http": True, "kubeconfig_server": host.api_url, **cluster},
                    "target": {"servers": [host.target]}, "ssh": {"key": str(harmony.ssh_key)}}
            (root / "harmony.yaml").write_text(yaml.safe_dump(spec))
            assert_refused(harmony("up", "--yes", cwd=root), key)
    assert_untouched(host)
    assert_no_marker(host)


@needs_mirror
def test_the_reported_injection_is_refused_before_any_host_is_touched(harmony, host):
    """Issue #23's reproduction, word for word: a release URL whose credentials are a command
    substitution, and a mirror that answers the first try with 404."""
    mirror = harmony.mirror
    mirror.transient[f"{DOWNLOAD_PREFIX}/v1.31.3+k3s1/k3s"] = [404]
    address = mirror.base.removeprefix("http://")
    result = harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--yes", "--allow-http",
                     "--version", "v1.31.3+k3s1", "--allow-downgrade",
                     "--release-url", f"http://$(touch${{IFS}}pwned;id)@{address}/k3s-io/k3s/releases/download")
    mirror.transient.clear()
    assert_refused(result, "k3s_release_url")
    assert "uid=" not in result.stdout + result.stderr
    assert not [path for path in mirror.requests if "v1.31.3" in path]  # not even the controller asked
    assert_untouched(host)
    assert_no_marker(host)


# What a shell would run, written only with characters RFC 3986 allows in a path or userinfo.
ALLOWED_BY_URLS = "x$(cd;touch$IFS.pwned)"


@pytest.fixture
def hostile_release_path(mirror):
    """The mirror's releases also under ALLOWED_BY_URLS, as a mirror may name its paths."""
    link = mirror.root / ALLOWED_BY_URLS
    link.symlink_to(mirror.root / DOWNLOAD_PREFIX.lstrip("/"))
    yield ALLOWED_BY_URLS
    link.unlink()


@needs_mirror
@each_init
def test_values_a_url_and_a_file_allow_reach_the_host_quoted(harmony, host, tmp_path, hostile_release_path):
    """What a URL, a token and a proxy may hold that a shell would run: `$(...)` in a mirror's
    path (on a failed download the script echoes the URL), in a proxy's password (the OpenRC
    service sources its environment file), and as the token (a file of its own)."""
    mirror, hostile = harmony.mirror, hostile_release_path
    release_url = f"{mirror.base}/{hostile}"
    proxy = f"http://u:{hostile}@proxy.invalid:3128"
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (host, {"https_proxy": proxy, "k3s_token": hostile})})

    def up():
        return harmony("up", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key), "--version", NEW,
                       "--release-url", release_url, "--allow-http", "--kubeconfig-server", host.api_url, "--yes")

    mirror.transient[f"/{hostile}/{NEW}/k3s"] = [404]
    failed = up()
    assert_no_marker(host)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"download failed after 1 try: the server answered 404 (no such file): {release_url}/" in failed.stdout

    result = up()
    assert result.returncode == 0, result.stdout + result.stderr
    # k3s's own environment holds the value as it was given, read by systemd or sourced by sh.
    environment = host.sh("for p in $(pgrep -f '/usr/local/bin/k3s server'); do tr '\\0' '\\n' < /proc/$p/environ; done")
    assert f"HTTPS_PROXY={proxy}" in environment.splitlines()
    assert host.sh("cat /etc/rancher/k3s/token") == hostile
    assert host.is_active()
    assert_no_marker(host)
