"""Helm charts from repositories, fetched for an airgap bundle, so that an airgapped cluster
gets them as `chartContent` (harmony.workloads.spec): from a chart repository, by its
`index.yaml` (the chart's entry at the pinned version, its URL relative to the repository or
absolute, checked against the entry's sha256 `digest` where the repository gives one), or from
an OCI registry, as `helm push` stores it (an OCI manifest whose layer of media type
application/vnd.cncf.helm.chart.content.v1.tar+gzip is the chart's .tgz), pulled by the same
client as the images. Helm writes a version's `+` as `_` in an OCI tag; so does this."""

from __future__ import annotations

import hashlib

import httpx
import yaml

from harmony import fetch
from harmony.errors import RunFailed
from harmony.images import reference
from harmony.images.registry import Puller

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def fetch_chart(helm: dict, puller: Puller) -> bytes:
    """The .tgz of a workload's chart from a repository (`helm`: chart, version, and repo)."""
    chart, version = helm["chart"], str(helm["version"])
    if chart.startswith("oci://"):
        image = puller.pull(reference.parse(f"{chart.removeprefix('oci://')}:{version.replace('+', '_')}"), None)
        layer = next((b for b in image.blobs if b.media_type == CHART_LAYER), None)
        if layer is None:
            raise RunFailed(f"{chart}:{version} is not a Helm chart (no layer of {CHART_LAYER})")
        return layer.path.read_bytes()
    repo = helm["repo"].rstrip("/") + "/"
    what = (f"the chart repository {repo}", "check the workload's helm.repo and the network")
    answer = fetch.get(repo + "index.yaml", puller.allow_http, *what)
    if answer.status_code != 200:
        raise RunFailed(f"{repo}index.yaml: HTTP {answer.status_code}")
    entries = (yaml.safe_load(answer.text) or {}).get("entries") or {}
    entry = next((e for e in entries.get(chart) or [] if str(e.get("version")).lstrip("v") == version.lstrip("v")), None)
    if entry is None or not entry.get("urls"):
        raise RunFailed(f"the chart repository {repo} has no {chart} {version}")
    url = str(httpx.URL(repo).join(entry["urls"][0]))
    download = fetch.get(url, puller.allow_http, *what)
    if download.status_code != 200:
        raise RunFailed(f"{url}: HTTP {download.status_code}")
    if entry.get("digest") and hashlib.sha256(download.content).hexdigest() != entry["digest"]:
        raise RunFailed(f"{url} does not match its digest in {repo}index.yaml: discarded")
    return download.content
