"""What the steps on a project's workloads share: the report saying what was, or would be, done
to each (`harmony.workloads.converge`'s outcome), and the verb failing where the cluster would
refuse an object."""

from __future__ import annotations

from harmony.errors import RunFailed
from harmony.steps import Flow


def say(flow: Flow, outcome, verbs) -> None:
    flow.report.notes += outcome.lines(verbs)
    flow.report.extra["workloads"] = outcome.as_json()


def refuse_where_refused(outcome) -> None:
    if outcome.refusals:
        raise RunFailed(f"{len(outcome.refusals)} object(s) would be refused, so nothing of the workloads is "
                        "written: see above")
