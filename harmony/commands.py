"""What each harmony command does, between parsing its options (cli.py) and pyinfra (runner.py).

Every command checks its input on the controller first (the target, every host's data, the
release), so that bad input exits 2 before any host is touched; then picks the runtime (k3s, or
k3s in Docker through k3d: `harmony.runtime`); then runs one pyinfra deploy; then, for `up` and
`kubeconfig`, waits for the cluster through the Kubernetes API and merges its kubeconfig.
"""

from __future__ import annotations

import contextlib
import dataclasses
import posixpath
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import click

from harmony import (facts, inventory, kubeconfig, localstate, progress, readiness, report,
                     runlock, runner, runtime, runtimes, shown, stopping, values)
from harmony.errors import BadInput, Interrupted, RunFailed
from harmony.urls import check_https
from harmony.project import Project
from harmony.runtime import Api, Runtime
from harmony.workloads import converge, spec as workload_spec
from harmony.workloads.spec import Workload
from harmony.resolved import KEY as RESOLVED, Resolved
from harmony.targets import Target

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class Request:
    """A command's target and options, as parsed by the CLI."""

    target: Target
    options: runner.RunOptions
    name: str | None = None  # None: the data's harmony_cluster, else "harmony"
    kubeconfig_server: str | None = None
    switch_context: bool = False
    wait_timeout: float = 180.0
    release: dict = field(default_factory=dict)  # data keys given as options
    runtime: str | None = None
    recreate: bool = False
    purge: bool = False
    install_docker: bool = False
    as_json: bool = False  # print the report as JSON
    project: Project | None = None  # the harmony.yaml the options were read over
    adopt: bool = False  # take over objects others made that the project's workloads list
    whole_cluster: bool = False  # down: remove the cluster even while other projects run on it


@dataclass
class Run:
    """What a command runs: the target's hosts, their runtime and its settings, what the run
    resolved, and pyinfra's options."""

    hosts: list[inventory.Host]
    options: runner.RunOptions
    request: Request  # the command's, with what the inventory data gives filled in
    runtime: Runtime
    settings: object  # the runtime's, for these hosts
    resolved: Resolved  # what the run works out once, handed to its hosts
    workloads: list[Workload] = field(default_factory=list)  # the project's, when the command acts on them

    def deploy(self, verb: str) -> str:
        return f"{self.runtime.deploys}.{verb}"

    @property
    def lock_wait(self) -> int:
        return runlock.lock_wait(self.hosts[0].data, self.hosts[0].name)


def _load(request: Request, data: dict) -> list[inventory.Host]:
    port = {"ssh_port": request.target.ssh_port} if request.target.ssh_port else {}
    return inventory.load(request.target, {**request.target.data, **port, **data})


def _requested_runtime(request: Request, hosts: list[inventory.Host]) -> Runtime | None:
    """The runtime asked for (--runtime, or harmony_runtime in the data), if any."""
    requested = request.runtime or hosts[0].data.get("harmony_runtime")
    return runtimes.named(requested) if requested else None


def _candidates(request: Request, hosts: list[inventory.Host]) -> dict[Runtime, object]:
    """The runtimes that may run the cluster (the one asked for, else every one that can make
    one cluster of these hosts), each with its settings, checked now, before any host is
    asked: every refusal comes before any connection."""
    requested = _requested_runtime(request, hosts)
    problem = requested and requested.hosts_problem(len(hosts))
    if problem:
        raise BadInput(problem)
    candidates = {}
    for candidate in [requested] if requested else [r for r in runtimes.ALL if not r.hosts_problem(len(hosts))]:
        try:
            candidates[candidate] = candidate.settings(hosts)
        except BadInput as error:
            if requested:
                raise
            others = " or ".join(r.name for r in runtimes.ALL if r is not candidate)
            raise BadInput(f"{error} ({candidate.name} may run this cluster, as no runtime is asked for: or ask for "
                           f"{others}, with --runtime {others} or cluster.runtime: {others})") from None
    return candidates


