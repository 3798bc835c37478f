"""Every container of a project's workloads that runs an image the project builds is pointed at
that build: its image becomes the build's content-tagged reference, and its pull policy
IfNotPresent.

Why the content tag: the tag is the image's own digest (`harmony.images.build.content_tag`), so
an unchanged build leaves every pod template as it was (the apply changes nothing, nothing rolls)
and a changed one changes exactly the templates that run it, which roll. Why IfNotPresent: the
image is on the nodes and in no registry, and a name the workloads wrote without a tag would be
`:latest`, which the kubelet pulls on every start (Always) and so could never run.

A container matches a build when its image names the same repository (as Docker normalizes
names: `web` is `docker.io/library/web`), with any tag or none; one pinned by a digest is left as
written, since a digest names one image exactly and is not the project's build.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from harmony.errors import BadInput
from harmony.images import reference
from harmony.workloads.images import containers
from harmony.workloads.spec import Workload

PULL_POLICY = "IfNotPresent"


def rewrite(workloads: list[Workload], built: dict[str, str]) -> list[Workload]:
    """The workloads, each container running a build (`built`: {name as harmony.yaml gives it:
    the build's reference}) pointed at it; the objects are copies, the workloads' own unchanged."""
    by_repository = {_repository(name): ref for name, ref in built.items()}
    rewritten = []
    for workload in workloads:
        objects = copy.deepcopy(list(workload.objects))
        for container in containers(objects):
            ref = by_repository.get(_repository(container["image"]))
            if ref and "@" not in container["image"]:
                container["image"], container["imagePullPolicy"] = ref, PULL_POLICY
        rewritten.append(replace(workload, objects=tuple(objects)))
    return rewritten


def users(workloads: list[Workload], name: str) -> list[str]:
    """The workloads that run the build `name`, by their names."""
    repository = _repository(name)
    return [w.name for w in workloads if any(_repository(c["image"]) == repository
                                             for c in containers(list(w.objects)))]


def _repository(image: str) -> tuple[str, str] | None:
    try:
        parsed = reference.parse(image)
    except BadInput:  # not an image name: left for the cluster to refuse, as it would
        return None
    return parsed.registry, parsed.repository
