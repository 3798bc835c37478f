"""`harmony bundle`: one k3s release, and a project's images and charts, downloaded into a
directory for `harmony up --airgap` (`harmony.k3s.bundle`), with the project's own images built
here."""

from __future__ import annotations

import click

from harmony.verbs.command import JSON_OPTION, PROJECT_OPTION, Verb, handles_errors, say_done, with_options


@click.command(short_help="Download a k3s release and a project's images for --airgap.", cls=Verb, examples=(
    "# A release for two architectures, for up --airgap ./bundle",
    "harmony bundle ./bundle --k3s-version v1.31.4+k3s1 --arch amd64 --arch arm64",
))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--k3s-version", "--version", "k3s_version", metavar="vX.Y.Z+k3sN",
              help="The k3s release (default: the project's, else the channel's).")
@click.option("--channel", "k3s_channel", help="Release channel (default: the project's, else stable).")
@click.option("--arch", "arches", multiple=True, type=click.Choice(["amd64", "arm64", "arm", "s390x"]),
              default=["amd64"], show_default=True, help="Architectures to include (repeat for several).")
@click.option("--release-url", "k3s_release_url", default=None, metavar="URL", help="Base URL of k3s release downloads.")
@click.option("--channel-url", "k3s_channel_url", default=None, metavar="URL", help="Base URL of the k3s channel server.")
@click.option("--allow-http", "harmony_allow_http", is_flag=True, default=None,
              help="Allow plain-http URLs (a mirror on your own network).")
@with_options(PROJECT_OPTION, JSON_OPTION)
@handles_errors
def bundle(directory, arches, project_file, as_json, **options):
    """Download one k3s release into DIRECTORY, for `harmony up --airgap DIRECTORY`; with a
    project file, the images its workloads run and their charts from repositories too (pulled
    from their registries, or the mirrors of cluster.k3s.registries), and its own images
    (images:) built here for each --arch, so that the airgapped up builds nothing."""
    from harmony import project, stopping
    from harmony.k3s import bundle as bundle_module

    with stopping.at_once("what was downloaded and checked stays, a file being downloaded was discarded; "
                          "run the command again to finish the bundle"):
        lines = bundle_module.bundle(directory, options, list(arches), project.find_and_load(project_file))
    say_done(as_json, "\n".join(lines), directory=directory, bundled=lines)
    return 0