def _choose_runtime(request: Request, hosts: list[inventory.Host], candidates: dict[Runtime, object]
                    ) -> runtime.Choice:
    """The runtime asked for (--runtime, or harmony_runtime in the data), or the only one that
    can make one cluster of several hosts, or the first that fits the one host's facts (read
    without sudo: Docker must answer the login user)."""
    if _requested_runtime(request, hosts):
        return runtime.Choice(next(iter(candidates)), "asked for")
    if len(hosts) > 1:
        (only,) = candidates
        return runtime.Choice(only, f"an inventory of {len(hosts)} hosts is one {only.name} cluster")
    (host,) = hosts
    options = replace(request.options, data={**request.options.data, "_sudo": False})
    answered, reasons = runner.facts(request.target, facts.Platform, options)
    platform = answered.get(host.name)
    if not platform:
        raise RunFailed(f"{host.name}: cannot read its facts to choose a runtime: "
                        f"{reasons.get(host.name, 'no answer')}")
    return runtime.choose(host.name, runtime.Platform(**platform), list(candidates.items()))


def _prepare(request: Request, pin: bool = True, whole: bool = True, workloads: bool = False) -> Run:
    """Check the inventory with the request's overrides, choose the runtime, and resolve the
    run (`harmony.resolved`): with `pin`, its k3s version and the published sha256 of what it
    downloads (so the release must exist); unless the command works host by host (not
    `whole`), the cluster the hosts make; with `workloads`, the project's, read and checked
    (with an airgap bundle, against it). Only then say which runtime, and why."""
    data = {**request.options.data, **request.release}
    if request.name:
        data["harmony_cluster"] = request.name
    if request.kubeconfig_server:
        data["harmony_kubeconfig_server"] = request.kubeconfig_server
    flags = {"k3d_recreate": request.recreate, "k3d_purge": request.purge,
             "k3d_install_docker": request.install_docker}
    data.update({key: True for key, given in flags.items() if given})
    hosts = _load(request, data)
    for host in hosts:
        for each in runtimes.ALL:
            each.check_data(host)
    request = _with_data(request, hosts[0].data)
    candidates = _candidates(request, hosts)
    loaded = _workloads(request, candidates) if workloads else []
    if pin:
        for host in hosts:
            check_https(host.data, host.name)
    choice = _choose_runtime(request, hosts, candidates)
    chosen, settings = choice.runtime, candidates[choice.runtime]
    chosen.check_choice(hosts, settings, choice.reason)
    resolved = chosen.resolve(hosts, settings, pin, whole)
    # The run's data: the overrides, and what the controller resolved, for every host.
    run_data = {**data, "harmony_cluster": request.name, RESOLVED: resolved}
    run = Run(hosts, replace(request.options, data=run_data), request, chosen, settings, resolved, loaded)
    if request.project:
        click.echo(f"project: {request.project.path}", err=True)
    click.echo(f"runtime: {chosen.name} ({choice.reason})", err=True)
    return run


def _workloads(request: Request, candidates: dict[Runtime, object]) -> list[Workload]:
    """The project's workloads, read and checked before anything runs (bad input: exit 2); with
    an airgap bundle, their charts from repositories taken from it, and the bundle checked to
    hold every image they run."""
    if not request.project:
        return []
    bundle = next(filter(None, (r.bundle(settings) for r, settings in candidates.items())), None)
    workloads = workload_spec.load(request.project, bundle)
    if bundle:
        from harmony.workloads import images

        images.check_bundled(bundle, request.project, workloads)
    return workloads


def _with_data(request: Request, data: dict) -> Request:
    """The request with the options it leaves out taken from the inventory data (the option
    wins): the cluster's name and the API address the controller uses."""
    name = request.name or data.get("harmony_cluster") or "harmony"
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadInput(f"invalid cluster name {shown.value(name)} (--name, harmony_cluster): use letters, digits, "
                       "'-', '_' and '.'")
    server = request.kubeconfig_server or data.get("harmony_kubeconfig_server")
    problem = server is not None and (values.url_problem(server, ("https",)) if isinstance(server, str) else
                                      "must start with https://")
    if problem:
        raise BadInput(f"the API address (--kubeconfig-server, harmony_kubeconfig_server) {problem}, "
                       f"not {shown.value(server)}")
    return replace(request, name=name, kubeconfig_server=server)


