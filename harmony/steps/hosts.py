"""The steps on the hosts: run the runtime's deploy on every host (`flow.deploy`: up, down,
kubeconfig), or plan it (pyinfra's dry run, the same code), and report what it did or would do,
host by host and phase by phase."""

from __future__ import annotations

from harmony import report as reports
from harmony.errors import RunFailed
from harmony.steps import Flow, emit

STATUSES = {"up": reports.UP, "down": reports.DOWN, "kubeconfig": reports.KUBECONFIG, "rotate": reports.ROTATE,
            "restore": reports.RESTORE}


def deploy(flow: Flow, dry: bool = False):
    """Run the runtime's deploy: its progress shown phase by phase, or with -v pyinfra's own log
    instead, or (--json, or a plan: nothing runs) nothing."""
    from harmony import progress, runner

    verbose = bool(flow.options.verbosity)
    shown = None if verbose or flow.request.as_json or dry else progress.Progress()
    return runner.run(flow.request.target, f"{flow.runtime.deploys}.{flow.deploy}", flow.options, dry=dry,
                      quiet=not verbose, progress=shown)


def run_hosts(flow: Flow) -> None:
    """Run the deploy on every host; the report says what it did on each. Where the run was
    stopped, the report says so, then the stop ends the verb."""
    flow.result = result = deploy(flow)
    statuses = STATUSES[flow.deploy]
    hosts = [result.of(host.name).report(statuses, stopped=result.stopped is not None) for host in flow.hosts]
    flow.report = reports.Report(flow.deploy, flow.request.name, hosts, statuses, phases=result.phase_counts(),
                                 started=flow.started, ok=all(h.status not in reports.NOT_DONE for h in hosts),
                                 stop=result.stopped)
    if result.stopped is not None:
        raise result.stopped


def require_every_host(flow: Flow) -> None:
    """Fail the verb where the deploy failed a host (the report names each, and why)."""
    if len(flow.ok) < len(flow.hosts):
        raise flow.failed()


def dry_run(flow: Flow) -> None:
    """The dry run of `up`, not reported itself (its changes are what `check` finds, or the
    plan `confirm` shows); a stop during it ends the verb."""
    flow.result = deploy(flow, dry=True)
    if flow.result.stopped is not None:
        raise flow.result.stopped


def plan_hosts(flow: Flow) -> None:
    """What `up` would do on each host, or why it would fail there: a dry run of its deploy."""
    flow.result = result = deploy(flow, dry=True)
    flow.report = plan_report(flow)
    if result.stopped is not None:
        raise result.stopped


def plan_report(flow: Flow) -> reports.Report:
    hosts = []
    for host in flow.hosts:
        outcome = flow.result.of(host.name)
        if outcome.refused:  # a check before any change: nothing else would happen there
            hosts.append(reports.HostReport(host.name, "would fail", reason=outcome.refused))
        elif outcome.unreachable:
            hosts.append(outcome.report(reports.PLAN))
        elif not outcome.ok:
            hosts.append(reports.HostReport(host.name, reports.FAILED, reason=outcome.reason))
        else:
            hosts.append(outcome.report(reports.PLAN))
    return reports.Report("plan", flow.request.name, hosts, reports.PLAN, phases=flow.result.phase_counts(),
                          started=flow.started, ok=all(h.status in reports.PLAN[:2] for h in hosts),
                          stop=flow.result.stopped, notes=list(flow.plan_notes),
                          extra=dict(flow.plan_extra))


def confirm(flow: Flow) -> None:
    """Where the user is to be asked (up without --yes): show the plan, and ask."""
    if not flow.request.confirm:
        return
    dry_run(flow)
    shown = plan_report(flow)
    emit(shown, as_json=False)
    if not shown.ok:
        raise RunFailed("planning failed; see above")
    flow.request.confirm()
