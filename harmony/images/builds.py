"""The images a project builds, from its harmony.yaml's `images:` entries: each one's build
context and Dockerfile, inside the project's directory (`harmony.workloads.confine`: a cloned
repository's file sends nothing from outside it to a builder, which would put it in an image
that goes to the cluster)."""

from __future__ import annotations

from harmony.images.build import ImageBuild
from harmony.workloads.confine import ProjectFiles


def of(project) -> list[ImageBuild]:
    """The project's builds, in the file's order; BadInput naming the key of a path outside it."""
    files, found = ProjectFiles(project.path), []
    for index, entry in enumerate(project.images):
        context = files.named(entry.get("context") or ".", f"images[{index}].context")
        dockerfile = files.found(context / (entry.get("dockerfile") or "Dockerfile"), f"images[{index}].dockerfile",
                                 entry.get("dockerfile") or "Dockerfile")
        found.append(ImageBuild(entry["name"], context, dockerfile, entry.get("target"), dict(entry.get("args") or {}),
                                dict(entry.get("secrets") or {})))
    return found
