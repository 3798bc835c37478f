"""The `harmony` command: parse options, pick the target, hand over to harmony.commands.

Only click is imported at start; everything else is imported when a command runs, so that
`harmony --help` answers at once.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from typing import NoReturn

import click

CONNECTION_OPTIONS = [
    click.option("--ssh-user",
                 help="SSH user for every host, over the target's and the inventory's (as pyinfra's --user)."),
    click.option("--ssh-key", type=click.Path(dir_okay=False), help="SSH private key file."),
    click.option("--ssh-host-keys", type=click.Choice(["accept-new", "strict", "off"]), default=None,
                 help="SSH host key checking: accept-new (default: trust a new host's key on first "
                      "use, refuse a changed one), strict (only keys already in known_hosts), off."),
    click.option("--parallel", type=click.IntRange(min=1), metavar="N",
                 help="Work on at most N hosts at once (default: all)."),
    click.option("--fail-percent", type=click.IntRange(0, 100), metavar="P",
                 help="Stop the whole run once more than P percent of the hosts have failed."),
    click.option("--sudo-password-env", metavar="VAR",
                 help="Name of an environment variable holding the sudo password."),
    click.option("--name", help="The cluster's name: its kubeconfig context, cluster and user "
                                "(default: harmony_cluster in the data, else harmony)."),
    click.option("--kubeconfig-server", metavar="URL",
                 help="API address written into the merged kubeconfig (default: https://HOST:6443)."),
    click.option("-v", "--verbose", count=True, help="pyinfra's verbosity: -v, -vv or -vvv."),
    click.option("--runtime", type=click.Choice(["k3s", "k3d"]),
                 help="k3s under the host's init system, or k3s in Docker with k3d "
                      "(default: chosen from the host's facts)."),
    click.option("--set", "data", multiple=True, metavar="KEY=VALUE",
                 help="Set an inventory data key for every host (not for secrets: they would "
                      "show in the process list; use --token-env)."),
]

RELEASE_OPTIONS = [
    click.option("--version", "k3s_version", metavar="vX.Y.Z+k3sN", help="Pin a k3s release."),
    click.option("--channel", "k3s_channel", metavar="CHANNEL",
                 help="Release channel: stable (default), latest, or vMAJOR.MINOR."),
    click.option("--release-url", "k3s_release_url", metavar="URL",
                 help="Base URL of k3s release downloads (a mirror)."),
    click.option("--channel-url", "k3s_channel_url", metavar="URL",
                 help="Base URL of the k3s channel server (a mirror)."),
    click.option("--allow-http", "harmony_allow_http", is_flag=True, default=None,
                 help="Allow plain-http release and channel URLs (a mirror on your own network)."),
    click.option("--airgap", "k3s_airgap_dir", metavar="DIR", type=click.Path(file_okay=False),
                 help="Install from an airgap bundle on this machine (made by harmony bundle): "
                      "no host downloads anything."),
    # Only the file's path or the variable's name goes to pyinfra: never the token itself.
    click.option("--token-file", "k3s_token_file", metavar="PATH",
                 help="File holding the cluster's join token (default: the first server's)."),
    click.option("--token-env", "k3s_token_env", metavar="VAR",
                 help="Environment variable holding the cluster's join token."),
    click.option("--allow-downgrade", "k3s_allow_downgrade", is_flag=True, default=None,
                 help="Install an older k3s than the one on a host (refused otherwise)."),
    click.option("--drain", "k3s_drain", is_flag=True, default=None,
                 help="Rolling restarts: cordon and drain each node before its restart, uncordon "
                      "it once it is Ready again."),
]

PROJECT_OPTION = [click.option(
    "-f", "--file", "project_file", metavar="FILE", type=click.Path(dir_okay=False),
    help="The project file (default: the nearest harmony.yaml, from here up to the repository's root). "
         "Options given here win over it.")]

ADOPT_OPTION = [click.option(
    "--adopt", is_flag=True,
    help="Take over objects the project's workloads list that others made (another project, Helm, kubectl); "
         "refused otherwise, naming their owner.")]

JSON_OPTION = [click.option("--json", "as_json", is_flag=True,
                            help="Print the report as one JSON object (its shape: docs/output.md).")]

UP_OPTIONS = [
    click.option("--install-docker", is_flag=True,
                 help="k3d: install Docker from the distribution's packages where it is missing."),
    click.option("--recreate", is_flag=True,
                 help="k3d: delete and re-create a cluster whose spec changed (its workloads are lost)."),
    click.option("--switch-context", is_flag=True,
                 help="Make the cluster's context the current one in your kubeconfig."),
    click.option("--wait-timeout", type=click.FloatRange(min=1), metavar="SECONDS",
                 help="Seconds to wait for every node to be Ready, and then for the project's "
                      "workloads to run (default 180 each)."),
]


def with_options(*groups):
    def decorate(func):
        for group in groups:
            for option in reversed(group):
                func = option(func)
        return func
    return decorate


def _exit(code: int) -> NoReturn:
    """Exit with `code`, the command's work done and said. The interpreter's teardown then skips
    the collection of the run's objects (`gc.freeze`), which costs a no-op run about 0.2 s and
    frees nothing an ending process needs; the exit handlers still run (the Kubernetes client's
    removes the files it wrote the cluster's client key to)."""
    gc.freeze()
    sys.exit(code)


def _patch_gevent() -> None:
    """pyinfra runs in this process: gevent patches it first, before any socket exists, as the
    `pyinfra` command patches its own; only a command's run pays for it, not --help. gevent
    looks its plugins up at each of its 25 patching events, and each lookup reads every
    installed package's metadata again (0.15 s in all): here they are read once."""
    from importlib import metadata

    from gevent import monkey

    every, lookup = metadata.entry_points(), metadata.entry_points
    metadata.entry_points = lambda **selection: every.select(**selection)
    try:
        monkey.patch_all()
    finally:
        metadata.entry_points = lookup


def handles_errors(func):
    """Turn harmony's errors into one line on stderr and their exit code, as `harmony.shown`
    makes a message: no value read from the environment in it, no long value whole."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _patch_gevent()

        from harmony import shown
        from harmony.errors import BadInput, Interrupted, RunFailed

        try:
            code = func(*args, **kwargs)
        except (BadInput, Interrupted, RunFailed) as error:
            click.echo(f"harmony: error: {shown.message(str(error))}", err=True)
            _exit(error.exit_code)
        _exit(code or 0)

    return wrapper


def build_request(target, ssh_user, ssh_key, sudo_password_env, name, kubeconfig_server, verbose,
                  runtime, data, ssh_host_keys=None, parallel=None, fail_percent=None, project_file=None,
                  use_project=True, **extra):
    """The command's request: its options, over the project file's (`harmony.project`) unless
    `use_project` is false, over the inventory's data."""
    from pyinfra_cli.util import parse_cli_arg

    from harmony import commands, datakeys, project as projects, runner, shown, targets, values
    from harmony.errors import BadInput

    project = projects.find_and_load(project_file) if use_project else None
    if project:
        ssh_user = ssh_user or project.ssh.get("user")
        ssh_key = ssh_key or project.ssh.get("key")
        ssh_host_keys = ssh_host_keys or project.ssh.get("host_keys")
    user_problem = ssh_user and values.user_problem(ssh_user)
    if user_problem:
        raise BadInput(f"--ssh-user (or ssh.user in the project file) {user_problem}, not {shown.value(ssh_user)}")
    if ssh_key and not os.path.isfile(os.path.expanduser(ssh_key)):
        raise BadInput(f"the SSH key {shown.value(ssh_key)} (--ssh-key, or ssh.key in the project file) does not "
                       "exist: give a private key file")
    sudo_password = None
    if sudo_password_env:
        if sudo_password_env not in os.environ:
            raise BadInput(f"--sudo-password-env: environment variable {sudo_password_env} is not set")
        sudo_password = os.environ[sudo_password_env]
    overrides = dict(project.data) if project else {}
    for item in data:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise BadInput(f"--set {shown.value(item)}: expected KEY=VALUE, with KEY a data key like k3d_api_port")
        datakeys.check_set(key)
        overrides[key] = parse_cli_arg(value)  # as pyinfra's --data reads it: numbers, JSON, true
    if ssh_host_keys:
        overrides["ssh_strict_host_key_checking"] = {"strict": "yes", "accept-new": "accept-new",
                                                     "off": "no"}[ssh_host_keys]
    if ssh_host_keys == "off":  # a known but different key is refused unless none is known
        overrides["ssh_known_hosts_file"] = "/dev/null"
    options = runner.RunOptions(data=overrides, ssh_user=ssh_user, ssh_key=ssh_key,
                                sudo_password=sudo_password, verbosity=verbose, parallel=parallel,
                                fail_percent=fail_percent)
    release = {key: value for key, value in extra.items() if key.startswith(("k3s_", "harmony_")) and value}
    if target is None and project and project.target is not None:
        resolved_target = project.target_of(ssh_user)
    else:
        resolved_target = targets.resolve(target or "local", ssh_user)
    return commands.Request(
        target=resolved_target,
        options=options,
        name=name,
        kubeconfig_server=kubeconfig_server,
        switch_context=extra.get("switch_context", False),
        wait_timeout=extra.get("wait_timeout") or (project and project.wait_timeout) or 180.0,
        release=release,
        runtime=runtime,
        recreate=extra.get("recreate", False),
        install_docker=extra.get("install_docker", False),
        purge=extra.get("purge", False),
        as_json=extra.get("as_json", False),
        project=project,
        adopt=extra.get("adopt", False),
        whole_cluster=extra.get("whole_cluster", False),
    )


def require_terminal(hint: str) -> None:
    """Without a terminal there is nobody to ask: that is bad input, found before any host is touched."""
    from harmony.errors import BadInput

    if not sys.stdin.isatty():
        raise BadInput(f"not asking without a terminal: {hint}")


def ask(question: str) -> None:
    require_terminal("add --yes")
    click.confirm(question, abort=True, err=True)


TARGET = click.argument("target", required=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harmony", prog_name="harmony")
def main():
    """A working Kubernetes runtime on any machine.

    TARGET is `local` (this machine), the name of an inventory in ./inventories, a path to a
    pyinfra inventory file, or [user@]host[:port] for one host over SSH. Without one: the
    project file's target (harmony.yaml, see `harmony init`), else local.
    """


@main.command()
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RELEASE_OPTIONS, UP_OPTIONS, ADOPT_OPTION, JSON_OPTION)
@click.option("--yes", "-y", is_flag=True, help="Apply without showing the plan and asking first.")
@handles_errors
def up(target, yes, **options):
    """Install or converge k3s on TARGET, wait until it is Ready, merge its kubeconfig."""
    from harmony import commands

    request = build_request(target, **options)
    if yes:
        return commands.up(request)
    require_terminal("add --yes to apply without being asked")
    return commands.up(request, functools.partial(ask, "Apply these changes?"))


@main.command()
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RELEASE_OPTIONS, JSON_OPTION)
@handles_errors
def check(target, **options):
    """Compare every host of TARGET with its spec, changing nothing; exit 1 if anything drifted."""
    from harmony import commands

    return commands.check(build_request(target, **options))


