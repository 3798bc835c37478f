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

A Helm chart's templates are not rendered by harmony (k3s's helm-controller renders them), so
its containers cannot be seen: the workload names the values keys that hold a build
(`helm.image_values`), and those are set in the HelmChart's `valuesContent`, as `helm create`'s
charts read an image (a mapping of `repository`, `tag`, `pullPolicy`, and `registry` where the
chart has one) or as a whole reference where the chart's value is a string.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import yaml

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
        values = {key: built[name] for key, name in workload.image_values.items() if name in built}
        for chart in (o for o in objects if o.get("kind") == "HelmChart") if values else ():
            chart["spec"]["valuesContent"] = _with_images(chart["spec"].get("valuesContent"), values)
        rewritten.append(replace(workload, objects=tuple(objects)))
    return rewritten


def _with_images(content: str | None, images: dict[str, str]) -> str:
    """A chart's values (YAML) with each dotted key set to its build's reference."""
    values = yaml.safe_load(content or "") or {}
    for key, ref in images.items():
        *parents, last = key.split(".")
        node = values
        for part in parents:  # as helm --set makes them: a key that is not a mapping becomes one
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        current = node.get(last)
        if isinstance(current, str):
            node[last] = ref
            continue
        name, _, tag = ref.rpartition(":")
        image = dict(current) if isinstance(current, dict) else {}
        if "registry" in image:
            parsed = reference.parse(name)
            image["registry"], name = parsed.registry, parsed.repository.removeprefix("library/")
        image.update(repository=name, tag=tag, pullPolicy=PULL_POLICY)
        node[last] = image
    return yaml.safe_dump(values, sort_keys=True)


def users(workloads: list[Workload], name: str) -> list[str]:
    """The workloads that run the build `name`, by their names."""
    repository = _repository(name)
    return [w.name for w in workloads if name in w.image_values.values() or any(
        _repository(c["image"]) == repository for c in containers(list(w.objects)))]


def _repository(image: str) -> tuple[str, str] | None:
    try:
        parsed = reference.parse(image)
    except BadInput:  # not an image name: left for the cluster to refuse, as it would
        return None
    return parsed.registry, parsed.repository