def _deploy(request: Request, run: Run, verb: str, dry: bool = False) -> runner.RunResult:
    """Run one of the runtime's deploys: its progress shown phase by phase, or with -v pyinfra's
    own log instead, or (--json, or a plan: nothing runs) nothing."""
    verbose = bool(run.options.verbosity)
    shown = None if verbose or request.as_json or dry else progress.Progress()
    return runner.run(request.target, run.deploy(verb), run.options, dry=dry, quiet=not verbose, progress=shown)


def _run_report(command: str, request: Request, run: Run, result: runner.RunResult,
                statuses: tuple[str, ...], started: float) -> report.Report:
    """What a run did, host by host (changed, unchanged or failed, and why) and phase by phase."""
    hosts = [result.of(host.name).report(statuses, stopped=result.stopped is not None) for host in run.hosts]
    return report.Report(command, request.name, hosts, statuses, phases=_phases(result), started=started,
                         ok=all(h.status != report.FAILED for h in hosts), stop=result.stopped)


def _phases(result: runner.RunResult) -> list[report.PhaseCount]:
    """Per phase, the hosts on which it changed something, nothing, or failed."""
    counts: dict[str, report.PhaseCount] = {}
    for outcome in result.hosts.values():
        seen: dict[str, str] = {}
        for names, verdict in ((outcome.unchanged, "unchanged"), (outcome.changed, "changed"),
                               (outcome.failed, "failed")):
            for phase in filter(None, map(report.phase_of, names)):
                seen[phase] = verdict
        for phase, verdict in seen.items():
            count = counts.setdefault(phase, report.PhaseCount(phase))
            setattr(count, verdict, getattr(count, verdict) + 1)
    return list(counts.values())


@contextlib.contextmanager
def _reported(rep: report.Report, as_json: bool):
    """Print the report when the block ends, also when it fails (then with the error, not ok);
    where the run was stopped, the block does not begin: the report says so, then the stop ends
    the command."""
    try:
        if rep.stop is not None:
            raise rep.stop
        yield rep
    except (RunFailed, BadInput, Interrupted) as error:
        rep.ok = False
        rep.extra["error"] = shown.message(str(error))
        if isinstance(error, Interrupted):
            rep.extra["stopped"] = True
        raise
    finally:
        _emit(rep, as_json)


def _emit(rep: report.Report, as_json: bool) -> None:
    rep.seconds = time.monotonic() - rep.started
    click.echo(rep.as_json() if as_json else "\n".join(rep.text()))


def _failed(hosts: list[inventory.Host], ok: set[str]) -> RunFailed:
    failed = [h.name for h in hosts if h.name not in ok]
    return RunFailed(f"{len(failed)} of {len(hosts)} host(s) failed: {', '.join(failed)}")


def _succeeded(rep: report.Report) -> set[str]:
    return {h.host for h in rep.hosts if h.status != report.FAILED}


def _api(request: Request, run: Run, ok: set[str]) -> Api:
    """Where the cluster's API is, from the hosts in `ok`: the runtime's way."""
    return run.runtime.api(run.hosts, run.settings, run.resolved, ok, request.kubeconfig_server,
                           lambda host: _fetched(request, host))


def _fetched(request: Request, host: inventory.Host) -> Path:
    return localstate.fetched_kubeconfig(request.name, host.name, host.data)


def _config(request: Request, api: Api) -> dict:
    """The kubeconfig of the cluster's API, from the kubeconfig fetched from a server."""
    fetched = kubeconfig.load(api.fetched)
    return kubeconfig.for_cluster(fetched, request.name, api.url_for(fetched))


def _answering(request: Request, api: Api) -> dict | None:
    """The cluster's kubeconfig where its API answers through it, else None."""
    if api.fetched is None or not api.fetched.exists():
        return None
    try:
        config = _config(request, api)
        readiness.list_nodes(config)
    except Exception:  # not answering, whatever the reason: there is no cluster to compare with
        return None
    return config


def _merge_kubeconfig(request: Request, run: Run, ok: set[str],
                      check=lambda doing: None) -> tuple[list[readiness.ListedNode], dict]:
    """Wait for the cluster through the fetched kubeconfig, then merge it into the user's;
    returns the nodes and the cluster's kubeconfig."""
    api = _api(request, run, ok)
    if api.fetched is None:
        raise _failed(run.hosts, ok)
    config = _config(request, api)
    nodes = readiness.wait_ready(config, api.expected, api.count, request.wait_timeout, check=check)
    path = kubeconfig.default_path()
    kubeconfig.write(path, kubeconfig.merged(kubeconfig.load(path), config, request.name,
                                             request.switch_context))
    return nodes, config


