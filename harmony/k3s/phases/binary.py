"""Install the binary: the k3s release for the host's architecture, checked against the
release's sha256 and put in place atomically; from an airgap bundle, with its images."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from harmony import operations, runlock
from harmony.k3s import airgap
from harmony.k3s import paths
from harmony.k3s.node import Node


@deploy("binary")
def run(node: Node) -> None:
    settings, state, installed = node.settings, node.state, node.state.k3s_version
    install = f"Install k3s {node.version}" + (f" (from {installed})" if installed and installed != node.version else "")
    if settings.airgap_dir:
        binary_item, *image_items = airgap.items(settings.airgap_dir, state.arch)
        node.restarts.append(operations.upload(
            name=install + " from the airgap bundle", local_path=str(binary_item.path), sha256=binary_item.sha256,
            dest=paths.BINARY, mode="755", current=node.file(paths.BINARY)))
        for item in image_items:
            node.restarts.append(operations.upload(
                name="Upload the airgap images", local_path=str(item.path), sha256=item.sha256, dest=item.dest,
                mode="644", current=node.file(item.dest)))
        return
    url = node.binary_url
    node.restarts.append(operations.binary(
        name=install,
        url=url,
        sha256=node.resolved.sha256[url],
        dest=paths.BINARY,
        current=node.file(paths.BINARY),
        stall_timeout=settings.download_stall_timeout,
        allow_http=settings.allow_http,
        watch=runlock.run_process(host),
    ))
