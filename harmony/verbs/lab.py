"""`harmony lab`: a throwaway multi-node cluster of Vagrant machines on this workstation. Each
subcommand is Vagrant's part (`harmony.lab`), then the verb of the same name on the lab's
inventory: its steps are that verb's."""

from __future__ import annotations

import click

from harmony.verbs.command import (DRAIN_OPTION, JSON_OPTION, RELEASE_OPTIONS, UP_OPTIONS, VERBOSE_OPTION, Verb, Verbs,
                                   build_request, handles_errors, say_done, with_options)

LAB_OPTIONS = [
    click.option("--name", default="harmony-lab", show_default=True,
                 help="The lab cluster's name: its kubeconfig context."),
    *JSON_OPTION,
]


@click.group(cls=Verbs, short_help="A throwaway multi-node cluster of Vagrant machines.")
def lab():
    """A throwaway multi-node cluster of Vagrant machines on this workstation (see Vagrantfile)."""


def _request(name, verbose=0, **options):
    """A request for the lab's inventory."""
    from harmony import lab as machines

    return build_request(str(machines.inventory()), None, None, None, name, machines.api_url(), verbose, (),
                         use_project=False, **options)


@lab.command("up", cls=Verb, examples=(
    "# A server and two agents, on the first usable provider",
    "harmony lab up",
    "# On Docker, pinned",
    "harmony lab up --provider docker --k3s-version v1.31.4+k3s1",
))
@with_options(LAB_OPTIONS, VERBOSE_OPTION, RELEASE_OPTIONS, DRAIN_OPTION, UP_OPTIONS)
@click.option("--provider", type=click.Choice(["libvirt", "virtualbox", "docker"]),
              help="Vagrant provider (default: VAGRANT_DEFAULT_PROVIDER, else the first usable "
                   "of libvirt, virtualbox, docker).")
@handles_errors
def lab_up(provider, **options):
    """Start the lab's machines (vagrant up) and make them a cluster (harmony up vagrant)."""
    from harmony import lab as machines
    from harmony.verbs import up

    request = _request(**options)
    machines.start(provider)
    return up.run(request)


@lab.command("status", cls=Verb, examples=("harmony lab status",))
@with_options(LAB_OPTIONS, VERBOSE_OPTION)
@handles_errors
def lab_status(**options):
    """The lab's machines (vagrant status) and its cluster (harmony status)."""
    from harmony import lab as machines
    from harmony.steps import Flow, perform
    from harmony.verbs import status

    request = _request(**options)
    machines.vagrant("status", directory=machines.vagrantfile_dir())
    return perform(Flow(request, pin=False), status.STEPS)


@lab.command("down", cls=Verb, examples=("harmony lab down",))
@with_options(LAB_OPTIONS)
@handles_errors
def lab_down(**options):
    """Destroy the lab's machines (vagrant destroy) and drop its kubeconfig context."""
    from harmony import lab as machines
    from harmony.steps.cluster import forget_cluster

    request = _request(**options)
    machines.vagrant("destroy", "-f", directory=machines.vagrantfile_dir())
    forget_cluster(request.name)
    say_done(request.as_json, f"lab '{request.name}' destroyed, its kubeconfig context dropped", cluster=request.name)
    return 0
