"""etcd snapshots: the scheduled ones' settings as each server's config.yaml gets them (S3 keys
from the controller's environment only), and the files `harmony snapshot` keeps on the
controller (private, kept only when whole, read back by a restore before any host is touched)."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path

import pytest
import yaml

from harmony import snapshots
from harmony.errors import BadInput
from harmony.k3s import cluster, render
from harmony.k3s.settings import from_data

SCHEDULE = {"schedule": "0 */6 * * *", "retention": 10,
            "s3": {"bucket": "edge-backups", "endpoint": "s3.example.net:9000", "region": "eu-1", "folder": "edge",
                   "access_key_env": "EDGE_S3_KEY", "secret_key_env": "EDGE_S3_SECRET"}}


def configs(data: dict) -> dict[str, dict]:
    """Each host's config.yaml, of a cluster of two servers and an agent with `data`."""
    hosts = [(name, from_data({**data, "k3s_role": role}, name))
             for name, role in (("s1", "server"), ("s2", "server"), ("a1", "agent"))]
    shape = cluster.plan(hosts)
    return {name: yaml.safe_load(render.config_yaml(settings, name, shape, name)) for name, settings in hosts}


def test_scheduled_snapshots_go_into_every_servers_config_with_s3_keys_from_the_environment(monkeypatch):
    monkeypatch.setenv("EDGE_S3_KEY", "AKIA-key")
    monkeypatch.setenv("EDGE_S3_SECRET", "very-secret")
    made = configs({"k3s_etcd_snapshots": SCHEDULE})
    expected = {"etcd-snapshot-schedule-cron": "0 */6 * * *", "etcd-snapshot-retention": 10, "etcd-s3": True,
                "etcd-s3-bucket": "edge-backups", "etcd-s3-endpoint": "s3.example.net:9000", "etcd-s3-region": "eu-1",
                "etcd-s3-folder": "edge", "etcd-s3-access-key": "AKIA-key", "etcd-s3-secret-key": "very-secret"}
    for server in ("s1", "s2"):
        assert {k: v for k, v in made[server].items() if k.startswith("etcd-")} == expected
    assert not any(k.startswith("etcd-") for k in made["a1"])  # an agent takes no snapshot
    assert "very-secret" not in repr(from_data({"k3s_etcd_snapshots": SCHEDULE}, "s1"))


@pytest.mark.parametrize("given,message", [
    ({"schedule": "every hour"}, "schedule 'every hour' is not a cron spec"),
    ({"retention": 0}, "retention must be a whole number of snapshots, 1 or more"),
    ({"retention": True}, "retention must be a whole number"),
    ({"keep": 3}, "must be a mapping of schedule, retention and s3"),
    ({"s3": {"endpoint": "s3.example.net"}}, "s3 must be a mapping with a bucket"),
    ({"s3": {"bucket": "b", "access_key": "AKIA"}}, "s3 must be a mapping with a bucket"),
    ({"s3": {"bucket": "b", "access_key_env": "EDGE_S3_KEY"}}, "needs both access_key_env and secret_key_env"),
    ({"s3": {"bucket": "b", "access_key_env": "UNSET_KEY", "secret_key_env": "UNSET_SECRET"}},
     "names $UNSET_KEY, which is not set"),
    ({"s3": {"bucket": "b", "endpoint": "https://s3.example.net/x"}}, "s3.endpoint"),
])
def test_bad_schedules_are_refused_naming_the_key(given, message):
    with pytest.raises(BadInput, match="^host s1: ") as error:
        from_data({"k3s_etcd_snapshots": given}, "s1")
    assert message in str(error.value) and "k3s_etcd_snapshots" in str(error.value)


def test_a_schedule_is_refused_for_sqlite_and_beside_k3s_config_flags():
    with pytest.raises(BadInput, match="a cluster of one server keeps its data in SQLite"):
        cluster.plan([("s1", from_data({"k3s_etcd_snapshots": {"retention": 3}}, "s1"))])
    with pytest.raises(BadInput, match=r"and k3s_config both set snapshots \(etcd-snapshot-retention\)"):
        from_data({"k3s_etcd_snapshots": {"retention": 3}, "k3s_config": {"etcd-snapshot-retention": 4}}, "s1")
    assert configs({})["s1"].keys().isdisjoint({"etcd-snapshot-schedule-cron", "etcd-s3"})


