"""The steps on the images a project builds from its own code (`images:` in harmony.yaml):
checked with their builder before any host is touched, then, once the nodes are Ready, built for
the nodes' architecture, sent to the nodes whose containerd lacks them, and the workloads
pointed at the builds (`harmony.images.rewrite`), so the workloads' own step applies them.

An unchanged build has the same content tag: every node already holds it (their Node objects
say so, and where a Node lists too many images to tell, the host's own containerd does), so
nothing is sent, no host is asked anything, and the workloads are applied as they were."""

from __future__ import annotations

import gzip
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from harmony.errors import BadInput, RunFailed
from harmony.images.build import Built
from harmony.images.reference import Reference
from harmony.steps import Flow


def check_builds(flow: Flow) -> None:
    """The project's images read (their contexts and Dockerfiles inside the project), the chart
    values that name one naming one, and a builder found on this machine that can build them."""
    project = flow.request.project
    if not project:
        return
    names = {entry["name"] for entry in project.images}
    for index, entry in enumerate(project.workloads):
        for key, name in ((entry.get("helm") or {}).get("image_values") or {}).items():
            if name not in names:
                raise BadInput(f"{project.path}: workloads[{index}].helm.image_values.{key}: '{name}' is not an image "
                               f"the project builds ({', '.join(sorted(names)) or 'it lists no images'}): name one "
                               "of its images: entries")
    if not project.images:
        return
    from harmony.images import build, builds

    flow.builds = builds.of(project)
    if flow.runtime.bundle(flow.settings):
        return  # built where the bundle was made (`prepare.check_input` checked that it holds them)
    flow.builder = build.find(project.builder)
    build.check(flow.builder, flow.builds)


def ship_images(flow: Flow) -> None:
    """Each image built for the nodes' architecture, sent where it is missing, and the workloads
    run it; a line each in the report. From an airgap bundle, the bundle's builds, which every
    node imports with the bundle (k3s's images directory), so nothing is built or sent."""
    found = _built_for_nodes(flow)
    if found is None:
        return
    from harmony.images import rewrite

    nodes, built = found
    lacking = lacking_nodes(nodes, built)
    sent = sum(send(flow, built).values()) if lacking else 0
    for image in built:
        users = rewrite.users(flow.workloads, image.name)
        flow.report.notes.append(
            f"image {image.name}: {image.tag}, {'sent to the nodes that lacked it' if lacking else 'on every node'}"
            f" (run by {', '.join(users) if users else 'no workload'})")
    if lacking:
        flow.report.notes.append(f"images: {sent / 1e6:.1f} MB sent to {len(lacking)} node(s)")
    flow.report.extra["images"] = [{"name": b.name, "tag": b.tag, "reference": str(b.reference),
                                    "size": b.size} for b in built]
    flow.report.extra["images_sent_bytes"] = sent
    flow.report.extra["build_seconds"] = flow.build_seconds


def survey_images(flow: Flow, config: dict) -> list[str]:
    """For `plan` and `check`, where the cluster's API answers through `config`: the builds `up`
    would run, made here (nothing reaches the cluster; the builder's cache makes an unchanged
    one quick), and the workloads pointed at them, so that an unchanged project shows no
    difference; a line for each build that a node lacks, which `up` would send."""
    flow.config = config
    found = _built_for_nodes(flow)
    if found is None:
        return []
    nodes, built = found
    return [f"image {b.name}: {b.tag} would be sent to {', '.join(sorted(missing))}" for b in built
            if (missing := lacking_nodes(nodes, [b]))]


def _built_for_nodes(flow: Flow) -> tuple[list[dict], list[ImageBuilt]] | None:
    """The cluster's nodes, and each of the project's images built for their architectures, the
    workloads pointed at the builds; None where the project builds nothing, or an airgap
    bundle's builds serve (`_from_bundle` has pointed the workloads at them)."""
    if not flow.builds:
        return None
    from harmony.images import rewrite

    nodes, arches = nodes_and_arches(flow)
    if _from_bundle(flow, arches):
        return None
    built = [build_for(flow, image, arches) for image in flow.builds]
    flow.workloads = rewrite.rewrite(flow.workloads, {b.name: f"{b.name}:{b.tag}" for b in built})
    return nodes, built


def _from_bundle(flow: Flow, arches: list[str]) -> bool:
    """Where the run installs from an airgap bundle: the workloads pointed at its builds, the
    report saying so; False (nothing done) where it does not."""
    from harmony.images import reference, rewrite

    if len(arches) > 1 and flow.runtime.bundle(flow.settings):
        raise RunFailed(f"the cluster's nodes are of architectures {', '.join(arches)}: an airgap bundle's builds "
                        "are one per architecture, under tags of their own; run them on nodes of one architecture")
    tags = flow.runtime.bundled_builds(flow.settings, arches[0], [image.name for image in flow.builds])
    if tags is None:
        return False
    if flow.report is not None:  # up and plan say so (check only compares)
        flow.report.notes += [f"image {name}: {tag}, from the airgap bundle (run by "
                              f"{', '.join(rewrite.users(flow.workloads, name)) or 'no workload'})"
                              for name, tag in tags.items()]
        flow.report.extra.update(images_sent_bytes=0, images=[
            {"name": n, "tag": t, "reference": str(reference.parse(f"{n}:{t}")), "bundled": True}
            for n, t in tags.items()])
    flow.workloads = rewrite.rewrite(flow.workloads, {n: f"{n}:{t}" for n, t in tags.items()})
    return True