@main.command()
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, RELEASE_OPTIONS, ADOPT_OPTION, JSON_OPTION)
@handles_errors
def plan(target, **options):
    """Show what `up` would change on TARGET, changing nothing."""
    from harmony import commands

    return commands.plan(build_request(target, **options))


@main.command()
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, JSON_OPTION)
@handles_errors
def status(target, **options):
    """Per host: installed k3s version, service state, node Ready in the API."""
    from harmony import commands

    return commands.status(build_request(target, **options))


@main.command()
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, JSON_OPTION)
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
@click.option("--purge", is_flag=True, help="k3d: also remove the k3d executable.")
@click.option("--cluster", "whole_cluster", is_flag=True,
              help="In a project: remove the cluster even while other projects' workloads run on it "
                   "(by default only this project's workloads are removed then).")
@handles_errors
def down(target, yes, **options):
    """Stop and remove k3s from TARGET: binary, units, data, scripts; and its kubeconfig context.
    In a project whose cluster runs other projects' workloads too: this project's workloads only."""
    from harmony import commands

    request = build_request(target, **options)
    if not yes:
        kept = "" if request.whole_cluster or not request.project else \
            f" (only project {request.project.name}'s workloads, where other projects run on it)"
        ask(f"Remove k3s and all its data from {request.target.description}{kept}?")
    return commands.down(request)