def _plan_report(request: Request, run: Run, result: runner.RunResult, started: float) -> report.Report:
    """What `up` would do on each host, or why it would fail there."""
    hosts = []
    for host in run.hosts:
        outcome = result.of(host.name)
        if outcome.refused:  # a check before any change: nothing else would happen there
            hosts.append(report.HostReport(host.name, "would fail", reason=outcome.refused))
        elif not outcome.ok:
            hosts.append(report.HostReport(host.name, report.FAILED, reason=outcome.reason))
        else:
            hosts.append(outcome.report(report.PLAN))
    return report.Report("plan", request.name, hosts, report.PLAN, phases=_phases(result), started=started,
                         ok=all(h.status in report.PLAN[:2] for h in hosts), stop=result.stopped)


def up(request: Request, confirm: Callable[[], None] | None = None) -> int:
    """Converge every host; with `confirm`, show the plan and ask before applying. With a
    project file, then its workloads: applied, pruned, and waited for until they run."""
    started = time.monotonic()
    run = _prepare(request, workloads=True)
    request, workloads = run.request, run.workloads
    if confirm:
        shown = _plan_report(request, run, _deploy(request, run, "up", dry=True), started)
        if shown.stop:
            raise shown.stop
        _emit(shown, as_json=False)
        if not shown.ok:
            raise RunFailed("planning failed; see above")
        confirm()
    with _reported(_run_report("up", request, run, _deploy(request, run, "up"), report.UP, started),
                   request.as_json) as rep, stopping.checkpoints() as check:
        ok = _succeeded(rep)
        nodes, config = _merge_kubeconfig(request, run, ok, check)
        rep.extra["nodes"] = [dataclasses.asdict(n) for n in nodes]
        rep.notes.append(f"cluster '{request.name}': {len(nodes)} node(s) Ready ({report.some([n.name for n in nodes])}); "
                         f"use it with: kubectl --context {request.name} get nodes")
        if len(ok) < len(run.hosts):
            raise _failed(run.hosts, ok)
        if request.project:
            outcome = converge.up(config, request.name, request.project.name, workloads, request.wait_timeout,
                                  run.runtime.ports(run.settings), check, run.lock_wait, request.adopt)
            rep.notes += outcome.lines(converge.UP_VERBS)
            rep.extra["workloads"] = outcome.as_json()
            _refused(outcome)
            if outcome.failures:
                names = sorted({f.workload for f in outcome.failures})
                raise RunFailed(f"{len(names)} workload(s) not running: {', '.join(names)}")
    return 0


def plan(request: Request) -> int:
    """Show what `up` would do; exit 1 when it would fail on a host. With a project file, also
    what it would do to each workload's objects, where the cluster answers already."""
    started = time.monotonic()
    run = _prepare(request, workloads=True)
    request, workloads = run.request, run.workloads
    with _reported(_plan_report(request, run, _deploy(request, run, "up", dry=True), started),
                   request.as_json) as rep:
        if request.project:
            config = _answering(request, _api(request, run, {h.name for h in run.hosts}))
            if config is None:
                rep.notes.append(f"workloads: the cluster's API does not answer yet: up would create every "
                                 f"object of the {len(workloads)} workload(s)")
            else:
                outcome = converge.survey(config, request.name, request.project.name, workloads, rollouts=False,
                                          adopt=request.adopt)
                rep.notes += outcome.lines(converge.PLAN_VERBS)
                rep.extra["workloads"] = outcome.as_json()
                _refused(outcome)
        if not rep.ok:
            refused = [h.host for h in rep.hosts if h.status not in report.PLAN[:2]]
            raise RunFailed(f"{len(refused)} of {len(run.hosts)} host(s) would fail: {', '.join(refused)}")
    return 0