def nodes_and_arches(flow: Flow) -> tuple[list[dict], list[str]]:
    """The cluster's Node objects, and their architectures: what the images are built for."""
    from harmony import kubeapi

    nodes = kubeapi.get(flow.config, "/api/v1/nodes").get("items") or []
    arches = sorted({(n.get("status") or {}).get("nodeInfo", {}).get("architecture", "") for n in nodes} - {""})
    if not arches:
        raise RunFailed("the cluster's nodes do not say their architecture (status.nodeInfo.architecture): "
                        "the project's images cannot be built for them")
    return nodes, arches


def lacking_nodes(nodes: list[dict], built: list) -> set[str]:
    """The names of the nodes whose Node object does not show one of the builds (`_holds`)."""
    return {n["metadata"]["name"] for n in nodes if any(not _holds(n, b.reference) for b in built)}


@dataclass(frozen=True)
class ImageBuilt:
    """One image, built for each architecture of the cluster's nodes under one tag
    (`harmony.images.build.joint_tag`): each node is sent, and runs, its own architecture's."""

    name: str
    tag: str
    reference: Reference
    by_arch: dict[str, Built]

    @property
    def size(self) -> int:
        return sum(built.size for built in self.by_arch.values())


def build_for(flow: Flow, image, arches: list[str], left: str = "") -> ImageBuilt:
    """`image` built for linux/ARCH of each of `arches` (the builder's own cache makes an
    unchanged one quick); how long it took, in `flow.build_seconds`. A stop ends the build at
    once, its process group with it (`harmony.images.build`); `left` says what stays."""
    from harmony import localstate, stopping
    from harmony.images import build

    workdir = localstate.cache_dir() / "builds" / flow.request.project.name
    started = time.monotonic()
    with stopping.at_once(f"the build of image {image.name} was ended" + (f"; {left}" if left else "")):
        each = {arch: build.build(flow.builder, image, f"linux/{arch}", workdir) for arch in arches}
        tag = build.joint_tag([b.image_id for b in each.values()])
        if len(each) > 1:
            each = {arch: build.retagged(flow.builder, b, tag, f"linux/{arch}") for arch, b in each.items()}
    flow.build_seconds[image.name] = round(time.monotonic() - started, 2)
    first = next(iter(each.values()))
    return ImageBuilt(image.name, tag, first.reference, each)


def _holds(node: dict, reference) -> bool:
    """Whether a node's Node object shows it holds the image. The kubelet lists at most 50 of a
    node's images, the largest first, so a node may hold it unlisted: its host is then asked,
    and its containerd's answer decides (`harmony.k3s.deploy.images`)."""
    listed = (node.get("status") or {}).get("images") or []
    return any(str(reference) in (entry.get("names") or []) for entry in listed)


def send(flow: Flow, built: list[ImageBuilt]) -> dict[str, int]:
    """Run the runtime's image deploy on the hosts, each sent what its containerd lacks:
    {image name: the bytes sent of it, over all hosts}. RunFailed naming a host that failed."""
    from harmony import runner
    from harmony.images.shipping import DATA_KEY, Shipped, operation_name
    from harmony.releases import file_sha256

    # Compressed where it crosses a network; for this machine alone, a copy: gzip would only cost
    # (benchmarks/images.py: 11 s to pack 500 MB, and as long to unpack).
    local = all(host.name.startswith("@local") for host in flow.hosts)
    shipped = []
    for image in built:
        for arch, each in image.by_arch.items():
            archive = each.archive if local else _compressed(each.archive)
            shipped.append(Shipped(image.name, str(image.reference), arch, str(archive), file_sha256(archive),
                                   archive.stat().st_size, compressed=not local))
    options = replace(flow.options, data={**flow.options.data, DATA_KEY: tuple(shipped)})
    result = runner.run(flow.request.target, f"{flow.runtime.deploys}.{flow.runtime.image_deploy}", options,
                        quiet=not flow.options.verbosity)
    failed = {name: host.cause or "; ".join(host.errors) or "failed" for name, host in result.hosts.items()
              if not host.ok}
    if result.stopped is not None:
        raise result.stopped
    if failed:
        raise RunFailed("the images could not be sent to " +
                        "; ".join(f"{name}: {why}" for name, why in sorted(failed.items())))
    by_operation = {operation_name(image): image for image in shipped}  # (one architecture's to a host)
    sent = dict.fromkeys((image.name for image in shipped), 0)
    for host in result.hosts.values():
        for name in host.changed:
            # (pyinfra names an operation after its deploy too: "k3s images | Import web (12.0 MB)")
            image = by_operation.get(name.rpartition(" | ")[2])
            if image:
                sent[image.name] += image.size
    return sent


def _compressed(archive: Path) -> Path:
    """The gzip-compressed copy of a docker-archive, made once (its name holds the content tag)."""
    path = archive.with_name(archive.name + ".gz")
    if not path.is_file():
        partial = path.with_name(path.name + ".part")
        with archive.open("rb") as source, gzip.open(partial, "wb", compresslevel=1) as target:
            shutil.copyfileobj(source, target, 1 << 20)
        partial.rename(path)
    return path