def taken(sha256: str) -> snapshots.Taken:
    return snapshots.Taken(cluster="edge", taken="2026-12-07T11:00:00+00:00", server="s1", node="s1",
                           host_file="/var/lib/rancher/k3s/server/db/snapshots/harmony-1-s1-1", sha256=sha256,
                           token="K10abc::server:secret")


def test_a_whole_snapshot_is_kept_private_with_its_token_and_a_damaged_one_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    where = snapshots.directory("edge", None)
    assert where == tmp_path / "data/harmony/snapshots/edge" and stat.S_IMODE(where.stat().st_mode) == 0o700
    now = datetime.datetime(2026, 12, 7, 12, 30, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    path = snapshots.new_file(where, "edge", now)
    assert path.name == "edge-20261207T113005Z.snapshot"
    received = tmp_path / "received"
    received.write_bytes(b"etcd")
    assert "the transfer was damaged" in snapshots.keep(received, path, taken("0" * 64))
    assert not received.exists() and not path.exists()
    received.write_bytes(b"etcd")
    assert snapshots.keep(received, path, taken(snapshots.sha256(received))) == ""
    for each in (path, snapshots.beside(path)):
        assert stat.S_IMODE(each.stat().st_mode) == 0o600
    assert json.loads(snapshots.beside(path).read_text())["token"] == "K10abc::server:secret"
    assert "secret" not in repr(snapshots.read(str(path))[1])


def test_a_restore_refuses_a_snapshot_without_its_token_or_not_the_one_recorded(tmp_path):
    path = tmp_path / "edge-20261207T113005Z.snapshot"
    with pytest.raises(BadInput, match="no such snapshot file"):
        snapshots.read(str(path))
    path.write_bytes(b"etcd")
    with pytest.raises(BadInput, match="cannot read the snapshot's token and checksum"):
        snapshots.read(str(path))
    snapshots.write_private(snapshots.beside(path), json.dumps(vars(taken("0" * 64))))
    with pytest.raises(BadInput, match="its sha256 is not the one recorded"):
        snapshots.read(str(path))
    snapshots.write_private(snapshots.beside(path), json.dumps(vars(taken(snapshots.sha256(path)))))
    assert snapshots.read(str(path)) == (Path(path), taken(snapshots.sha256(path)))


def test_a_restore_shows_k3s_documented_steps_in_order():
    from harmony.k3s import restore

    lines = restore.steps(("s1", "s2", "s3"), ("a1",), "/x/edge.snapshot", taken("0" * 64))
    assert lines[0] == "restore /x/edge.snapshot (taken 2026-12-07T11:00:00+00:00 on s1, cluster edge):"
    assert lines[1] == "1. stop k3s on every server: s1, s2, s3 (agents keep running: a1)"
    assert lines[2].startswith("2. s1: upload the snapshot and its token; k3s server --cluster-reset ")
    assert lines[4].startswith("4. s2, s3, one at a time: move /var/lib/rancher/k3s/server/db aside and start k3s")
    assert lines[5].startswith("5. a1: an agent of another cluster gets the snapshot's token and restarts")
    assert lines[6].startswith("6. wait until every node is Ready; onto other hosts than the snapshot's, delete")
    assert "secret" not in "\n".join(lines)
    single = restore.steps(("s1",), (), "/x/edge.snapshot", taken("0" * 64))
    assert [line[:2] for line in single[1:]] == ["1.", "2.", "3.", "4."]


def test_a_restore_refuses_a_cluster_token_that_is_not_the_snapshots():
    from harmony.k3s import restore

    snapshot = taken("0" * 64)  # its token: K10abc::server:secret
    assert restore.token_problem(None, snapshot) is None
    assert restore.token_problem("secret", snapshot) is None and restore.token_problem("K10ffff::server:secret", snapshot) is None
    assert "is not the one the snapshot was taken with" in restore.token_problem("other", snapshot)
