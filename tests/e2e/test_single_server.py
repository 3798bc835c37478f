"""`harmony up`, `status`, `kubeconfig` and `down` on one real host over SSH, with the stand-in k3s."""

from __future__ import annotations

import json
import stat

import yaml

from tests.e2e.conftest import NEW, OLD, each_init, write_inventory

SECRET_FILES = ("/etc/rancher/k3s/config.yaml", "/var/lib/rancher/k3s/server/token", "/etc/rancher/k3s/k3s.yaml")


def summary_line(result, host) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith("127.0.0.1"))


@each_init
def test_up_installs_a_ready_cluster_and_a_rerun_changes_nothing(harmony, host):
    first = harmony.up(host)
    assert first.returncode == 0, first.stderr
    assert f"runtime: k3s (Linux with {host.init} and root)" in first.stderr
    assert "changed" in summary_line(first, host)
    assert host.is_active()
    assert host.sh("k3s --version").splitlines()[0].startswith(f"k3s version {NEW} ")

    nodes = harmony.kubectl("--context", "harmony", "get", "nodes", "-o", "json")
    assert nodes.returncode == 0, nodes.stderr
    (node,) = json.loads(nodes.stdout)["items"]
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    table = harmony.kubectl("--context", "harmony", "get", "nodes").stdout
    assert " Ready " in table and "control-plane" in table

    for path in (*SECRET_FILES, host.env_file()):
        assert host.sh(f"stat -c '%a %U' {path}") == "600 root", path
    assert stat.S_IMODE(harmony.kubeconfig.stat().st_mode) == 0o600
    for command in ("kubectl", "crictl", "ctr"):
        assert host.sh(f"readlink /usr/local/bin/{command}") == "/usr/local/bin/k3s"
    assert host.exists("/usr/local/bin/k3s-killall.sh") and host.exists("/usr/local/bin/k3s-uninstall.sh")
    if host.init == "openrc":  # the script, enabled at boot, as the install script sets it up
        assert host.sh("stat -c %a /etc/init.d/k3s") == "755" and host.exists("/etc/runlevels/default/k3s")
    # The test hosts have the kernel modules and settings k3s needs: preparing them is a no-op.
    assert not host.exists("/etc/modules-load.d/k3s.conf") and not host.exists("/etc/sysctl.d/90-k3s.conf")

    started = host.started_at()
    again = harmony.up(host)
    assert again.returncode == 0, again.stderr
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout
    assert host.started_at() == started


def test_kubeconfig_merge_keeps_other_contexts_and_replaces_stale_entries(harmony, host):
    harmony.kubeconfig.parent.mkdir(parents=True)
    other = {"name": "other", "cluster": {"server": "https://other.example:6443"}}
    stale = {"name": "harmony", "cluster": {"server": "https://stale.example:6443"}}
    harmony.kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [other, stale],
        "users": [{"name": "other", "user": {"token": "x"}}, {"name": "harmony", "user": {"token": "old"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
    }))
    assert harmony.up(host).returncode == 0

    config = yaml.safe_load(harmony.kubeconfig.read_text())
    assert config["current-context"] == "other"  # switched only when asked
    assert [c["name"] for c in config["clusters"]] == ["other", "harmony"]
    assert [u["name"] for u in config["users"]] == ["other", "harmony"]
    (cluster,) = [c for c in config["clusters"] if c["name"] == "harmony"]
    assert cluster["cluster"]["server"] == host.api_url
    assert harmony.kubectl("--context", "harmony", "get", "nodes").returncode == 0

    refetched = harmony("kubeconfig", host.target, "--ssh-key", str(harmony.ssh_key),
                        "--kubeconfig-server", host.api_url, "--switch-context")
    assert refetched.returncode == 0, refetched.stderr
    config = yaml.safe_load(harmony.kubeconfig.read_text())
    assert config["current-context"] == "harmony"
    assert [c["name"] for c in config["contexts"]] == ["other", "harmony"]


@each_init
def test_a_config_change_restarts_k3s_and_changes_only_the_config(harmony, host, tmp_path):
    inventory = tmp_path / "inventory.py"

    def write_inventory(labels: dict) -> None:
        inventory.write_text(
            f"hosts = [('127.0.0.1', {{'ssh_port': {host.ssh_port}, 'ssh_user': 'root', "
            f"'k3s_node_labels': {labels!r}}})]\n"
        )

    def up():
        return harmony("up", str(inventory), "--ssh-key", str(harmony.ssh_key),
                       *harmony.release_args(), "--kubeconfig-server", host.api_url, "--yes")

    write_inventory({"tier": "edge"})
    assert up().returncode == 0
    started = host.started_at()

    write_inventory({"tier": "core"})
    changed = up()
    assert changed.returncode == 0, changed.stderr
    # exactly those two operations
    assert summary_line(changed, host) == "127.0.0.1: changed: configure: Write config.yaml; start: Restart k3s for its changed files"
    assert host.started_at() != started
    assert "tier=core" in host.sh("cat /etc/rancher/k3s/config.yaml")
    node = json.loads(harmony.kubectl("--context", "harmony", "get", "nodes", "-o", "json").stdout)
    assert node["items"][0]["metadata"]["labels"]["tier"] == "core"


