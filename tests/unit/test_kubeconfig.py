import os
import stat

from harmony import kubeconfig

FETCHED = {
    "clusters": [{"name": "default", "cluster": {"server": "https://127.0.0.1:6443",
                                                 "certificate-authority-data": "Q0E="}}],
    "users": [{"name": "default", "user": {"client-certificate-data": "Qw==", "client-key-data": "Sw=="}}],
    "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
}


def test_for_cluster_renames_and_readdresses():
    config = kubeconfig.for_cluster(FETCHED, "edge", "https://10.0.0.5:6443")
    assert config["clusters"][0] == {"name": "edge", "cluster": {
        "server": "https://10.0.0.5:6443", "certificate-authority-data": "Q0E="}}
    assert config["contexts"][0] == {"name": "edge", "context": {"cluster": "edge", "user": "edge"}}
    assert config["users"][0]["name"] == "edge"


def test_merge_replaces_stale_entries_and_keeps_the_rest():
    new = kubeconfig.for_cluster(FETCHED, "edge", "https://10.0.0.5:6443")
    existing = {
        "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {}}, {"name": "edge", "cluster": {"server": "old"}}],
        "users": [{"name": "edge", "user": {"token": "old"}}],
        "contexts": [{"name": "prod", "context": {}}],
    }
    merged = kubeconfig.merged(existing, new, "edge", switch=False)
    assert [c["name"] for c in merged["clusters"]] == ["prod", "edge"]
    assert merged["clusters"][1]["cluster"]["server"] == "https://10.0.0.5:6443"
    assert [u["name"] for u in merged["users"]] == ["edge"]
    assert merged["current-context"] == "prod"
    assert kubeconfig.merged(existing, new, "edge", switch=True)["current-context"] == "edge"
    assert kubeconfig.merged({}, new, "edge", switch=False)["current-context"] == "edge"


def test_without_removes_only_the_cluster():
    existing = {"current-context": "edge", "clusters": [{"name": "edge"}, {"name": "prod"}],
                "users": [{"name": "edge"}], "contexts": [{"name": "edge"}, {"name": "prod"}]}
    result = kubeconfig.without(existing, "edge")
    assert result["clusters"] == [{"name": "prod"}] and result["users"] == []
    assert result["current-context"] == ""


def test_write_is_private(tmp_path):
    path = tmp_path / "kube" / "config"
    kubeconfig.write(path, {"a": 1})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert kubeconfig.load(path) == {"a": 1}
