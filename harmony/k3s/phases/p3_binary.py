"""The binary: the k3s release for the host's architecture, checked against the release's
sha256 and staged beside the one k3s runs, for the node's turn to put in place; from an airgap
bundle, with its images. Passed where each is in place and nothing is staged."""

from __future__ import annotations

from pyinfra import host

from harmony import operations, runlock
from harmony.k3s import airgap, paths
from harmony.k3s.hostrun import K3sHostRun
from harmony.phase import Phase


def should_run(node: K3sHostRun) -> bool:
    return not all(node.settled(path, sha256, mode) for path, sha256, mode in files(node))


def files(node: K3sHostRun) -> list[tuple[str, str, str]]:
    """The files this phase puts on the host, as (path, sha256, mode)."""
    if node.settings.airgap_dir:
        return [(item.dest, item.sha256, "755" if item.dest == paths.BINARY else "644")
                for item in airgap.items(node.settings.airgap_dir, node.state.arch)]
    return [(paths.BINARY, node.binary_sha256, "755")]


def run(node: K3sHostRun) -> None:
    settings, state, installed = node.settings, node.state, node.state.k3s_version
    install = f"Install k3s {node.version}" + (f" (from {installed})" if installed and installed != node.version else "")
    if settings.airgap_dir:
        binary_item, *image_items = airgap.items(settings.airgap_dir, state.arch)
        operations.upload(name=install + " from the airgap bundle", local_path=str(binary_item.path),
                          sha256=binary_item.sha256, dest=paths.BINARY, mode="755",
                          **node.staging(paths.BINARY, binary_item.sha256))
        for item in image_items:
            operations.upload(name="Upload the airgap images", local_path=str(item.path), sha256=item.sha256,
                              dest=item.dest, mode="644", **node.staging(item.dest, item.sha256))
        return
    url = node.binary_url
    sha256 = node.binary_sha256
    operations.binary(
        name=install,
        url=url,
        sha256=sha256,
        dest=paths.BINARY,
        stall_timeout=settings.download_stall_timeout,
        allow_http=settings.allow_http,
        watch=runlock.run_process(host),
        **node.staging(paths.BINARY, sha256),
    )


PHASE = Phase("binary", run, should_run)
