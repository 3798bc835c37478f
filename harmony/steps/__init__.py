"""The steps verbs are made of, and what they hand each other.

A verb (`harmony.verbs`) is an ordered list of steps, each a function of the verb's `Flow`:
it reads what the steps before it filled in and fills in its own part. The steps shared by
verbs live here, by what they work on:

- `prepare`: check the target and every host's data, choose the runtime, resolve the run; all of
  it before any host is changed, and every refusal of bad input before any host is asked;
- `hosts`: run the runtime's deploy on every host (or plan it), and report what it did;
- `cluster`: the cluster through its API: wait for its nodes, merge its kubeconfig, survey it.
- `workloads`: what the steps on a project's workloads say in the report.

Only click and light modules are imported here at the top: a verb's module imports its steps
when `harmony --help` lists it, so what a step needs from pyinfra or the Kubernetes client it
imports when it runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from harmony import report as reports
from harmony.errors import HarmonyError, Interrupted, RunFailed

if TYPE_CHECKING:
    from harmony.inventory import Host
    from harmony.project import Project
    from harmony.resolved import Resolved
    from harmony.runner import RunOptions, RunResult
    from harmony.runtime import Runtime
    from harmony.targets import Target
    from harmony.workloads.spec import Workload


@dataclass
class Request:
    """A command's target and options, as parsed by the CLI."""

    target: Target
    options: RunOptions
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
    every_host: bool = False  # status: list every host of a fleet, the healthy ones too
    confirm: Callable[[], None] | None = None  # up: show the plan and ask before applying
    remove: tuple[str, ...] = ()  # remove: the hosts whose nodes leave the cluster
    snapshot_dir: str | None = None  # snapshot: where the controller keeps it (--to)
    restore_file: str | None = None  # restore: the snapshot file


@dataclass
class Flow:
    """What a verb's steps hand each other: the verb's request and how it runs, then, in the
    order the steps fill them in, the hosts, the runtime, the run and what it did."""

    request: Request
    deploy: str = "up"  # which of the runtime's deploys its hosts run
    pin: bool = True  # resolve the release (the command downloads)
    whole: bool = True  # resolve the cluster the hosts make (not only each host)
    reads_workloads: bool = False  # read and check the project's workloads
    reading: bool = False  # only reads the hosts: a runtime whose engine sleeps is still chosen (status)
    started: float = field(default_factory=time.monotonic)
    # prepare.check_input
    hosts: list[Host] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # the run's data keys, over the inventory's
    candidates: dict[Runtime, Any] = field(default_factory=dict)  # the runtimes that may run it: their settings
    workloads: list[Workload] = field(default_factory=list)
    # prepare.choose_runtime, prepare.resolve
    runtime: Runtime | None = None
    reason: str = ""  # why that runtime
    settings: Any = None  # the runtime's, for these hosts
    resolved: Resolved | None = None
    options: RunOptions | None = None  # pyinfra's, with the run's data
    # images.check_builds
    builds: list = field(default_factory=list)  # the images the project builds (harmony.images.build.ImageBuild)
    builder: Any = None  # what builds them (harmony.images.build.Builder)
    build_seconds: dict[str, float] = field(default_factory=dict)  # each one's last build, by name
    # hosts.run_hosts, hosts.plan_hosts
    result: RunResult | None = None
    report: reports.Report | None = None  # printed when the verb ends, also when it fails
    # removal.plan_pruning, removal.plan_removal
    leaving: list = field(default_factory=list)  # the nodes to take out (harmony.k3s.removal.Leaving), in order
    plan_notes: list[str] = field(default_factory=list)  # what the plan says besides the hosts' steps
    plan_extra: dict = field(default_factory=dict)  # the same, in the plan's JSON
    # cluster.wait_for_nodes
    config: dict | None = None  # the cluster's kubeconfig
    nodes: list = field(default_factory=list)  # its nodes, Ready
    code: int = 0  # the exit code, where the verb ends without an error
    done: bool = False  # a step ended the verb: the steps after it do not run

    @property
    def ok(self) -> set[str]:
        """The hosts the run did not fail, and could reach."""
        return {h.host for h in self.report.hosts if h.status not in reports.NOT_DONE}

    @property
    def lock_wait(self) -> int:
        """How long a step waits for another run's lock (harmony_lock_wait)."""
        from harmony import runlock

        return runlock.lock_wait(self.hosts[0].data, self.hosts[0].name)

    def failed(self) -> RunFailed:
        """`1 of 3 host(s) failed: a2`, or `2 of 10 host(s) unreachable: a8, a9`, or `3 of 10
        host(s) failed or unreachable: ...`: each host's own line says which, and why."""
        ok = self.ok
        out = [h for h in self.report.hosts if h.host not in ok]
        said = " or ".join(s for s in reports.NOT_DONE if any(h.status == s for h in out)) or reports.FAILED
        return RunFailed(f"{len(out)} of {len(self.hosts)} host(s) {said}: {reports.some([h.host for h in out])}")


Step = Callable[[Flow], None]


def perform(flow: Flow, steps: Iterable[Step]) -> int:
    """Run the steps in order, until one ends the verb; print the report once one has made it,
    when the steps end, also when one fails (then with the error and the exit code, not ok)."""
    try:
        for step in steps:
            if flow.done:
                break
            step(flow)
    except HarmonyError as error:
        if flow.report:
            flow.report.ok = False
            flow.report.extra["error"] = _message(error)
            if isinstance(error, Interrupted):
                flow.report.extra["stopped"] = True
            flow.report.extra["exit"] = error.exit_code
            emit(flow.report, flow.request.as_json)
            error.reported = True
        raise
    if flow.report:
        flow.report.extra["exit"] = flow.code
        emit(flow.report, flow.request.as_json)
    return flow.code


def _message(error: Exception) -> str:
    from harmony import shown

    return shown.message(str(error))


def emit(report: reports.Report, as_json: bool) -> None:
    import click

    report.seconds = time.monotonic() - report.started
    click.echo(report.as_json() if as_json else "\n".join(report.text()))
