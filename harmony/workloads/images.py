"""The images a project's workloads run, for its airgap bundle: every container image in their
objects (any object's `containers`, `initContainers` and `ephemeralContainers`, so a pod
template anywhere, a CRD's too, is seen), and the images a workload lists itself under
`images`, which a Helm chart's must, since harmony does not render charts. A workload that runs
one of the project's own images (`image: web`, for `images:` in harmony.yaml) runs its build,
which the bundle holds as built where it was made, not an image of a registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harmony.errors import BadInput
from harmony.images import archive, reference
from harmony.images.reference import Reference
from harmony.workloads.spec import Workload

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class Wanted:
    images: dict[Reference, tuple[str, ...]]  # each image, and the workloads that run it
    warnings: tuple[str, ...]  # what would still reach for a registry on an airgapped cluster


def wanted(project, workloads: list[Workload]) -> Wanted:
    """The images of `workloads` (read from `project`); BadInput for a name that is not one."""
    images: dict[Reference, list[str]] = {}
    warnings = []
    for entry, workload in zip(project.workloads, workloads):
        listed = [(name, None) for name in entry.get("images") or []]
        if "helm" in entry and "images" not in entry:
            warnings.append(f"workload '{workload.name}': harmony does not render Helm charts, so it cannot "
                            "see this chart's images: list them under the workload's images")
        for name, policy in listed + [(c["image"], c.get("imagePullPolicy")) for c in containers(workload.objects)]:
            image = reference.parse(name)
            images.setdefault(image, [])
            if workload.name not in images[image]:
                images[image].append(workload.name)
            if image.floating and policy not in ("IfNotPresent", "Never"):
                warnings.append(f"workload '{workload.name}': {name} is pulled on every start (it is :latest or has "
                                "no tag), which fails without a registry: pin a tag, or set imagePullPolicy: "
                                "IfNotPresent")
    return Wanted({image: tuple(names) for image, names in images.items()}, tuple(dict.fromkeys(warnings)))


def pulled(project, workloads: list[Workload], builds: list[str]) -> Wanted:
    """The images the workloads pull from registries: `wanted`, with the containers that run one
    of the project's builds (`builds`, their names) pointed at it first, as `up` points them
    (harmony.images.rewrite, which also makes them IfNotPresent), and the builds left out. The
    builds' tags are not known before they are built (and differ by architecture), so they are
    pointed at by their names; a name pinned by a digest is no build, and is pulled."""
    from harmony.images import rewrite

    found = wanted(project, rewrite.rewrite(workloads, {name: name for name in builds}))
    own = {reference.parse(name) for name in builds}
    return Wanted({image: names for image, names in found.images.items() if image not in own}, found.warnings)


def containers(value) -> list[dict]:
    """Every container spec (a mapping with a string `image`) in `value`, in order."""
    found = []
    if isinstance(value, dict):
        for key in CONTAINER_LISTS:
            items = value.get(key)
            if isinstance(items, list):
                found += [c for c in items if isinstance(c, dict) and isinstance(c.get("image"), str)]
        for child in value.values():
            found += containers(child)
    elif isinstance(value, (list, tuple)):
        for child in value:
            found += containers(child)
    return found


def check_bundled(directory: str, project, workloads: list[Workload]) -> None:
    """BadInput unless the airgap bundle in `directory` holds each image the workloads run, for
    each architecture it was made for (its charts `spec.load` took from it): the project's own
    images as the bundle built them (`harmony.k3s.airgap.builds`), so as `NAME:TAG`, and the
    others as the workloads name them."""
    from harmony.images import rewrite
    from harmony.k3s import airgap

    names = [entry["name"] for entry in project.images]
    archives = sorted(Path(directory).glob(archive.file_name("*")))
    if not archives and (names or wanted(project, workloads).images):
        raise BadInput(f"the airgap bundle {directory} holds none of the images the project's workloads run: "
                       f"make it with the project file (harmony bundle {directory})")
    prefix, suffix = archive.file_name("*").split("*")
    for path in archives:
        arch = path.name.removeprefix(prefix).removesuffix(suffix)
        built = airgap.builds(directory, arch, names)
        runs = rewrite.rewrite(workloads, {name: f"{name}:{tag}" for name, tag in built.items()})
        images = {str(image) for image in wanted(project, runs).images} | \
            {str(reference.parse(f"{name}:{tag}")) for name, tag in built.items()}
        missing = sorted(images - archive.names(path))
        if missing:
            raise BadInput(f"the airgap bundle {directory} lacks {len(missing)} image(s) the workloads run "
                           f"({', '.join(missing)}) in {path.name}: make it again (harmony bundle {directory})")
