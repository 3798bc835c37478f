"""etcd snapshots and restore on one small HA cluster (two servers, embedded etcd), shared by the
steps of one test: a snapshot taken by k3s and kept on the controller (0600, its checksum the
server's, the token beside it), the cluster changed, then restored (the stand-in models k3s's
`etcd-snapshot` and `--cluster-reset`: tests/standin/k3s.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml

from tests.e2e.conftest import write_inventory


def test_a_snapshot_is_taken_kept_private_and_restored(harmony, start_host, tmp_path):
    s1, s2 = start_host(), start_host()
    schedule = {"schedule": "0 */6 * * *", "retention": 3,
                "s3": {"bucket": "edge", "access_key_env": "TEST_S3_KEY", "secret_key_env": "TEST_S3_SECRET"}}
    inventory = write_inventory(tmp_path / "ha.py", servers={"s1": (s1, {"k3s_node_name": "s1"}),
                                                             "s2": (s2, {"k3s_node_name": "s2"})},
                                data={"k3s_registration_address": s1.ip, "k3s_etcd_snapshots": schedule})
    secret = "s3-secret-never-shown"
    keys = {"TEST_S3_KEY": "s3-key", "TEST_S3_SECRET": secret}  # every command reading the data needs them
    up = harmony.up_cluster(inventory, s1, env=keys)
    assert up.returncode == 0, up.stdout + up.stderr
    assert secret not in up.stdout + up.stderr
    for server in (s1, s2):  # k3s's own schedule, its S3 keys in config.yaml only, which is root's alone
        assert server.sh("stat -c %a:%U /etc/rancher/k3s/config.yaml").strip() == "600:root"
        config = yaml.safe_load(server.sh("cat /etc/rancher/k3s/config.yaml"))
        assert config["etcd-snapshot-schedule-cron"] == "0 */6 * * *" and config["etcd-snapshot-retention"] == 3
        assert config["etcd-s3-bucket"] == "edge" and config["etcd-s3-secret-key"] == secret
    args = (str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key))

    kept = harmony.kubectl("--context", "harmony", "create", "configmap", "before-the-snapshot", "--from-literal=a=b")
    assert kept.returncode == 0, kept.stderr
    taken = harmony("snapshot", *args, "--json", env=keys)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    report = json.loads(taken.stdout)
    assert {h["host"]: h["status"] for h in report["hosts"]} == {"s1": "taken", "s2": "unchanged"}
    path = Path(report["snapshot"])
    assert path.parent == harmony.home / ".local/share/harmony/snapshots/harmony"
    assert path.name.startswith("harmony-") and path.suffix == ".snapshot"
    recorded = json.loads(path.with_suffix(".json").read_text())
    assert (recorded["server"], recorded["node"]) == ("s1", "s1")
    token = s1.sh("cat /var/lib/rancher/k3s/server/token").strip()
    assert recorded["token"] == token and token not in taken.stdout + taken.stderr
    assert recorded["host_file"].startswith("/var/lib/rancher/k3s/server/db/snapshots/harmony-")
    assert s1.sh(f"sha256sum {recorded['host_file']}").split()[0] == recorded["sha256"]
    for each in (path, path.with_suffix(".json")):
        assert stat.S_IMODE(each.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    elsewhere = json.loads(harmony("snapshot", *args, "--to", str(tmp_path / "elsewhere"), "--json", env=keys).stdout)
    assert Path(elsewhere["snapshot"]).parent == tmp_path / "elsewhere"

    # the cluster changed, then restored onto the same hosts: the change is gone, every node Ready
    made = harmony.kubectl("--context", "harmony", "create", "configmap", "after-the-snapshot", "--from-literal=a=b")
    assert made.returncode == 0, made.stderr
    # a reset k3s refuses (the token is not the snapshot's) fails the restore with k3s's reason,
    # and the other server is left as it was: stopped, its etcd database in place
    forged = tmp_path / "forged.snapshot"
    forged.write_bytes(path.read_bytes())
    forged.with_suffix(".json").write_text(json.dumps({**recorded, "token": "K10forged::server:not-the-one"}))
    failed = harmony("restore", str(forged), *args, "--yes", env=keys)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "bootstrap data already found and encrypted with different token" in failed.stdout
    assert "not started: the restore on the first server s1 failed" in failed.stdout
    assert not s2.is_active() and s2.sh("ls /var/lib/rancher/k3s/server/db/etcd").strip()
    restored = harmony("restore", str(path), *args, "--yes", "--json", env=keys)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    report = json.loads(restored.stdout)
    assert {h["host"]: h["status"] for h in report["hosts"]} == {"s1": "restored", "s2": "restored"}
    assert sorted(n["name"] for n in report["nodes"] if n["ready"]) == ["s1", "s2"]
    assert "1. stop k3s on every server: s1, s2" in restored.stderr and token not in restored.stdout + restored.stderr
    assert "deleted node" not in restored.stderr  # onto the same hosts, every node is the cluster's own
    gone = harmony.kubectl("--context", "harmony", "get", "configmap", "after-the-snapshot")
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert "restart without --cluster-reset flag now" in s1.sh("cat /var/lib/rancher/k3s/server/db/harmony-restore.log")
    assert s1.sh("ls /var/lib/rancher/k3s/server/harmony-restore-token 2>/dev/null || echo gone").strip() == "gone"
    assert s2.sh("ls -d /var/lib/rancher/k3s/server/db-harmony-*").strip()  # the old member's database, kept aside
    assert s2.is_active() and "cluster" in s2.sh("cat /var/lib/rancher/k3s/server/db/etcd/standin-member.json")
    assert harmony("restore", str(path), *args, env=keys).returncode == 2  # no terminal to ask, no --yes

    # onto new hosts (other addresses, a cluster of their own): the snapshot's token given to the
    # reset, to the other server (its old server/ moved aside) and to the agent; the old nodes deleted
    n1, n2, agent = start_host(), start_host(), start_host()
    elsewhere = write_inventory(tmp_path / "new.py", servers={"n1": (n1, {"k3s_node_name": "n1"}),
                                                              "n2": (n2, {"k3s_node_name": "n2"})},
                                agents={"na": (agent, {"k3s_node_name": "na"})},
                                data={"k3s_registration_address": n1.ip})
    up = harmony.up_cluster(elsewhere, n1)
    assert up.returncode == 0, up.stdout + up.stderr
    moved = harmony("restore", str(path), str(elsewhere), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key),
                    "--kubeconfig-server", n1.api_url, "--yes", "--json")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert sorted(n["name"] for n in json.loads(moved.stdout)["nodes"]) == ["n1", "n2", "na"]
    assert "deleted node s1, which came with the snapshot" in moved.stderr, moved.stderr
    assert harmony.kubectl("--context", "harmony", "get", "configmap", "before-the-snapshot").returncode == 0
    assert harmony.kubectl("--context", "harmony", "get", "configmap", "after-the-snapshot").returncode != 0
    for joined, unit in ((n2, "k3s"), (agent, "k3s-agent")):
        assert joined.sh("cat /etc/rancher/k3s/token").strip() == token and joined.is_active(unit)
    assert n2.sh("ls -d /var/lib/rancher/k3s/server-harmony-*").strip()

    # a single server keeps its data in SQLite: no etcd, no snapshot, and the reason said
    single = start_host()
    assert harmony.up(single).returncode == 0
    refused = harmony("snapshot", single.target, "--ssh-key", str(harmony.ssh_key))
    assert refused.returncode == 1 and "keeps the cluster in SQLite, not embedded etcd" in refused.stdout + refused.stderr
