"""Fleets (issue #26, item 6): hosts the run could not reach are counted apart from the failed,
`status` of a fleet gives a line only to the hosts that need a look, and how many hosts are
worked on at once by default. Pure logic: tests/e2e/test_fleet.py runs ten hosts, two down."""

from __future__ import annotations

import json
from types import SimpleNamespace

from click.testing import CliRunner

from harmony import report, runner
from harmony.cli import main
from harmony.k3s.runtime import K3S
from harmony.runner import HostResult
from harmony.steps import Flow, Request
from harmony.steps.cluster import Survey
from harmony.verbs import status

WHY = "connection refused (127.0.0.1:2209)"


def up_report(results: list[HostResult], stopped: bool = False) -> report.Report:
    return report.Report("up", "edge", [r.report(report.UP, stopped=stopped) for r in results], report.UP,
                         seconds=9.04)


def done(name: str) -> HostResult:
    return HostResult(name, changed=["k3s up | binary | Install k3s v1.31.4+k3s1"], reported=True)


def test_unreachable_hosts_are_counted_apart_from_the_failed_in_text_and_json():
    hosts = [done(f"a{i}") for i in range(8)] + [HostResult("a8", unreachable=WHY), HostResult("a9", unreachable=WHY)]
    rep = up_report(hosts)
    assert rep.summary_line() == "10 hosts: 8 changed, 0 unchanged, 0 failed, 2 unreachable in 9.0 s"
    assert f"a8: unreachable: {WHY}" in rep.text() and f"a9: unreachable: {WHY}" in rep.text()
    body = json.loads(rep.as_json())
    assert body["summary"] == {"hosts": 10, "changed": 8, "unchanged": 0, "failed": 0, "unreachable": 2}
    assert body["hosts"][8] == {"host": "a8", "status": "unreachable", "changes": [], "reason": WHY}
    # Where none is unreachable, the summary is as it always was.
    assert up_report(hosts[:8]).summary_line() == "8 hosts: 8 changed, 0 unchanged, 0 failed in 9.0 s"


def test_a_stopped_run_and_a_plan_say_unreachable_too():
    assert up_report([HostResult("a9", unreachable=WHY)], stopped=True).hosts[0].status == "unreachable"
    assert HostResult("a9", unreachable=WHY).report(report.PLAN).line() == f"a9: unreachable: {WHY}"


def flow_of(hosts: list[report.HostReport], every_host: bool = False) -> Flow:
    flow = Flow(Request(target=None, options=None, name="edge", every_host=every_host))
    flow.hosts = [SimpleNamespace(name=h.host) for h in hosts]
    flow.report = report.Report("up", "edge", hosts, report.UP)
    return flow


def test_the_error_names_what_the_run_did_not_do_on_each_kind_of_host():
    changed = report.HostReport("s1", "changed")
    lost = report.HostReport("a8", report.UNREACHABLE, reason=WHY)
    broke = report.HostReport("a1", report.FAILED, reason="disk full")
    assert str(flow_of([changed, lost]).failed()) == "1 of 2 host(s) unreachable: a8"
    assert str(flow_of([changed, broke]).failed()) == "1 of 2 host(s) failed: a1"
    assert str(flow_of([changed, broke, lost]).failed()) == "2 of 3 host(s) failed or unreachable: a1, a8"
    assert flow_of([changed, broke, lost]).ok == {"s1"}


def row(name: str, **changed) -> dict:
    """A reachable k3s agent's status row, healthy unless `changed` says otherwise."""
    return {"host": name, "runtime": "k3s", "reachable": True, "role": "agent", "version": "v1.31.4+k3s1",
            "running": "v1.31.4+k3s1", "unit": "k3s-agent", "service": "active", "active": True, "node": name,
            "node_ready": True, "healthy": True, "staged": [], **changed}


def status_of(rows: list[dict], monkeypatch, every_host: bool = False) -> report.Report:
    flow = Flow(Request(target=None, options=None, name="edge", every_host=every_host))
    flow.runtime = K3S
    monkeypatch.setattr("harmony.steps.cluster.survey", lambda _: Survey("ready", rows, []))
    status.report_status(flow)
    return flow.report


def test_status_of_a_fleet_lists_only_the_hosts_that_need_a_look_and_counts_the_rest(monkeypatch):
    rows = [row(f"a{i}") for i in range(96)]
    rows += [row("a96", node_ready=False, healthy=False),
             row("a97", staged=["/usr/local/bin/k3s"]),
             {"host": "a98", "runtime": "k3s", "reachable": False, "reason": WHY},
             row("a99", version="v1.31.5+k3s1", running="v1.31.5+k3s1")]  # healthy, on another version: counted, by version
    rep = status_of(rows, monkeypatch)
    lines = rep.text()
    assert lines[0] == "cluster 'edge': API ready"
    assert [line.split(":")[0] for line in lines[1:4]] == ["a96", "a97", "a98"], lines
    assert "node a96 not Ready" in lines[1] and "new k3s staged, waiting for its turn" in lines[2]
    assert lines[3] == f"a98: unreachable: {WHY}"
    assert lines[4] == ("97 hosts healthy (v1.31.4+k3s1 on 96, v1.31.5+k3s1 on 1), not listed: "
                        "harmony status --all lists every host")
    assert lines[5].startswith("100 hosts: 97 healthy, 2 not healthy, 1 unreachable in ") and len(lines) == 6
    assert rep.hosts[97].status == "not healthy" and rep.hosts[97].details["differences"]
    body = json.loads(rep.as_json())  # --json lists every host, whatever its health
    assert len(body["hosts"]) == 100 and body["hosts"][0]["status"] == "healthy" and not body["ok"]
    assert len(status_of(rows, monkeypatch, every_host=True).text()) == 1 + 100 + 1


def test_a_small_cluster_is_listed_host_by_host(monkeypatch):
    lines = status_of([row(f"a{i}") for i in range(status.FLEET)], monkeypatch).text()
    assert len(lines) == 1 + status.FLEET + 1 and lines[1].startswith("a0: agent, k3s v1.31.4+k3s1")


def test_the_default_of_parallel_is_said_in_the_help_as_it_is():
    shown = CliRunner().invoke(main, ["up", "--help"], terminal_width=200).output
    assert f"at most N hosts at once (default: {runner.PARALLEL})" in " ".join(shown.split())
