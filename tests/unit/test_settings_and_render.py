import subprocess

import pytest
import yaml

from harmony.errors import BadInput
from harmony.k3s import cluster, render
from harmony.k3s.service import Service
from harmony.k3s.settings import from_data


def single(settings, name="h"):
    return cluster.plan([(name, settings)])


def test_defaults():
    settings = from_data({}, "h")
    assert settings.role == "server" and settings.channel == "stable" and settings.version is None
    assert settings.start_timeout == 300 and from_data({"k3s_start_timeout": "20"}, "h").start_timeout == 20


@pytest.mark.parametrize("data,message", [
    ({"k3s_role": "boss"}, "'k3s_role' must be one of server, agent"),
    ({"k3s_version": "1.31"}, "invalid k3s version '1.31'"),
    ({"k3s_node_name": "Bad Name"}, "'k3s_node_name' must be a lower-case DNS name"),
    ({"k3s_node_labels": ["a"]}, "'k3s_node_labels' must map label names"),
    ({"k3s_node_taints": "a:NoSchedule"}, "'k3s_node_taints' must be a list"),
    ({"k3s_config": {"token": "x"}}, "sets 'token', which harmony manages"),
    ({"k3s_config": {"Bad Key": 1}}, "invalid k3s setting name"),
    ({"k3s_release_url": "ftp://x"}, "'k3s_release_url' must start with http:// or https://, not 'ftp://x'"),
    ({"http_proxy": "a\nb"}, "'http_proxy' must be a one-line string"),
    ({"k3s_start_timeout": "soon"}, "'k3s_start_timeout' must be a whole number from 1 to 86400"),
    ({"harmony_download_stall_timeout": 0}, "'harmony_download_stall_timeout' must be a whole number from 1"),
])
def test_bad_data_names_host_and_key(data, message):
    with pytest.raises(BadInput, match="^host h1: ") as error:
        from_data(data, "h1")
    assert message in str(error.value)


def test_config_yaml_holds_node_settings_and_passes_the_rest_through():
    settings = from_data({
        "k3s_node_labels": {"b": "2", "a": "1"},
        "k3s_node_taints": ["dedicated=edge:NoSchedule"],
        "k3s_config": {"disable": ["traefik"], "tls-san+": ["x.example"]},
    }, "h")
    text = render.config_yaml(settings, "Edge-1", single(settings), "h")
    assert text.startswith("# Managed by harmony")
    assert yaml.safe_load(text) == {
        "node-name": "edge-1",
        "node-label": ["a=1", "b=2"],
        "node-taint": ["dedicated=edge:NoSchedule"],
        "disable": ["traefik"],
        "tls-san+": ["x.example"],
        "tls-san": ["h"],
    }


def test_env_file_quotes_proxy_values_for_systemd_and_for_sh():
    settings = from_data({"https_proxy": "http://u:p'w$x@proxy:3128"}, "h")
    assert 'HTTPS_PROXY="http://u:p\'w$x@proxy:3128"' in render.env_file(settings, Service("server", "systemd"))
    sourced = render.env_file(settings, Service("server", "openrc"))
    shown = subprocess.run(["sh", "-c", 'eval "$(cat)"; printf %s "$HTTPS_PROXY"'], input=sourced,
                           capture_output=True, text=True, check=True).stdout
    assert shown == "http://u:p'w$x@proxy:3128"


def test_unit_matches_the_install_scripts_essentials():
    unit = render.service_file(Service("agent", "systemd"))
    for line in ("Type=notify", "KillMode=process", "Delegate=yes", "Restart=always",
                 "LimitNOFILE=1048576", "TimeoutStartSec=0", "WantedBy=multi-user.target",
                 "EnvironmentFile=-/etc/systemd/system/k3s-agent.service.env",
                 "ExecStart=/usr/local/bin/k3s agent"):
        assert line in unit.splitlines()


def test_openrc_script_matches_the_install_scripts_essentials():
    script = render.service_file(Service("agent", "openrc"))
    assert script.startswith("#!/sbin/openrc-run\n")
    for line in ("supervisor=supervise-daemon", "command=/usr/local/bin/k3s",
                 'command_args="agent >>/var/log/k3s-agent.log 2>&1"', 'pidfile="/var/run/k3s-agent.pid"',
                 "respawn_delay=5", "respawn_max=0", "if [ -f /etc/rancher/k3s/k3s-agent.env ]; then . /etc/rancher/k3s/k3s-agent.env; fi"):
        assert line in script.splitlines()
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0


def test_registries_take_secrets_from_the_environment_or_files_only(tmp_path, monkeypatch):
    monkeypatch.setenv("REG_PASSWORD", "pw-1")
    (tmp_path / "token").write_text("tok-2\n")
    settings = from_data({"k3s_registries": {
        "mirrors": {"docker.io": {"endpoint": ["https://mirror.example:5000"]}},
        "configs": {"mirror.example:5000": {"auth": {"username": "u", "password_env": "REG_PASSWORD"}},
                    "other.example": {"auth": {"token_file": str(tmp_path / "token")}}},
    }}, "h")
    assert yaml.safe_load(render.registries_yaml(settings)) == {
        "mirrors": {"docker.io": {"endpoint": ["https://mirror.example:5000"]}},
        "configs": {"mirror.example:5000": {"auth": {"username": "u", "password": "pw-1"}},
                    "other.example": {"auth": {"identitytoken": "tok-2"}}},
    }
    assert "pw-1" not in repr(settings)
    assert from_data({}, "h").registries is None  # not managed: a registries.yaml is left alone


@pytest.mark.parametrize("registries,message", [
    ({"configs": {"r": {"auth": {"password": "inline"}}}}, "gives r's password in the inventory: use password_env"),
    ({"configs": {"r": {"auth": {"password_env": "HARMONY_UNSET_VAR"}}}}, "names $HARMONY_UNSET_VAR for r"),
    ({"mirror": {}}, "must be a mapping with 'mirrors' and/or 'configs'"),
])
def test_bad_registries_are_named_without_secrets(registries, message):
    with pytest.raises(BadInput) as error:
        from_data({"k3s_registries": registries}, "h")
    assert message in str(error.value) and "inline" not in str(error.value)


def test_plain_http_downloads_need_allowing():
    from harmony.urls import DOWNLOAD_URLS, check_https

    data = {"k3s_release_url": "http://mirror.lan/k3s"}
    with pytest.raises(BadInput, match="'k3s_release_url' is plain http .* --allow-http"):
        check_https(data, "h", DOWNLOAD_URLS)
    check_https({**data, "harmony_allow_http": "true"}, "h", DOWNLOAD_URLS)
    check_https({"k3s_release_url": "https://mirror.lan/k3s"}, "h", DOWNLOAD_URLS)
