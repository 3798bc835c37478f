"""The project's images (`harmony.images.shipping`) into a k3d cluster's nodes, which are
containers in the host's Docker: each image some node lacks (the deploy's one fact lists what
each node's containerd holds, `harmony.k3d.facts.NODE_IMAGES`) is sent to the host once and
imported by k3d itself, `k3d image import --mode direct --cluster NAME ARCHIVE`.

Why k3d's command, not `docker exec NODE ctr images import` of harmony's own: which containers
are the cluster's nodes, and how an image gets into them, is k3d's contract (agents that
`k3d node create` added are found by its labels; a later k3d may load images another way).
k3d (pkg/client/tools.go, ImageImportIntoClusterMulti) imports an archive into every server and
agent node of the cluster, so an image is imported into all of them where any lacks it: the
archive crosses the network once either way, and a node that held it keeps it. Its use here:

- `--mode direct`: the archive streamed into each node's `ctr image import --all-platforms -`.
  The default mode (tools-node) needs k3d's tools image, pulled from ghcr.io, which a host that
  reaches no registry lacks, and it logs a node's failed import and still exits 0 (k3d issue
  #1072); direct needs no image and exits 1 when any node's import fails (`ERRO ... Failed to
  import image(s) into cluster`).
- The archive decompressed first: it travels gzip-compressed, and containerd's importer (ctr,
  in k3s v1.31's containerd 1.7) reads a plain tar only; k3d passes a file through as it is.
- A path to a file, never a name: k3d takes an argument that is no file for an image in the
  host's Docker (and only warns when there is none).
- Then each node asked again, and the host failed naming any node that still lacks the image:
  what the next run's fact would find, so a k3d that says it imported and did not is caught now.

The archive is staged in the login user's cache (~/.cache/harmony/staging, mode 0700): k3d and
Docker are the user's, and nothing here needs root.
"""

from __future__ import annotations

import secrets

from pyinfra.api import FileUploadCommand

from harmony import shell
from harmony.images.shipping import Shipped
from harmony.operations import RUN_ID, step


def staging_dir(home: str) -> str:
    """Where the login user's uploads wait on the host until k3d has imported them."""
    return f"{home}/.cache/harmony/staging"


def lacking(nodes: dict[str, set[str]], reference: str) -> list[str]:
    """The nodes (as the fact found them) whose containerd lacks the image, by name."""
    return sorted(node for node, held in nodes.items() if reference not in held)


def problem(docker: str, cluster_known: bool, k3d_installed: bool, nodes: dict[str, set[str]],
            cluster: str) -> str | None:
    """Why the host cannot take images into the cluster now, in words, or None."""
    if docker != "running":
        return "Docker does not answer here: start it, then run harmony up"
    if not k3d_installed or not cluster_known:
        return f"no k3d cluster '{cluster}' here: run harmony up first"
    if not nodes:
        return f"k3d cluster '{cluster}' has no running node here: run harmony up first"
    return None


# Runs with "$staged" (the upload), "$sha256", "$reference", "$k3d", "$cluster", "$nodes" (the
# node containers' names, space-separated: Docker's names have no spaces or wildcards) set.
IMPORT = """set -f
sum=$( (sha256sum "$staged" 2>/dev/null || shasum -a 256 "$staged") | cut -d' ' -f1)
if [ "$sum" != "$sha256" ]; then
  printf 'harmony: %s: the upload does not match sha256 %s\\n' "$reference" "$sha256" >&2; rc=1
elif [ "$compressed" = yes ] && ! gzip -dc "$staged" > "$staged.tar"; then
  printf 'harmony: %s: the upload is no gzip archive\\n' "$reference" >&2; rc=1
else
  archive="$staged"; [ "$compressed" = yes ] && archive="$staged.tar"
  "$k3d" image import --mode direct --cluster "$cluster" "$archive"; rc=$?
fi
rm -f "$staged" "$staged.tar"
if [ "$rc" = 0 ]; then
  for node in $nodes; do
    docker exec "$node" k3s ctr -n k8s.io images ls -q </dev/null | grep -qxF -e "$reference" && continue
    printf 'harmony: k3d image import left node %s without %s\\n' "$node" "$reference" >&2; rc=1
  done
fi
exit $rc"""


@step
def import_image(image: Shipped, k3d: str, cluster: str, nodes: tuple[str, ...], staging: str):
    """Send a built image to the Docker host and import it into every node of the k3d
    `cluster` (`nodes`: those it has, checked after), with k3d's own `image import`."""
    staged = f"{staging}/{RUN_ID}-{secrets.token_hex(4)}.tar" + (".gz" if image.compressed else "")
    assigned = shell.assign(staging=staging, staged=staged, sha256=image.sha256, reference=image.reference,
                            k3d=k3d, cluster=cluster, nodes=" ".join(nodes),
                            compressed="yes" if image.compressed else "no")
    yield assigned + 'umask 077 && mkdir -p "$staging" && chmod 700 "$staging"'
    yield FileUploadCommand(image.archive, staged)
    yield assigned + IMPORT