@main.command(name="kubeconfig")
@TARGET
@with_options(PROJECT_OPTION, CONNECTION_OPTIONS, UP_OPTIONS, JSON_OPTION)
@handles_errors
def kubeconfig_command(target, **options):
    """Fetch the cluster's kubeconfig again and merge it into yours."""
    from harmony import commands

    return commands.kubeconfig_command(build_request(target, **options))


@main.command()
@click.option("--target", metavar="TARGET", help="Where the cluster runs (default local): as for `harmony up`.")
@click.option("--version", "k3s_version", metavar="vX.Y.Z+k3sN", help="Pin a k3s release (recommended).")
@click.option("--channel", "k3s_channel", metavar="CHANNEL", help="Release channel, where no version is pinned.")
@click.option("--name", help="The cluster's name (default: this directory's).")
@click.option("--runtime", type=click.Choice(["auto", "k3s", "k3d"]), default="auto", show_default=True,
              help="k3s, k3d (k3s in Docker), or chosen from the host's facts.")
@click.option("--force", is_flag=True, help="Write over an existing harmony.yaml.")
@handles_errors
def init(target, k3s_version, k3s_channel, name, runtime, force):
    """Write a commented harmony.yaml for this directory, listing the workloads found in it."""
    from pathlib import Path

    from harmony import scaffold

    path = scaffold.init(Path.cwd(), target, k3s_version, k3s_channel, name, runtime, force)
    click.echo(f"wrote {path}: check it, then run: harmony up")
    return 0


