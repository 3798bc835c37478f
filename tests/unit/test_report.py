"""What a command prints, from its report (pure logic: the e2e suite checks real runs)."""

import json

import pytest

from harmony import report
from harmony.report import HostReport, Report


def run_report(*hosts: HostReport) -> Report:
    return Report("up", "harmony", list(hosts), report.UP, seconds=2.14)


def test_only_hosts_that_changed_or_failed_get_a_line_then_a_summary():
    rep = run_report(
        HostReport.of("s1", "changed", ["k3s up | configure | Write config.yaml",
                                        "k3s up | start | Restart k3s for its changed files"]),
        HostReport.of("a1", "unchanged", []),
        HostReport.of("a2", report.FAILED, ["k3s up | binary | Install k3s v1"], "harmony: disk full"),
    )
    rep.seconds = 2.14
    assert rep.text() == [
        "s1: changed: configure: Write config.yaml; start: Restart k3s for its changed files",
        "a2: failed: harmony: disk full (after binary: Install k3s v1)",
        "3 hosts: 1 changed, 1 unchanged, 1 failed in 2.1 s",
    ]


def test_the_summary_counts_every_status_of_the_command_zeros_included():
    rep = run_report(HostReport.of("s1", "unchanged", []))
    assert rep.summary_line() == "1 host: 0 changed, 1 unchanged, 0 failed in 2.1 s"
    body = json.loads(rep.as_json())
    assert body["summary"] == {"hosts": 1, "changed": 0, "unchanged": 1, "failed": 0}
    assert body["hosts"] == [{"host": "s1", "status": "unchanged", "changes": [], "reason": None}]


def test_steps_of_no_phase_and_details_in_json():
    host = HostReport("s1", "changed", [report.Change("", "Wait for the servers")], details={"role": "server"})
    assert host.line() == "s1: changed: Wait for the servers"
    assert host.as_dict()["role"] == "server"


def test_long_lists_stay_one_line():
    assert report.some(["a", "b"]) == "a, b"
    assert report.some([f"n{i}" for i in range(100)]) == "n0, n1, n2, n3, n4 and 95 more"


def test_a_reports_object_is_valid_by_the_output_schema_and_a_wrong_one_is_not():
    from jsonschema import Draft202012Validator, ValidationError

    schema = Draft202012Validator(json.loads(report.SCHEMA.read_text()))
    rep = run_report(HostReport.of("s1", "changed", ["k3s up | configure | Write config.yaml"]),
                     HostReport.of("a2", report.FAILED, [], "harmony: disk full"))
    rep.phases = [report.PhaseCount("configure", changed=1, failed=1)]
    rep.ok, rep.extra = False, {"error": "1 of 2 host(s) failed: a2", "exit": 1, "nodes": []}
    schema.validate(json.loads(rep.as_json()))
    schema.validate(json.loads(report.outcome("down", 130, "stopped by SIGINT: ...")))
    for wrong in ({"command": "up", "ok": False, "exit": 2},  # bad input says why
                  {"command": "up", "ok": False, "exit": 0},  # done is ok
                  {**json.loads(rep.as_json()), "exit": 4},
                  {"command": "up", "ok": True, "exit": 0, "hosts": []}):  # hosts come with their summary
        with pytest.raises(ValidationError):
            schema.validate(wrong)
