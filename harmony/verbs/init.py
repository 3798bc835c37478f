"""`harmony init`: write a commented harmony.yaml for this directory (`harmony.scaffold`)."""

from __future__ import annotations

import click

from harmony.verbs.command import JSON_OPTION, Verb, handles_errors, say_done, with_options


@click.command(short_help="Write a commented harmony.yaml for this directory.", cls=Verb, examples=(
    "# A project on this machine, pinned",
    "harmony init --k3s-version v1.31.4+k3s1",
    "# A project whose cluster runs on one host over SSH",
    "harmony init root@10.0.0.11 --runtime k3s",
))
@click.argument("target", required=False)
@click.option("--target", "target_option", metavar="TARGET", hidden=True)  # as init took it first
@click.option("--k3s-version", "--version", "k3s_version", metavar="vX.Y.Z+k3sN", help="Pin a k3s release (recommended).")
@click.option("--channel", "k3s_channel", metavar="CHANNEL", help="Release channel, where no version is pinned.")
@click.option("--name", help="The cluster's name (default: this directory's).")
@click.option("--runtime", type=click.Choice(["auto", "k3s", "k3d"]), default="auto", show_default=True,
              help="k3s, k3d (k3s in Docker), or chosen from the host's facts.")
@click.option("--force", is_flag=True, help="Write over an existing harmony.yaml.")
@with_options(JSON_OPTION)
@handles_errors
def init(target, target_option, k3s_version, k3s_channel, name, runtime, force, as_json):
    """Write a commented harmony.yaml for this directory, listing the workloads found in it.
    TARGET is where the cluster runs (default local), as for `harmony up`."""
    from pathlib import Path

    from harmony import scaffold
    from harmony.errors import BadInput

    if target and target_option:
        raise BadInput("give the target once: harmony init TARGET")
    path = scaffold.init(Path.cwd(), target or target_option, k3s_version, k3s_channel, name, runtime, force)
    say_done(as_json, f"wrote {path}: check it, then run: harmony up", file=str(path))
    return 0
