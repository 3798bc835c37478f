"""The steps every verb on a cluster begins with: check the input, choose the runtime, resolve
the run. Bad input exits 2 before any host is asked anything; the runtime is the one asked for
or the first that fits the host (`harmony.runtime`); the run is resolved once, on the controller
(`harmony.resolved`), and handed to every host."""

from __future__ import annotations

import re
from dataclasses import replace

import click

from harmony import runtime, runtimes, shown, values
from harmony.errors import BadInput, RunFailed
from harmony.runtime import Runtime
from harmony.steps import Flow, Request

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_input(flow: Flow) -> None:
    """The target's hosts with the request's overrides, every host's data checked by every
    runtime, the cluster's name and API address, the runtimes that may run the cluster with
    their settings, and (where the verb reads them) the project's workloads."""
    from harmony import inventory
    from harmony.urls import check_https

    request = flow.request
    data = {**request.options.data, **request.release}
    if request.name:
        data["harmony_cluster"] = request.name
    if request.kubeconfig_server:
        data["harmony_kubeconfig_server"] = request.kubeconfig_server
    flags = {"k3d_recreate": request.recreate, "k3d_purge": request.purge,
             "k3d_install_docker": request.install_docker}
    data.update({key: True for key, given in flags.items() if given})
    port = {"ssh_port": request.target.ssh_port} if request.target.ssh_port else {}
    flow.hosts = inventory.load(request.target, {**request.target.data, **port, **data})
    for host in flow.hosts:
        for each in runtimes.ALL:
            each.check_data(host)
    flow.request = request = _with_data(request, flow.hosts[0].data)
    flow.data = {**data, "harmony_cluster": request.name}
    flow.candidates = _candidates(request, flow.hosts)
    if flow.reads_workloads:
        flow.workloads = _workloads(flow)
    if flow.pin:
        for host in flow.hosts:
            check_https(host.data, host.name)


def choose_runtime(flow: Flow) -> None:
    """The runtime asked for (--runtime, or harmony_runtime in the data), or the only one that
    can make one cluster of several hosts, or the first that fits the one host's facts (read
    without sudo: Docker must answer the login user)."""
    request, hosts = flow.request, flow.hosts
    if _requested(request, hosts):
        (flow.runtime,), flow.reason = flow.candidates, "asked for"
    elif len(hosts) > 1:
        (flow.runtime,) = flow.candidates
        flow.reason = f"an inventory of {len(hosts)} hosts is one {flow.runtime.name} cluster"
    else:
        from harmony import facts, runner

        (host,) = hosts
        options = replace(request.options, data={**request.options.data, "_sudo": False})
        answered, reasons = runner.facts(request.target, facts.Platform, options)
        platform = answered.get(host.name)
        if not platform:
            raise RunFailed(f"{host.name}: cannot read its facts to choose a runtime: "
                            f"{reasons.get(host.name, 'no answer')}")
        choice = runtime.choose(host.name, runtime.Platform(**platform), list(flow.candidates.items()), flow.reading)
        flow.runtime, flow.reason = choice.runtime, choice.reason
    flow.settings = flow.candidates[flow.runtime]


def resolve(flow: Flow, offline: bool = False) -> None:
    """What the run works out once (with `flow.pin`, its k3s version and the published sha256
    of what it downloads, so the release must exist; unless the verb works host by host, the
    cluster the hosts make), in the data every host gets; then say which runtime, and why."""
    from harmony.resolved import KEY

    flow.runtime.check_choice(flow.hosts, flow.settings, flow.reason)
    flow.resolved = flow.runtime.resolve(flow.hosts, flow.settings, flow.pin, flow.whole, offline)
    flow.options = replace(flow.request.options, data={**flow.data, KEY: flow.resolved})
    if flow.request.project:
        click.echo(f"project: {flow.request.project.path}", err=True)
    click.echo(f"runtime: {flow.runtime.name} ({flow.reason})", err=True)


def resolve_known(flow: Flow) -> None:
    """As `resolve`, for a verb that changes nothing (plan, check): what a site that cannot be
    reached would tell is left unknown, for the verb to say so (`harmony.steps.known`)."""
    resolve(flow, offline=True)


def _requested(request: Request, hosts: list) -> Runtime | None:
    """The runtime asked for (--runtime, or harmony_runtime in the data), if any."""
    requested = request.runtime or hosts[0].data.get("harmony_runtime")
    return runtimes.named(requested) if requested else None


def _candidates(request: Request, hosts: list) -> dict[Runtime, object]:
    """The runtimes that may run the cluster (the one asked for, else every one that can make
    one cluster of these hosts), each with its settings, checked now, before any host is
    asked: every refusal comes before any connection."""
    requested = _requested(request, hosts)
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


def _workloads(flow: Flow) -> list:
    """The project's workloads, read and checked before anything runs (bad input: exit 2); with
    an airgap bundle, their charts from repositories taken from it, and the bundle checked to
    hold every image they run."""
    project = flow.request.project
    if not project:
        return []
    from harmony.workloads import images, spec

    bundle = next(filter(None, (r.bundle(settings) for r, settings in flow.candidates.items())), None)
    workloads = spec.load(project, bundle)
    if bundle:
        images.check_bundled(bundle, project, workloads)
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
