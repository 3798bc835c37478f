"""What every verb's Click command shares: its option groups, the request they make (over the
project file's and the inventory's settings), asking the user, and how an error ends it.

Only click is imported at start; everything else when a command runs, so that `harmony --help`
answers at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
from typing import NoReturn

import click

VERBOSE_OPTION = [click.option("-v", "--verbose", count=True, help="pyinfra's verbosity: -v, -vv or -vvv.")]

CONNECTION_OPTIONS = [
    click.option("--ssh-user",
                 help="SSH user for every host, over the target's and the inventory's (as pyinfra's --user)."),
    click.option("--ssh-key", type=click.Path(dir_okay=False), help="SSH private key file."),
    click.option("--ssh-bastion", multiple=True, metavar="[USER@]HOST[:PORT]",
                 help="Reach every host through this bastion (ProxyJump); repeat it, or separate with "
                      "commas, for several hops in order. Its host key is checked as the hosts' are; its "
                      "login is its own user (or yours) with --ssh-key; each hop is looked up in your SSH config."),
    click.option("--ssh-config", type=click.Path(dir_okay=False), metavar="FILE",
                 help="The SSH config file to read (default: ~/.ssh/config, as ssh reads it)."),
    click.option("--ssh-host-keys", type=click.Choice(["accept-new", "strict", "off"]), default=None,
                 help="SSH host key checking: accept-new (default: trust a new host's key on first "
                      "use, refuse a changed one), strict (only keys already in known_hosts), off."),
    click.option("--parallel", type=click.IntRange(min=1), metavar="N",
                 help="Work on at most N hosts at once (default: 50)."),
    click.option("--fail-percent", type=click.IntRange(0, 100), metavar="P",
                 help="Stop the whole run once more than P percent of the hosts have failed."),
    click.option("--sudo-password-env", metavar="VAR",
                 help="Name of an environment variable holding the sudo password."),
    click.option("--name", help="The cluster's name: its kubeconfig context, cluster and user "
                                "(default: harmony_cluster in the data, else harmony)."),
    click.option("--kubeconfig-server", metavar="URL",
                 help="API address written into the merged kubeconfig (default: https://HOST:6443)."),
    *VERBOSE_OPTION,
    click.option("--set", "data", multiple=True, metavar="KEY=VALUE",
                 help="Set an inventory data key for every host (not for secrets: they would "
                      "show in the process list; use --token-env)."),
]

# For the verbs that run either runtime: not snapshot's and restore's, which are k3s's only.
RUNTIME_OPTION = [click.option(
    "--runtime", type=click.Choice(["k3s", "k3d"]),
    help="k3s under the host's init system, or k3s in Docker with k3d (default: chosen from the host's facts).")]

RELEASE_OPTIONS = [
    # --k3s-version: `harmony --version` is harmony's own; --version stays, as the commands took it first.
    click.option("--k3s-version", "--version", "k3s_version", metavar="vX.Y.Z+k3sN", help="Pin a k3s release."),
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
]

# For the verbs that restart nodes (and plan, which shows what up would do): not check's.
DRAIN_OPTION = [click.option(
    "--drain", "k3s_drain", is_flag=True, default=None,
    help="Rolling restarts: cordon and drain each node before its restart, uncordon it once it is Ready again.")]

CERT_OPTION = [click.option(
    "--cert-days", "k3s_cert_days", type=click.IntRange(1, 3650), metavar="N",
    help="List a node whose earliest k3s certificate expires within N days (default 30; data k3s_cert_days).")]

PRUNE_OPTION = [click.option(
    "--prune-nodes", "k3s_prune_nodes", is_flag=True, default=None,
    help="Take out of the cluster the nodes no host of TARGET is and whose k3s harmony installed (drained, "
         "deleted, a server's etcd member "
         "removed if etcd keeps its quorum, k3s uninstalled where its host is reached at its node's address); "
         "data k3s_prune_nodes. Never by default.")]

PROJECT_OPTION = [click.option(
    "-f", "--file", "project_file", metavar="FILE", type=click.Path(dir_okay=False),
    help="The project file (default: the nearest harmony.yaml, from here up to the repository's root). "
         "Options given here win over it.")]

ADOPT_OPTION = [click.option(
    "--adopt", is_flag=True,
    help="Take over objects the project's workloads list that others made (another project, Helm, kubectl); "
         "refused otherwise, naming their owner.")]

JSON_OPTION = [click.option("--json", "as_json", is_flag=True,
                            help="Print one JSON object on stdout, whatever the outcome (its JSON Schema: "
                                 "harmony schema --report).")]

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
    makes a message: no value read from the environment in it, no long value whole. With
    --json, where no report was printed (bad input, a failure before any host ran, a stop),
    stdout gets one object too (`harmony.report.outcome`). A Ctrl-C that no step turned into
    a stop of its own is one too (exit 130), not Python's traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _patch_gevent()

        from harmony import shown
        from harmony.errors import HarmonyError, Interrupted

        try:
            try:
                code = func(*args, **kwargs)
            except KeyboardInterrupt:  # a Ctrl-C where no step listens for a stop (lab's vagrant)
                raise Interrupted("SIGINT", what="the command ended where it was; run it again to finish") from None
        except HarmonyError as error:
            message = shown.message(str(error))
            click.echo(f"harmony: error: {message}", err=True)
            if kwargs.get("as_json") and not error.reported:
                from harmony import report

                click.echo(report.outcome(click.get_current_context().info_name, error.exit_code, message))
            _exit(error.exit_code)
        _exit(code or 0)

    return wrapper


def say_done(as_json: bool, text: str, **extra) -> None:
    """The end of a command that makes no report of hosts (init, schema, bundle, lab down): its
    text, or with --json its one object, `extra` in it (`harmony.report.outcome`)."""
    if as_json:
        from harmony import report

        click.echo(report.outcome(click.get_current_context().info_name, 0, **extra))
    else:
        click.echo(text, nl=not text.endswith("\n"))


def build_request(target, ssh_user, ssh_key, sudo_password_env, name, kubeconfig_server, verbose,
                  data, runtime=None, ssh_host_keys=None, parallel=None, fail_percent=None, project_file=None,
                  use_project=True, ssh_bastion=(), ssh_config=None, **extra):
    """The command's request: its options, over the project file's (`harmony.project`) unless
    `use_project` is false, over the inventory's data."""
    from pyinfra_cli.util import parse_cli_arg

    from harmony import datakeys, project as projects, runner, shown, targets, values
    from harmony.errors import BadInput
    from harmony.steps import Request

    project = projects.find_and_load(project_file) if use_project else None
    if project:
        ssh_user = ssh_user or project.ssh.get("user")
        ssh_key = ssh_key or project.ssh.get("key")
        ssh_host_keys = ssh_host_keys or project.ssh.get("host_keys")
        ssh_bastion = ssh_bastion or project.ssh.get("bastion")
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
    if ssh_bastion:
        from harmony import sshconfig

        overrides["ssh_bastion"] = ",".join(map(str, sshconfig.parse_jumps(
            ssh_bastion, "--ssh-bastion (or ssh.bastion in the project file)")))
    if ssh_config:
        if not os.path.isfile(os.path.expanduser(ssh_config)):
            raise BadInput(f"--ssh-config {shown.value(ssh_config)}: no such file")
        overrides["ssh_config_file"] = os.path.expanduser(ssh_config)
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
    return Request(
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
        every_host=extra.get("every_host", False),
        remove=tuple(extra.get("remove", ())),
    )