def test_plan_shows_changes_and_changes_nothing(harmony, host):
    plan = harmony("plan", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args())
    assert plan.returncode == 0, plan.stderr
    assert "would change" in plan.stdout and "Install k3s" in plan.stdout
    assert not host.exists("/usr/local/bin/k3s")
    assert not host.exists("/etc/rancher/k3s")
    status = harmony("status", host.target, "--ssh-key", str(harmony.ssh_key))  # a next step, not "run kubeconfig"
    assert "cluster 'harmony': API absent (no host runs it: run harmony up)" in status.stdout, status.stdout


@each_init
def test_status_reports_version_service_and_node(harmony, host):
    assert harmony.up(host).returncode == 0
    result = harmony("status", host.target, "--ssh-key", str(harmony.ssh_key),
                     "--kubeconfig-server", host.api_url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["api"] == "ready"
    (row,) = report["hosts"]
    assert (row["version"], row["service"], row["role"], row["node_ready"]) == (NEW, "active", "server", True)


@each_init
def test_a_new_version_upgrades_in_place_and_a_downgrade_needs_asking(harmony, host):
    assert harmony.up(host, version=OLD).returncode == 0
    assert OLD in host.sh("k3s --version")
    upgraded = harmony.up(host, version=NEW)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"Install k3s {NEW} (from {OLD})" in upgraded.stdout
    assert NEW in host.sh("k3s --version")
    assert NEW in harmony.kubectl("--context", "harmony", "get", "nodes").stdout

    started = host.started_at()
    refused = harmony.up(host, version=OLD)
    assert refused.returncode == 1
    assert f"k3s {NEW} is installed: refusing to downgrade to {OLD}" in refused.stdout
    assert NEW in host.sh("k3s --version") and host.started_at() == started
    downgraded = harmony.up(host, "--allow-downgrade", version=OLD)
    assert downgraded.returncode == 0, downgraded.stdout + downgraded.stderr
    assert OLD in host.sh("k3s --version")


def test_channel_is_resolved_on_the_controller(harmony, host):
    result = harmony("up", host.target, "--ssh-key", str(harmony.ssh_key), "--channel", "v1.30",
                     "--release-url", harmony.mirror.release_url,
                     "--channel-url", harmony.mirror.channel_url, "--allow-http",
                     "--kubeconfig-server", host.api_url, "--yes")
    assert result.returncode == 0, result.stderr
    assert host.sh("k3s --version").startswith("k3s version v1.30.")


@each_init
def test_down_removes_everything_and_a_second_down_changes_nothing(harmony, host):
    assert harmony.up(host).returncode == 0
    down = harmony("down", host.target, "--ssh-key", str(harmony.ssh_key), "--yes")
    assert down.returncode == 0, down.stderr
    for path in ("/usr/local/bin/k3s", "/usr/local/bin/kubectl", "/usr/local/bin/k3s-killall.sh",
                 "/usr/local/bin/k3s-uninstall.sh", host.unit_file(), host.env_file(), "/etc/rancher",
                 "/var/lib/rancher", "/var/lib/harmony", "/var/log/k3s.log", "/etc/logrotate.d/k3s"):
        assert not host.exists(path), path
    if host.init == "systemd":
        assert host.sh("systemctl show -p LoadState --value k3s") == "not-found"
    else:
        assert not host.exists("/etc/runlevels/default/k3s")
    assert host.sh("pgrep -f '[k]3s server'", check=False) == ""
    config = yaml.safe_load(harmony.kubeconfig.read_text())
    assert all(c["name"] != "harmony" for c in config["contexts"])
    assert list((harmony.home / ".local" / "state" / "harmony" / "kubeconfigs").iterdir()) == []

    again = harmony("down", host.target, "--ssh-key", str(harmony.ssh_key), "--yes")
    assert again.returncode == 0, again.stderr
    assert "1 host: 0 removed, 1 unchanged, 0 failed" in again.stdout


@each_init
def test_check_lists_drift_changes_nothing_and_exits_1(harmony, host):
    assert harmony.up(host).returncode == 0
    check = ["check", host.target, "--ssh-key", str(harmony.ssh_key), *harmony.release_args(),
             "--kubeconfig-server", host.api_url]
    clean = harmony(*check)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("1 host: 1 as specified, 0 drifted, 0 unreachable in ")

    # A hand edit, a stopped service and a replaced binary (still a working k3s).
    host.stop()
    host.sh("echo 'debug: true' >> /etc/rancher/k3s/config.yaml && echo '# replaced' >> /usr/local/bin/k3s")
    tampered = host.sh("sha256sum /etc/rancher/k3s/config.yaml /usr/local/bin/k3s")
    drifted = harmony(*check, "--json")
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    report = json.loads(drifted.stdout)
    assert report["drifted"] is True
    (row,) = report["hosts"]
    assert "would change: Write config.yaml" in row["differences"]
    assert f"would change: Install k3s {NEW}" in row["differences"]
    assert "not running, or its node is not Ready" in row["differences"]
    assert host.sh("sha256sum /etc/rancher/k3s/config.yaml /usr/local/bin/k3s") == tampered
    assert not host.is_active()


def test_registries_yaml_gets_its_password_from_the_environment(harmony, host, tmp_path):
    inventory = write_inventory(tmp_path / "one.py", servers={"h": (host, {"k3s_registries": {
        "mirrors": {"docker.io": {"endpoint": ["https://mirror.example:5000"]}},
        "configs": {"mirror.example:5000": {"auth": {"username": "pull", "password_env": "REG_PW"}}},
    }})})
    first = harmony.up_cluster(inventory, host, "-vvv", env={"REG_PW": "registry-pw-41ab"})
    assert first.returncode == 0, first.stdout + first.stderr
    assert "registry-pw-41ab" not in first.stdout + first.stderr
    assert host.sh("stat -c '%a %U' /etc/rancher/k3s/registries.yaml") == "600 root"
    written = yaml.safe_load(host.sh("cat /etc/rancher/k3s/registries.yaml"))
    assert written["configs"]["mirror.example:5000"]["auth"] == {"username": "pull", "password": "registry-pw-41ab"}

    started = host.started_at()
    same = harmony.up_cluster(inventory, host, env={"REG_PW": "registry-pw-41ab"})
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in same.stdout and host.started_at() == started
    rotated = harmony.up_cluster(inventory, host, env={"REG_PW": "registry-pw-rotated"})
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "Write registries.yaml" in rotated.stdout and host.started_at() != started


def test_a_host_without_ip_forwarding_gets_it_and_keeps_it_and_others_get_nothing(harmony, start_host):
    host = start_host(docker_args=("--sysctl", "net.ipv4.ip_forward=0"))
    # A container's /proc/sys is read-only; a real host's is not (the setting is the container's own).
    host.sh("mount -o remount,rw /proc/sys")
    first = harmony.up(host)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Set net.ipv4.ip_forward" in first.stdout
    assert host.sh("cat /proc/sys/net/ipv4/ip_forward") == "1"
    assert "net.ipv4.ip_forward = 1" in host.sh("cat /etc/sysctl.d/90-k3s.conf")
    assert host.sh("stat -c '%a %U' /etc/sysctl.d/90-k3s.conf") == "644 root"
    again = harmony.up(host)
    assert again.returncode == 0 and "1 host: 0 changed, 1 unchanged, 0 failed" in again.stdout

    # These hosts load br_netfilter and overlay and forward already: nothing is written.
    assert not host.exists("/etc/modules-load.d/k3s.conf")
    removed = harmony("down", host.target, "--ssh-key", str(harmony.ssh_key), "--yes")
    assert removed.returncode == 0 and not host.exists("/etc/sysctl.d/90-k3s.conf")


@each_init
def test_a_config_k3s_fails_on_is_put_back_and_k3s_runs_on_the_old_one(harmony, host):
    assert harmony.up(host).returncode == 0
    before = host.sh("cat /etc/rancher/k3s/config.yaml")
    # OpenRC's start does not wait: the failure is seen when the node is not back in the API.
    bad = harmony.up(host, "--set", 'k3s_config={"no-such-flag": "x"}', "--set", "k3s_start_timeout=20")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert ("k3s failed to start on its new config.yaml (level=fatal msg=\"flag provided but not defined: "
            "-no-such-flag\"); its previous files were put back and k3s runs on them again") in bad.stdout, bad.stdout
    assert host.is_active() and host.sh("cat /etc/rancher/k3s/config.yaml") == before
    assert "harmony" not in host.sh("ls -A /etc/rancher/k3s /usr/local/bin")  # nothing staged or kept is left
    assert "1 host: 0 changed, 1 unchanged, 0 failed" in harmony.up(host).stdout
