"""Input checked before any host is touched: values k3s or Kubernetes would refuse, unknown
keys, wrong types; and inventory data that stands for an option is honoured like the option."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.conftest import NEW, assert_untouched, one_error_line, until, write_inventory


@pytest.mark.parametrize("data,message", [
    ({"k3s_node_labels": {"site": "ber\rlin"}}, "data 'k3s_node_labels' has 'site'"),
    ({"k3s_node_labels": {"site": "a\u2028b"}}, "value must be empty, or 1 to 63"),
    ({"k3s_node_labels": {"site": "x\x85"}}, "value must be empty, or 1 to 63"),
    ({"k3s_node_labels": {"a=b,token": "x"}}, "a key's name must be 1 to 63"),
    ({"k3s_node_labels": {"site": "v" * 100_000}}, "value must be empty, or 1 to 63"),
    ({"k3s_node_taints": ["gpu=true:Sometimes"]}, "expected key=value:Effect"),
    ({"k3s_config": {"node-ip": "10.0.0.1\nextra: 1"}}, "sets 'node-ip' to a value k3s cannot read"),
    ({"k3s_versoin": "v1.31.4+k3s1"}, "unknown data key 'k3s_versoin': did you mean 'k3s_version'?"),
    ({"ssh_port": "2501"}, "data 'ssh_port' must be a port number"),
], ids=["cr", "line-separator", "nel", "key", "long", "taint", "config-newline", "typo", "port-string"])
def test_values_k3s_cannot_take_are_refused_before_any_host_is_touched(harmony, host, tmp_path, data, message):
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (host, data)})
    for command in ("plan", "up"):
        result = harmony.up_cluster(inventory, host) if command == "up" else harmony(
            "plan", str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key), *harmony.release_args())
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in one_error_line(result)
    assert_untouched(host)


@pytest.mark.parametrize("item,message", [
    ("__class__=x", "--set __class__: not a data key"),
    ("k3s_versoin=v1.31.4+k3s1", "did you mean 'k3s_version'?"),
])
def test_set_takes_only_keys_something_reads(harmony, host, item, message):
    result = harmony.up(host, "--set", item)
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert_untouched(host)


def test_data_that_stands_for_an_option_is_honoured_and_the_option_wins(harmony, host, tmp_path):
    """harmony_kubeconfig_server, harmony_cluster, harmony_runtime and harmony_allow_http in the
    data, without their options (--kubeconfig-server, --name, --runtime, --allow-http)."""
    data = {"harmony_kubeconfig_server": host.api_url, "harmony_cluster": "edge", "harmony_runtime": "k3s",
            "harmony_allow_http": True, "k3s_version": "v1.31.4+k3s1", "k3s_release_url": harmony.mirror.release_url}
    inventory = write_inventory(tmp_path / "edge.py", servers={"s1": (host, {})}, data=data)
    base = [str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key)]
    result = harmony("up", *base, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runtime: k3s" in result.stderr
    config = yaml.safe_load(harmony.kubeconfig.read_text())
    (cluster,) = [c["cluster"] for c in config["clusters"] if c["name"] == "edge"]
    assert cluster["server"] == host.api_url  # not the 127.0.0.1:6443 k3s writes, nor the bridge address
    status = json.loads(harmony("status", *base, "--json").stdout)
    assert status["cluster"] == "edge" and status["hosts"][0]["healthy"]

    # The options win: another name, and plain http refused without the data's allowance.
    renamed = harmony("up", *base, "--name", "edge2", "--yes")
    assert renamed.returncode == 0, renamed.stdout + renamed.stderr
    assert "cluster 'edge2'" in renamed.stdout
    wrong = harmony("up", *base, "--runtime", "k3d", "--yes")
    assert wrong.returncode == 2 and "the k3d release site" in one_error_line(wrong)  # k3d, as asked
    write_inventory(inventory, servers={"s1": (host, {})}, data={**data, "harmony_allow_http": False})
    refused = harmony("up", *base, "--yes")
    assert refused.returncode == 2 and "plain http" in one_error_line(refused)
    allowed = harmony("up", *base, "--allow-http", "--yes")
    assert allowed.returncode == 0 and "1 host: 0 changed, 1 unchanged, 0 failed" in allowed.stdout


def test_a_wrong_sudo_password_is_named_as_such(harmony, host):
    host.sh("useradd -m -s /bin/sh -G sudo ops && echo 'ops:right-pw-1' | chpasswd && "
            "mkdir -p /home/ops/.ssh && cp /root/.ssh/authorized_keys /home/ops/.ssh/ && "
            "chown -R ops /home/ops/.ssh")
    result = harmony("up", f"ops@127.0.0.1:{host.ssh_port}", "--ssh-key", str(harmony.ssh_key),
                     *harmony.release_args(), "--kubeconfig-server", host.api_url,
                     "--sudo-password-env", "OPS_SUDO", "--yes", env={"OPS_SUDO": "wrong-pw-2"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "127.0.0.1: failed: sudo refused the password" in result.stdout, result.stdout
    assert "wrong-pw-2" not in result.stdout + result.stderr
    assert_untouched(host)


def test_down_keeps_what_others_keep_in_etc_rancher(harmony, host):
    assert harmony.up(host).returncode == 0
    host.sh("mkdir -p /etc/rancher/rke2 && touch /etc/rancher/rke2/config.yaml")
    down = harmony("down", host.target, "--ssh-key", str(harmony.ssh_key), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert host.exists("/etc/rancher/rke2/config.yaml") and not host.exists("/etc/rancher/k3s")


def test_an_airgap_bundle_is_refused_for_k3d(harmony, host, tmp_path):
    """k3d runs k3s in Docker: a bundle that installs k3s on the host cannot apply, and is said so."""
    result = harmony.up(host, "--runtime", "k3d", "--airgap", str(tmp_path / "bundle"))
    assert result.returncode == 2
    assert "an airgap bundle (--airgap, k3s_airgap_dir) installs k3s under a host's systemd or OpenRC; here k3d " \
           "runs k3s in Docker (asked for) and cannot use it: drop --airgap (k3d pulls its images), or give " \
           "--runtime k3s on a host with an init system" in one_error_line(result)
    assert_untouched(host)


def logins(host) -> list[str]:
    """The SSH logins the host's sshd accepted."""
    return [line for line in host.sh("journalctl -u ssh -o cat --no-pager", check=False).splitlines()
            if line.startswith("Accepted ")]