def _refused(outcome: converge.Outcome) -> None:
    """Fail the command where the cluster would refuse a workload's object (said above)."""
    if outcome.refusals:
        raise RunFailed(f"{len(outcome.refusals)} object(s) would be refused, so nothing of the workloads is "
                        "written: see above")


def kubeconfig_command(request: Request) -> int:
    started = time.monotonic()
    run = _prepare(request, pin=False)
    request = run.request
    with _reported(_run_report("kubeconfig", request, run, _deploy(request, run, "kubeconfig"),
                               report.KUBECONFIG, started), request.as_json) as rep:
        _merge_kubeconfig(request, run, _succeeded(rep))
        rep.extra["kubeconfig"] = str(kubeconfig.default_path())
        rep.notes.append(f"merged context '{request.name}' into {kubeconfig.default_path()}")
    return 0


def down(request: Request) -> int:
    """Remove the cluster from every host. In a project, on a cluster that also runs other
    projects' workloads, remove this project's workloads only, unless `whole_cluster`."""
    started = time.monotonic()
    run = _prepare(request, pin=False, whole=request.project is not None)
    request = run.request
    if request.project and not request.whole_cluster and _down_workloads(request, run, started):
        return 0
    with _reported(_run_report("down", request, run, _deploy(request, run, "down"), report.DOWN, started),
                   request.as_json) as rep:
        if not rep.ok:
            raise _failed(run.hosts, _succeeded(rep))
        forget(request.name, [_fetched(request, host) for host in run.hosts])
    return 0


def _down_workloads(request: Request, run: Run, started: float) -> bool:
    """Where the cluster runs other projects' workloads, prune this project's and keep the
    cluster, saying whose it keeps it for; whether it did."""
    config = _answering(request, _api(request, run, {h.name for h in run.hosts}))
    others = converge.others(config, request.name, request.project.name) if config else {}
    if not others:
        return False
    with _reported(report.Report("down", request.name, [], report.DOWN, started=started), request.as_json) as rep, \
            stopping.checkpoints() as check:
        outcome = converge.up(config, request.name, request.project.name, [], request.wait_timeout, check=check,
                              lock_wait=run.lock_wait)
        rep.notes += outcome.lines(converge.UP_VERBS)
        rep.extra["workloads"] = outcome.as_json()
        said = "; ".join(f"project {name}'s {', '.join(workloads)}" for name, workloads in sorted(others.items()))
        rep.notes.append(f"cluster '{request.name}' kept: it runs {said}; harmony down --cluster removes it with them")
        rep.extra["kept_for"] = others
    return True


def forget(name: str, fetched: list[Path] = ()) -> None:
    """Drop a removed cluster's entries from the user's kubeconfig, and the kubeconfigs fetched
    from its hosts."""
    for path in fetched:
        path.unlink(missing_ok=True)
    path = kubeconfig.default_path()
    if path.exists():
        kubeconfig.write(path, kubeconfig.without(kubeconfig.load(path), name))


@dataclass
class Survey:
    """What the hosts and the API say of a cluster, without changing anything."""

    api: str
    hosts: list[dict]  # one row a host; "healthy": running, and its node(s) Ready
    unlisted: list[dict]  # nodes in the cluster that no host of the inventory is


def _survey(request: Request, run: Run) -> Survey:
    answers, reasons = runner.facts(request.target, run.runtime.status_fact, run.options,
                                    **run.runtime.fact_arguments(run.settings))
    running = {name for name, fact in answers.items() if run.runtime.running(fact, request.name)}
    nodes, api = _api_nodes(request, _api(request, run, running))
    rows = []
    for host in run.hosts:
        fact = answers.get(host.name)
        row = {"host": host.name, "runtime": run.runtime.name, "reachable": fact is not None}
        if fact is None:
            row["reason"] = reasons.get(host.name, "no answer")
        row.update(run.runtime.status_row(host, fact, nodes, request.name, run.settings))
        rows.append(row)
    unlisted = [{"node": n.name, "roles": list(n.roles), "version": n.version, "ready": n.ready}
                for n in nodes.values()]
    return Survey(api, rows, unlisted)


