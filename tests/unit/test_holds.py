"""A step holds a stop only while its own operation runs on its host, and only up to its bound."""

from __future__ import annotations

from types import SimpleNamespace

from harmony import holds


def test_a_hold_lasts_while_its_operation_runs_and_within_its_bound():
    s1, s2 = SimpleNamespace(name="s1", executing_op_hash="restart"), SimpleNamespace(name="s2", executing_op_hash="x")
    assert holds.hold(None, s1, "the restart of k3s", 300) is True
    holds.hold(None, s2, "the start of k3s", 0)  # its bound is past at once
    assert [name for name, _ in holds.held([s1, s2])] == ["s1"]
    assert holds.waiting(holds.held([s1, s2])) == "the restart of k3s on s1 to finish (at most 300 s)"
    s1.executing_op_hash = "kubeconfig"  # the restart's operation has ended
    assert holds.held([s1, s2]) == []
    s1.executing_op_hash = None
    assert holds.held([s1]) == []
