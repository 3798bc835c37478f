"""A k3d cluster whose create harmony began and never saw end (`harmony.k3d.unfinished`): the
mark its create runs under (a real shell), the host fact finding it beside the kept spec (the
fact's own script), what `up` does then (delete and create again, whatever the spec), what
`status` says, and another tool's cluster of the name, which harmony neither changes nor deletes."""

import subprocess

from harmony import shell
from harmony.facts import FileState, text_sha256
from harmony.k3d import health, spec, unfinished
from harmony.k3d.facts import K3dCluster, K3dHostState
from harmony.k3d.phases.p3_cluster import cluster_command
from tests.unit.test_k3d_ports import CLUSTER, fact_on, run_of, settings

LISTED = [{"name": "dev", "nodes": [
    {"name": "k3d-dev-server-0", "role": "server", "image": CLUSTER.image, "State": {"Running": True}},
    {"name": "k3d-dev-agent-0", "role": "agent", "image": CLUSTER.image, "State": {"Running": False}}]}]


def test_the_mark_is_set_before_the_commands_and_removed_only_after_the_last_succeeds(tmp_path):
    mark = tmp_path / "dev it's.creating"  # quoted: one word to the shell, whatever it holds
    seen = tmp_path / "seen"
    done = subprocess.run(["sh", "-c", unfinished.marked(str(mark), shell.command("test", "-f", mark),
                                                            shell.command("touch", seen))],
                          timeout=30)
    assert done.returncode == 0 and seen.exists() and not mark.exists()
    stopped = subprocess.run(["sh", "-c", unfinished.marked(str(mark), "true", "false")], timeout=30)
    assert stopped.returncode == 1 and mark.exists()  # as a create killed or failed midway leaves it


def test_the_fact_finds_harmonys_create_left_unfinished_by_its_mark(tmp_path):
    state, _ = fact_on(tmp_path, LISTED, kept="kind: Simple\n")
    assert not state.clusters["dev"].unfinished
    (tmp_path / "home/.config/harmony/k3d/dev.creating").touch()
    state, _ = fact_on(tmp_path, LISTED, kept="kind: Simple\n")
    assert state.clusters["dev"].unfinished
    assert state.clusters["dev"].down == ("k3d-dev-agent-0",)


def node_with(cluster: K3dCluster | None, kept: str | None):
    """The host run as preflight leaves it, with `cluster` listed and the spec kept as `kept` (its
    text: "rendered" for the one this run renders)."""
    node = run_of(settings(), K3dHostState(home="/home/ann", bin_dir="/home/ann/.local/bin"))
    if cluster:
        node.state.clusters["dev"] = cluster
    if kept is not None:
        text = node.spec if kept == "rendered" else kept
        node.state.files[node.paths.spec] = FileState(mode="600", sha256=text_sha256(text))
    return node


MARK = "/home/ann/.config/harmony/k3d/dev.creating"
K3D, SPEC = "/home/ann/.local/bin/k3d", "/home/ann/.config/harmony/k3d/dev.yaml"


def test_up_creates_every_cluster_under_the_mark():
    assert cluster_command(node_with(None, None)) == (
        f"touch {MARK} && {K3D} cluster create --config {SPEC} && rm -f {MARK}", "Create")


def test_up_deletes_and_creates_again_a_cluster_its_create_left_unfinished_whatever_its_spec():
    half = K3dCluster(servers=1, agents=1, running=1, image=CLUSTER.image, down=("k3d-dev-agent-0",),
                      unfinished=True)
    again = (f"touch {MARK} && {K3D} cluster delete dev && {K3D} cluster create --config {SPEC} && rm -f {MARK}",
             "Re-create (its create was stopped before it ended)")
    assert cluster_command(node_with(half, "rendered")) == again
    assert cluster_command(node_with(half, "an older spec")) == again  # no --recreate needed: it never was
    # The same cluster, its create seen to end: started, as after a sleep (harmony.k3d.health).
    finished = node_with(K3dCluster(1, 1, 1, CLUSTER.image, down=("k3d-dev-agent-0",)), "rendered")
    assert cluster_command(finished) == (f"{K3D} cluster start dev", "Start")


def test_a_whole_cluster_of_its_spec_is_left_alone():
    assert cluster_command(node_with(CLUSTER, "rendered")) == (None, "")


def test_status_names_an_unfinished_cluster_and_what_up_does():
    half = K3dCluster(1, 1, 1, CLUSTER.image, down=("k3d-dev-agent-0",), lost_alias=("k3d-dev-server-0's /etc/hosts",),
                      unfinished=True)
    row = health.status({"docker": "running", "system": "Linux"}, vars(half), 1)
    assert row == {"state": "unfinished", "down": ["k3d-dev-agent-0"], "lost": [], "healthy": False}
    assert health.note(row) == "; unfinished (its create was stopped before it ended): harmony up creates it again"
    whole = K3dCluster(1, 0, 1, CLUSTER.image, unfinished=True)  # every node up, but never seen to end
    assert health.status({"docker": "running"}, vars(whole), 1)["state"] == "unfinished"


def test_another_tools_cluster_of_the_name_is_named_and_left_alone():
    theirs = node_with(CLUSTER, None)
    said = spec.foreign(theirs.state, theirs.paths, "dev")
    assert said == (f"k3d cluster 'dev' is not harmony's (harmony keeps no spec of it at {SPEC}): harmony "
                    "neither changes nor deletes it; give another name (--name), or delete it yourself "
                    "(k3d cluster delete dev)")
    ours = node_with(CLUSTER, "rendered")
    assert spec.foreign(ours.state, ours.paths, "dev") is None
    absent = node_with(None, None)
    assert spec.foreign(absent.state, absent.paths, "dev") is None
