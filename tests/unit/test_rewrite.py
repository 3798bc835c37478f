"""The workloads' containers pointed at the project's builds (harmony.images.rewrite)."""

from __future__ import annotations

import yaml

from harmony.images.rewrite import rewrite, users
from harmony.workloads.spec import Workload


def deployment(*images: str, init: str | None = None) -> dict:
    spec = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": "init", "image": init}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": spec}}}


def images_of(workload: Workload) -> list[tuple[str, str | None]]:
    spec = workload.objects[0]["spec"]["template"]["spec"]
    return [(c["image"], c.get("imagePullPolicy")) for c in spec.get("initContainers", []) + spec["containers"]]


def test_every_container_naming_the_build_runs_it_whatever_its_tag_and_is_not_pulled():
    workload = Workload("web", (deployment("web", "web:dev", "docker.io/library/web:1", "nginx:1.27", init="web"),))
    (done,) = rewrite([workload], {"web": "web:harmony-0123456789ab"})
    assert images_of(done) == [("web:harmony-0123456789ab", "IfNotPresent")] * 4 + [("nginx:1.27", None)]


def test_a_registry_name_matches_only_its_own_repository():
    workload = Workload("api", (deployment("ghcr.io/acme/api:v1", "acme/api", "ghcr.io/other/api"),))
    (done,) = rewrite([workload], {"ghcr.io/acme/api": "ghcr.io/acme/api:harmony-abc"})
    assert images_of(done) == [("ghcr.io/acme/api:harmony-abc", "IfNotPresent"), ("acme/api", None),
                               ("ghcr.io/other/api", None)]


def test_an_image_pinned_by_digest_is_left_as_written():
    pinned = "web@sha256:" + "a" * 64
    (done,) = rewrite([Workload("web", (deployment(pinned),))], {"web": "web:harmony-1"})
    assert images_of(done) == [(pinned, None)]


def test_the_workloads_given_are_not_changed_and_users_are_named():
    original = Workload("web", (deployment("web"),))
    other = Workload("db", (deployment("postgres:16"),))
    rewrite([original, other], {"web": "web:harmony-1"})
    assert images_of(original) == [("web", None)]
    assert users([original, other], "web") == ["web"]
    assert users([original, other], "docker.io/library/web") == ["web"]


def helm_workload(values: str | None, image_values: dict) -> Workload:
    chart = {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": {"name": "web"},
             "spec": {"chartContent": "...", **({"valuesContent": values} if values else {})}}
    return Workload("web", (chart,), image_values=image_values)


def values_of(workload: Workload) -> dict:
    return yaml.safe_load(workload.objects[0]["spec"]["valuesContent"])


def test_a_charts_image_values_are_set_to_the_build_as_helm_create_charts_read_them():
    given = "image: {repository: nginx, tag: '1.27', pullPolicy: Always}\nreplicaCount: 2\n"
    (done,) = rewrite([helm_workload(given, {"image": "web"})], {"web": "web:harmony-1"})
    assert values_of(done) == {"image": {"repository": "web", "tag": "harmony-1", "pullPolicy": "IfNotPresent"},
                               "replicaCount": 2}


def test_a_nested_key_a_string_value_and_a_registry_key_are_each_set_as_the_chart_reads_them():
    given = "worker: {image: 'busybox:1'}\napi: {image: {registry: docker.io, repository: bitnami/x, tag: '1'}}\n"
    (done,) = rewrite([helm_workload(given, {"worker.image": "web", "api.image": "ghcr.io/acme/api",
                                             "new.image": "web"})],
                      {"web": "web:harmony-1", "ghcr.io/acme/api": "ghcr.io/acme/api:harmony-2"})
    assert values_of(done) == {
        "worker": {"image": "web:harmony-1"},
        "api": {"image": {"registry": "ghcr.io", "repository": "acme/api", "tag": "harmony-2",
                          "pullPolicy": "IfNotPresent"}},
        "new": {"image": {"repository": "web", "tag": "harmony-1", "pullPolicy": "IfNotPresent"}}}


def test_a_chart_without_values_gets_them_and_one_naming_no_build_is_left_alone():
    (done,) = rewrite([helm_workload(None, {"image": "web"})], {"web": "web:harmony-1"})
    assert values_of(done) == {"image": {"repository": "web", "tag": "harmony-1", "pullPolicy": "IfNotPresent"}}
    untouched = helm_workload("a: 1\n", {"image": "other"})
    (same,) = rewrite([untouched], {"web": "web:harmony-1"})
    assert same.objects == untouched.objects and users([untouched], "other") == ["web"]
