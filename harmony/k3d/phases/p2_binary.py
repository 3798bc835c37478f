"""The binary: the k3d release for the host, checksum verified, put in place atomically, in
the user's own directory (`harmony.k3d.bindir`: the step says which, and whether it is on the
PATH). Passed where the host's k3d is that release's."""

from __future__ import annotations

from pyinfra import host

from harmony import operations, runlock
from harmony.facts import same_file
from harmony.k3d import bindir
from harmony.k3d.hostrun import USER, K3dHostRun
from harmony.phase import Phase


def should_run(node: K3dHostRun) -> bool:
    return not same_file(node.state.files.get(node.paths.k3d), node.k3d_sha256, "755")


def run(node: K3dHostRun) -> None:
    settings, state = node.settings, node.state
    operations.binary(
        name=f"Install k3d {settings.version} {bindir.where(state.system, state.shell, state.bin_dir, state.on_path)}",
        url=node.k3d_url,
        sha256=node.k3d_sha256,
        dest=node.paths.k3d,
        current=state.files.get(node.paths.k3d),
        stall_timeout=settings.k3s.download_stall_timeout,
        allow_http=settings.k3s.allow_http,
        watch=runlock.run_process(host),
        **USER,
    )


PHASE = Phase("binary", run, should_run)
