"""Values are checked as what they are (harmony.values) before any host is touched, and the
commands harmony sends keep every value one quoted word (harmony.shell)."""

import subprocess

import pytest

from harmony import datakeys, operations, shell, values
from harmony.errors import BadInput
from harmony.k3d.settings import from_data as k3d_from_data
from harmony.k3s.settings import from_data

HOSTILE = ["$(touch /tmp/pwned)", "`touch /tmp/pwned`", "a;touch /tmp/pwned", "a|touch /tmp/pwned",
           "a'b\"c", "a\ntouch /tmp/pwned", "${IFS}x", "-rf", "/tmp/*"]


@pytest.mark.parametrize("url", [
    "https://github.com/k3s-io/k3s/releases/download",
    "http://10.0.0.5:8080/k3s",
    "https://artifactory.example.com/artifactory/api/generic/k3s-remote/",
    "https://[fd00::1]:8443/mirror",
    "https://nexus.example.com/repository/github-releases/k3s-io/k3s/releases/download",
    "https://mirror.example.com/a;b/$x/(c)/'d'",  # RFC 3986 allows these: they reach a host quoted
])
def test_urls_real_mirrors_use_are_taken(url):
    assert values.url_problem(url) is None


@pytest.mark.parametrize("url,problem", [
    ("http://$(touch${IFS}pwned;id)@mirror/k3s-io/k3s/releases/download", "a character no URL has"),
    ("http://$(id)@mirror/k3s", "holds credentials"),
    ("https://user:secret@mirror/k3s", "holds credentials"),
    ("https://mirror/`id`", "a character no URL has"),
    ("https://mirror/a b", "a character no URL has"),
    ("https://mirror/a\nb", "a character no URL has"),
    ("https://mirror/a|b", "a character no URL has"),
    ('https://mirror/"a', "a character no URL has"),
    ("https://mirror/%zz", "a character no URL has"),
    ("https://mirror/k3s?token=x", "no query or fragment"),
    ("https://mirror/k3s#x", "no query or fragment"),
    ("ftp://mirror/k3s", "must start with http:// or https://"),
    ("https:/mirror", "must start with"),
    ("https:///k3s", "must name a host"),
    ("https://-x/k3s", "must name a host"),
    ("https://mirror:99999/k3s", "is not a URL"),
    ("https://m/" + "a" * 3000, "at most 2048"),
])
def test_urls_that_are_not_a_mirror_s_are_refused(url, problem):
    assert problem in values.url_problem(url)


def test_proxies_may_hold_credentials_but_no_path_and_no_proxy_lists_hosts_and_networks():
    proxy = {"schemes": values.PROXY_SCHEMES, "credentials": True, "path": False}
    assert values.url_problem("http://user:p'a$s@proxy.example.com:3128", **proxy) is None
    assert values.url_problem("socks5://proxy:1080/", **proxy) is None
    assert "no path" in values.url_problem("http://proxy:3128/$(id)", **proxy)
    assert values.no_proxy_problem("localhost,127.0.0.1,.svc, .cluster.local,10.0.0.0/8,*.example.com,fd00::/8,"
                                   "registry:5000") is None
    for entry in HOSTILE:
        assert "which is not a host" in values.no_proxy_problem(f"localhost,{entry}"), entry


def test_networks_ports_addresses_paths_and_users():
    assert values.networks_problem("10.42.0.0/16,fd00:1::/56") is None
    assert "CIDR" in values.networks_problem("10.42.0.1")
    assert values.port_problem(6443) is None and values.port_problem("7443") is None
    for bad in (0, 65536, True, "6443;id", "-1"):
        assert values.port_problem(bad), bad
    assert values.ip_problem("0.0.0.0") is None and values.ip_problem("::1") is None
    assert values.path_problem("/opt/k3d-1.2/bin") is None
    assert values.user_problem("deploy") is None and values.user_problem("jane.doe@example.com") is None
    for bad in HOSTILE:
        assert values.networks_problem(bad) and values.ip_problem(bad) and values.path_problem(bad), bad
        assert values.host_problem(bad) and values.user_problem(bad), bad
    assert values.path_problem("relative/bin") and values.path_problem("/" + "a" * 5000)