def require_terminal(hint: str) -> None:
    """Without a terminal there is nobody to ask: that is bad input, found before any host is touched."""
    from harmony.errors import BadInput

    if not sys.stdin.isatty():
        raise BadInput(f"not asking without a terminal: {hint}")


def ask(question: str) -> None:
    """Ask on stderr; a no (or Ctrl-C, or the end of input) ends the command as a failure harmony
    reports, exit 1, with --json's object too: nothing was changed."""
    from harmony.errors import HarmonyError

    require_terminal("add --yes")
    try:
        click.confirm(question, abort=True, err=True)
    except click.Abort:
        raise HarmonyError("not confirmed: nothing was changed") from None


TARGET = click.argument("target", required=False)


# Where each option of every verb is listed in its --help, by the name its value is passed as:
# what it acts on (the hosts and how they are reached; the k3s release; the cluster; a project's
# workloads) or how the command talks (output, questions). A new option must be listed here
# (tests/unit/test_help.py): one place, so a verb's help reads in the same order as any other's.
OUTPUT = "Output and questions"  # where -h/--help is listed too, last
HEADINGS: dict[str, tuple[str, ...]] = {
    "Target: the project, its hosts and how to reach them": (
        "project_file", "ssh_user", "ssh_key", "ssh_bastion", "ssh_config", "ssh_host_keys", "sudo_password_env",
        "parallel", "fail_percent", "data", "provider"),
    "Release: which k3s, from where": (
        "k3s_version", "k3s_channel", "k3s_release_url", "k3s_channel_url", "harmony_allow_http", "k3s_airgap_dir",
        "k3s_allow_downgrade", "arches"),
    "Cluster": (
        "name", "runtime", "k3s_token_file", "k3s_token_env", "kubeconfig_server", "switch_context", "wait_timeout",
        "k3s_drain", "k3s_prune_nodes", "install_docker", "recreate", "purge", "whole_cluster", "k3s_cert_days",
        "within", "to"),
    "Workloads: the project's": ("adopt", "watch"),
    OUTPUT: (
        "as_json", "verbose", "every_host", "dry_run", "yes", "force", "of_report"),
}


