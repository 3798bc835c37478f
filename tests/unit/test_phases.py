"""Each runtime's phases: listed once, in the order they run, which their modules' names sort
in; and a phase with nothing to do declares no operation, yet the run's results still name it,
unchanged, in its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from harmony import runner
from harmony.k3d import lifecycle as k3d_lifecycle
from harmony.k3s import lifecycle as k3s_lifecycle
from harmony.runcontext import PassedPhase
from tests.unit import fakehosts

K3S = ["preflight", "prepare", "binary", "configure", "service", "start", "kubeconfig"]
K3D = ["preflight", "binary", "cluster", "kubeconfig"]


@pytest.mark.parametrize("lifecycle,names", [(k3s_lifecycle, K3S), (k3d_lifecycle, K3D)], ids=["k3s", "k3d"])
def test_each_runtimes_phases_are_one_list_in_run_order_and_their_files_sort_in_it(lifecycle, names):
    assert [phase.name for phase in lifecycle.PHASES] == names
    directory = Path(lifecycle.__file__).parent / "phases"
    files = sorted(path.stem for path in directory.glob("p*.py"))
    assert files == [phase.run.__module__.rsplit(".", 1)[1] for phase in lifecycle.PHASES]
    assert [file.split("_", 1)[1] for file in files] == names


@pytest.mark.parametrize("dry", [False, True], ids=["up", "plan"])
def test_a_phase_with_nothing_to_do_declares_no_operation_and_is_still_reported_unchanged(tmp_path, dry):
    """The first server has the release's k3s already: its binary phase passes, declaring
    nothing, and is counted unchanged there, between the phases that ran, as on the agent
    (which has none) it is changed."""
    path = fakehosts.inventory(tmp_path, ["s1"], ["a1"], running=False,
                               facts={"s1": fakehosts.in_place("/usr/local/bin/k3s", fakehosts.BINARY, "755")})
    run = fakehosts.run(tmp_path, path, dry)
    server, agent = run["hosts"]["@fake/s1"], run["hosts"]["@fake/a1"]
    assert not any(" | binary | " in name for name in server["planned"]), server["planned"]
    assert server["passed"] == [{"name": "binary", "after": 0}]
    assert any(name.startswith("k3s up | binary | Install k3s") for name in agent["changed"])
    assert [p["phase"] for p in run["phases"]] == ["binary", "configure", "service", "start", "kubeconfig"]
    assert run["phases"][0] == {"phase": "binary", "changed": 1, "unchanged": 1, "failed": 0}


def test_a_passed_phase_is_done_once_every_operation_before_it_is():
    """In a stopped run, a phase passed after a step not done was not reached: it is not done."""
    names = ["k3s up | binary | Install k3s", "k3s up | start | Restart k3s"]
    passed = [PassedPhase("configure", 1), PassedPhase("service", 1), PassedPhase("kubeconfig", 2)]
    stalled = runner.HostResult("a", reported=True, planned=names, passed=passed)
    assert stalled.phases() == ([], ["binary", "configure", "service", "start", "kubeconfig"])
    restarting = runner.HostResult("a", changed=names[:1], reported=True, planned=names, passed=passed)
    assert restarting.phases() == (["binary", "configure", "service"], ["start", "kubeconfig"])
    assert restarting.phase_outcomes() == {"binary": "changed", "configure": "unchanged", "service": "unchanged"}