@pytest.mark.parametrize("key", ["k3s_release_url", "k3s_channel_url", "http_proxy", "https_proxy", "no_proxy",
                                 "k3s_server_address", "k3s_registration_address", "k3s_node_name", "k3s_version",
                                 "k3s_channel", "k3s_role"])
@pytest.mark.parametrize("value", HOSTILE)
def test_every_string_key_that_reaches_a_host_refuses_shell_text(key, value):
    with pytest.raises(BadInput, match=f"^host h: (data '{key}'|invalid k3s)"):
        from_data({key: value}, "h")


@pytest.mark.parametrize("data,message", [
    ({"k3s_config": {"cluster-cidr": "10.42.0.0/16;touch /tmp/pwned"}}, "sets 'cluster-cidr' to a value k3s cannot read"),
    ({"k3s_config": {"https-listen-port": "6443 && id"}}, "must be a port number"),
    ({"k3s_registries": {"mirrors": {"docker.io": {"endpoint": ["https://u:p@m"]}}}}, "holds credentials"),
    ({"k3s_registries": {"mirrors": {"$(id)": {"endpoint": []}}}}, "names a registry '$(id)'"),
    ({"k3s_registries": {"configs": {"a b": {}}}}, "names a registry 'a b'"),
    ({"k3s_release_url": "https://m/" + "a" * 3000}, "...' (3,010 characters)"),
])
def test_k3s_settings_refuse_values_that_are_not_what_they_say(data, message):
    with pytest.raises(BadInput, match="^host h: ") as error:
        from_data(data, "h")
    assert message in str(error.value)


@pytest.mark.parametrize("data,message", [
    ({"k3d_bin_dir": "/opt/$(id)"}, "data 'k3d_bin_dir' must be an absolute path"),
    ({"k3d_api_host_ip": "0.0.0.0;id"}, "data 'k3d_api_host_ip' must be an IP address"),
    ({"k3d_release_url": "https://$(id)@m"}, "data 'k3d_release_url' holds credentials"),
])
def test_k3d_settings_refuse_values_that_are_not_what_they_say(data, message):
    with pytest.raises(BadInput, match=message):
        k3d_from_data(data, "h")


@pytest.mark.parametrize("key", ["ssh_user", "_sudo_user", "_su_user", "_doas_user", "ssh_hostname"])
def test_connection_keys_are_checked_too(key):
    with pytest.raises(BadInput, match=f"data '{key}'"):
        datakeys.check_data({key: "root;touch /tmp/pwned"}, "host h")


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_in_a_command_or_a_script_is_one_word_however_it_is_written(value, tmp_path):
    """What the host's shell sees is the value itself, and nothing runs."""
    marker = tmp_path / "pwned"
    value = value.replace("/tmp/pwned", str(marker))
    script = shell.assign(v=value) + 'printf %s "$v"; ' + shell.command("printf", "|%s", value, value)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=tmp_path).stdout
    assert out == value + f"|{value}|{value}"
    assert not marker.exists()


def test_the_download_script_holds_its_values_only_in_quoted_variables(tmp_path):
    """Issue #23: the script echoed the raw URL on a failed download. Now the URL, the path and
    the checksum appear once each, assigned, quoted, at the top; the fixed text after reads them."""
    url = "https://mirror.example/x$(touch$IFS.pwned);id/v1.31.4%2Bk3s1/k3s"
    dest = str(tmp_path / "bin;$(id)" / "k3s")
    script, = operations.binary._inner.__wrapped__(url=url, sha256="a" * 64, dest=dest, current=None,
                                                   stall_timeout=30)  # the step's own commands
    head, body = script.split("set -u\n", 1)
    assert url not in body and dest not in body and "a" * 64 not in body
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    shown = subprocess.run(["sh", "-c", head + 'printf "%s|%s" "$url" "$dest"'], capture_output=True, text=True,
                           cwd=tmp_path).stdout
    assert shown == f"{url}|{dest}"
    assert not list(tmp_path.iterdir())