def status(request: Request) -> int:
    """Each host's runtime and state (k3s: role, version, service; k3d: the cluster's nodes),
    its node in the API, and the nodes the API lists that no host of the inventory is (removed
    from the inventory, not from the cluster)."""
    started = time.monotonic()
    run = _prepare(request, pin=False)
    request = run.request
    survey = _survey(request, run)
    hosts = [report.HostReport(row["host"], "unreachable" if not row["reachable"] else
                               report.STATUS[0] if row["healthy"] else report.STATUS[1],
                               details=row) for row in survey.hosts]  # the notes list every host
    rep = report.Report("status", request.name, hosts, report.STATUS, started=started,
                        ok=all(r["reachable"] for r in survey.hosts),
                        notes=_status_lines(run.runtime, request.name, survey.api, survey.hosts, survey.unlisted),
                        extra={"api": survey.api, "nodes_not_in_inventory": survey.unlisted})
    _emit(rep, request.as_json)
    return 0 if rep.ok else 1


# The lifecycle's phases whose steps change the controller (its copy of the kubeconfig), not
# the host: what a dry run lists of them is no difference on the host.
CONTROLLER_PHASES = ("kubeconfig",)


def check(request: Request) -> int:
    """Compare every host with its spec, changing nothing: what `up` would change (pyinfra's dry
    run), whether k3s runs and its node is Ready; with a project file, what `up` would do to its
    workloads and which ones do not run; exit 1 listing each difference if any."""
    started = time.monotonic()
    run = _prepare(request, workloads=True)
    request, workloads = run.request, run.workloads
    planned = _deploy(request, run, "up", dry=True)
    if planned.stopped:
        raise planned.stopped
    survey = _survey(request, run)
    hosts = []
    for row in survey.hosts:
        plan_result = planned.of(row["host"])
        if not row["reachable"]:
            differences = [f"unreachable: {row['reason']}"]
        elif plan_result.refused:
            differences = [f"would fail: {plan_result.refused}"]
        else:
            differences = [f"would change: {report.step_of(name)}" for name in plan_result.changed
                           if report.phase_of(name) not in CONTROLLER_PHASES]
            if not row["healthy"]:
                differences.append("not running, or its node is not Ready")
            differences += run.runtime.differences(row)
        status = report.CHECK[0] if not differences else report.CHECK[1] if row["reachable"] else "unreachable"
        hosts.append(report.HostReport(row["host"], status, reason="; ".join(differences) or None,
                                       details={"differences": differences}))
    extra = [f"node {n['node']} is in the cluster but not in the inventory" for n in survey.unlisted]
    if request.project:
        config = _answering(request, _api(request, run, {row["host"] for row in survey.hosts if row["healthy"]}))
        extra += (converge.survey(config, request.name, request.project.name, workloads, rollouts=True).differences
                  if config
                  else ["workloads: the cluster's API does not answer"])
    drifted = bool(extra) or any(h.reason for h in hosts)
    _emit(report.Report("check", request.name, hosts, report.CHECK, started=started, ok=not drifted, notes=extra,
                        extra={"drifted": drifted, "cluster_differences": extra}), request.as_json)
    return 1 if drifted else 0


def _api_nodes(request: Request, api: Api) -> tuple[dict, str]:
    """The cluster's nodes by name, through a running server's fetched kubeconfig, and the API's
    state in words."""
    path = api.fetched
    if path is None or not path.exists():
        return {}, "unknown (no running server with a fetched kubeconfig: run harmony kubeconfig)"
    try:
        return {n.name: n for n in readiness.list_nodes(_config(request, api))}, "ready"
    except Exception as error:  # the API's state is what we report, whatever it is
        return {}, f"not ready ({type(error).__name__})"


def _status_lines(chosen: Runtime, name: str, api: str, rows: list[dict], unlisted: list[dict]) -> list[str]:
    """A line for the API, one for every host, one for every node no host of the inventory is."""
    lines = [f"cluster '{name}': API {api}"]
    lines += [f"{row['host']}: " + (chosen.status_line(row) if row["reachable"] else f"unreachable: {row['reason']}")
              for row in rows]
    lines += [f"node {node['node']} ({','.join(node['roles']) or 'agent'}, {node['version']}, "
              f"{'Ready' if node['ready'] else 'not Ready'}) is in the cluster but not in the "
              "inventory: add its host back, or remove it with kubectl delete node" for node in unlisted]
    return lines