@main.command()
def schema():
    """Print the JSON Schema of harmony.yaml (for an editor: yaml-language-server and others)."""
    from harmony.project import SCHEMA

    click.echo(SCHEMA.read_text(), nl=False)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--version", "k3s_version", metavar="vX.Y.Z+k3sN",
              help="The k3s release (default: the project's, else the channel's).")
@click.option("--channel", "k3s_channel", help="Release channel (default: the project's, else stable).")
@click.option("--arch", "arches", multiple=True, type=click.Choice(["amd64", "arm64", "arm", "s390x"]),
              default=["amd64"], show_default=True, help="Architectures to include (repeat for several).")
@click.option("--release-url", "k3s_release_url", default=None, metavar="URL", help="Base URL of k3s release downloads.")
@click.option("--channel-url", "k3s_channel_url", default=None, metavar="URL", help="Base URL of the k3s channel server.")
@click.option("--allow-http", "harmony_allow_http", is_flag=True, default=None,
              help="Allow plain-http URLs (a mirror on your own network).")
@with_options(PROJECT_OPTION)
@handles_errors
def bundle(directory, arches, project_file, **options):
    """Download one k3s release into DIRECTORY, for `harmony up --airgap DIRECTORY`; with a
    project file, the images its workloads run and their charts from repositories too (pulled
    from their registries, or the mirrors of cluster.k3s.registries)."""
    from harmony import bundle as bundle_module, project, stopping

    with stopping.at_once("what was downloaded and checked stays, a file being downloaded was discarded; "
                          "run the command again to finish the bundle"):
        lines = bundle_module.bundle(directory, options, list(arches), project.find_and_load(project_file))
    for line in lines:
        click.echo(line)
    return 0


@main.group()
def lab():
    """A throwaway multi-node cluster of Vagrant machines on this workstation (see Vagrantfile)."""


LAB_OPTIONS = [
    click.option("--name", default="harmony-lab", show_default=True,
                 help="The lab cluster's name: its kubeconfig context."),
    click.option("-v", "--verbose", count=True, help="pyinfra's verbosity: -v, -vv or -vvv."),
]


def _lab_request(name, verbose, **options):
    """A request for the lab's inventory."""
    from harmony import lab

    return build_request(str(lab.inventory()), None, None, None, name, lab.api_url(), verbose, None, (),
                         use_project=False, **options)


@lab.command("up")
@with_options(LAB_OPTIONS, RELEASE_OPTIONS, UP_OPTIONS)
@click.option("--provider", type=click.Choice(["libvirt", "virtualbox", "docker"]),
              help="Vagrant provider (default: VAGRANT_DEFAULT_PROVIDER, else the first usable "
                   "of libvirt, virtualbox, docker).")
@handles_errors
def lab_up(provider, **options):
    """Start the lab's machines (vagrant up) and make them a cluster (harmony up vagrant)."""
    from harmony import lab as lab_module

    return lab_module.up(_lab_request(**options), provider)


@lab.command("status")
@with_options(LAB_OPTIONS)
@handles_errors
def lab_status(**options):
    """The lab's machines (vagrant status) and its cluster (harmony status)."""
    from harmony import lab as lab_module

    return lab_module.status(_lab_request(**options))


@lab.command("down")
@with_options(LAB_OPTIONS)
@handles_errors
def lab_down(**options):
    """Destroy the lab's machines (vagrant destroy) and drop its kubeconfig context."""
    from harmony import lab as lab_module

    return lab_module.down(_lab_request(**options))