class Verb(click.Command):
    """A harmony command: its --help lists its options under the headings of `HEADINGS` and ends
    with its examples (given as `examples=`, a `# what` line then the command, as k3sup's help
    has them); a usage error Click finds in its command line (an unknown option, a bad value)
    still prints one JSON object where --json was given, as every other bad input does."""

    def __init__(self, *args, examples: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.examples = examples

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {param.name: param.get_help_record(ctx) for param in self.get_params(ctx)
                   if isinstance(param, click.Option)}
        help_option = self.get_help_option(ctx)
        for heading, names in HEADINGS.items():
            listed = [records[name] for name in names if records.get(name)]
            if help_option and heading == OUTPUT:
                listed.append(help_option.get_help_record(ctx))
            if listed:
                with formatter.section(heading):
                    formatter.write_dl(listed)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.examples:
            with formatter.section("Examples"):
                for line in self.examples:  # as written: a command line is not rewrapped
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        with usage_errors_as_json(info_name, args):
            return super().make_context(info_name, args, parent, **extra)


class Verbs(click.Group):
    """A group of commands (harmony itself, `certs`, `lab`): where --json was given, a usage
    error met before a command is found (a misspelt command, an option the group does not take)
    prints one JSON object too, so that `harmony chek --json > drift.json` writes no empty file."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        with usage_errors_as_json(self.name, args):
            return super().make_context(info_name, args, parent, **extra)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        with usage_errors_as_json(self.name, args):
            try:
                return super().resolve_command(ctx, args)
            except click.exceptions.NoSuchCommand as error:  # Click's close commands (difflib's, best
                error.possibilities = error.possibilities[:1]  # first): the closest alone, as options get
                raise


@contextlib.contextmanager
def usage_errors_as_json(command: str, args: list[str]):
    """Print a Click usage error raised inside as `command`'s JSON object where `args` ask for
    --json (Click then prints its usage text to stderr, and exits 2)."""
    wants_json = "--json" in args
    try:
        yield
    except click.UsageError as error:
        if wants_json:
            from harmony import report

            click.echo(report.outcome(command, error.exit_code, error.format_message()))
        raise