def test_a_project_refused_for_its_values_opens_no_login_and_shows_no_secret(harmony, host, tmp_path):
    """A cluster name from the environment that k3d refuses, with no runtime asked for (k3d may be
    chosen from the host's facts), and a values file outside the project: each refused with one
    line naming its key, never the value, before any login on the host."""
    secret = "TopSecretVal-31337"
    (tmp_path / "outside.yaml").write_text(f"password: {secret}\n")
    root = tmp_path / "shop"
    (root / "chart").mkdir(parents=True)
    (root / "chart" / "Chart.yaml").write_text("name: shop\nversion: 0.1.0\n")
    cluster = {"name": "${CLUSTER}", "version": NEW, "allow_http": True,
               "k3s": {"release_url": harmony.mirror.release_url}}
    cases = [({"cluster": cluster}, "cluster.name (from ${CLUSTER})"),
             ({"workloads": [{"name": "db", "helm": {"chart": "chart", "values_files": ["../outside.yaml"]}}]},
              "workloads[0].helm.values_files[0]: '../outside.yaml' is outside the project's directory")]
    assert until(lambda: host.sh("systemctl is-active ssh", check=False) == "active")
    for spec, named in cases:
        (root / "harmony.yaml").write_text(yaml.safe_dump({"target": host.target, "ssh": {"key": str(harmony.ssh_key)},
                                                           **spec}))
        for command in (["plan"], ["up", "--yes"]):
            result = harmony(*command, cwd=root, env={"CLUSTER": secret})
            assert result.returncode == 2, result.stdout + result.stderr
            assert named in one_error_line(result)
            assert secret not in result.stdout + result.stderr
    assert logins(host) == []
    assert_untouched(host)
