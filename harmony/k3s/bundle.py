"""`harmony bundle`: one k3s release downloaded into a directory, for `harmony up --airgap`
(the bundle's layout and checks: harmony.k3s.airgap, beside it), with what the project's workloads would
fetch when there is a project file: their images (harmony.workloads.images, harmony.images)
and their charts from repositories (harmony.charts), and the project's own images (`images:`),
built here for each architecture (harmony.images.build), so that neither the hosts nor the
controller of an airgapped `up` build anything."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Sequence

import httpx

from harmony import fetch, localstate, releases
from harmony.charts import fetch_chart
from harmony.errors import BadInput, RunFailed
from harmony.images import archive, build, builds as project_builds, dockerarchive
from harmony.images.registry import Puller
from harmony.k3s import airgap
from harmony.k3s.paths import IMAGE_SUFFIXES
from harmony.k3s.settings import registries
from harmony.urls import check_https, url
from harmony.workloads import images as workload_images, spec
from harmony.workloads.spec import bundled_chart, remote

BINARIES = {"amd64": "k3s", "arm64": "k3s-arm64", "arm": "k3s-armhf", "s390x": "k3s-s390x"}
HERE = "this machine"


def bundle(directory: str, options: dict, arches: list[str], project=None) -> list[str]:
    """One release (pinned, or the channel's) into `directory`, and the project's images and
    charts; what it holds, a line each. `options` are data keys (k3s_version, k3s_channel,
    k3s_release_url, k3s_channel_url, harmony_allow_http), over the project's."""
    data = {**(project.data if project else {}), **{k: v for k, v in options.items() if v is not None}}
    allow_http = bool(data.get("harmony_allow_http"))
    check_https(data, HERE)
    release_url = url(data, HERE, "k3s_release_url", releases.DEFAULT_RELEASE_URL)
    channel_url = url(data, HERE, "k3s_channel_url", releases.DEFAULT_CHANNEL_URL)
    # Checked first, before any download: the workloads, and the project's builds and builder.
    builder, builds = own_builds(project, arches) if project and project.images else (None, [])
    wanted = workload_images.pulled(project, spec.load(project), [b.name for b in builds]) if project else None
    version_ = data.get("k3s_version")
    version_ = releases.check_version(version_) if version_ else \
        releases.resolve_channel(channel_url, data.get("k3s_channel") or releases.DEFAULT_CHANNEL)
    with _removed_if_left_empty(Path(directory)):
        written = make(directory, version_, release_url, arches, allow_http)
    lines = [f"k3s {version_} bundled in {directory}: {', '.join(p.name for p in written)}"]
    if wanted is not None:
        lines += bundle_project(Path(directory), project, wanted, arches, Puller(registries(data, HERE), allow_http),
                                builder, builds)
    return lines


@contextlib.contextmanager
def _removed_if_left_empty(directory: Path):
    """A directory this bundle makes is taken away again where it fails before anything is in it:
    a failed first download leaves no empty DIR behind (one the user made stays)."""
    made = not directory.exists()
    try:
        yield
    except BaseException:
        if made and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
        raise


def own_builds(project, arches: list[str]) -> tuple[build.Builder, list[build.ImageBuild]]:
    """The project's own images (`images:`) and the builder that builds them here, each checked
    as `up` checks them (harmony.steps.images.check_builds), and the builder able to build for
    every architecture of the bundle; BadInput, one line, where not."""
    builds = project_builds.of(project)
    builder = build.find(project.builder)
    build.check(builder, builds)
    native = builder.native.split("/")[1]
    for arch in arches:
        if arch != native and not build.can_build(builder, f"linux/{arch}"):
            raise BadInput(f"cannot build the project's images for linux/{arch} (--arch {arch}): this {native} machine "
                           f"has no emulator for it; {build.GET_QEMU.format(arch=arch)}")
    return builder, builds


def bundle_project(directory: Path, project, wanted: workload_images.Wanted, arches: list[str],
                   puller: Puller, builder: build.Builder | None = None,
                   builds: Sequence[build.ImageBuild] = ()) -> list[str]:
    """What the project's workloads would fetch: their images, pulled for each architecture
    into harmony-images-ARCH.tar with the project's own images built for it here (`builds`),
    and their charts from repositories, in charts/; what was built recorded in
    harmony-builds.json ({arch: {name: content tag}}, which `up --airgap` runs:
    harmony.k3s.airgap.builds); with their checksums in sha256sum-harmony.txt, which the bundle's checks read like the
    release's. A line for each, and the warnings."""
    # Every build, pull and download first: a failed one leaves the bundle as it was.
    built = {arch: [_built(builder, image, arch, project) for image in builds] for arch in arches} if builds else {}
    pulled = {arch: [puller.pull(image, arch) for image in wanted.images] for arch in arches} if wanted.images else {}
    charts = {bundled_chart(e["helm"]): (e["name"], fetch_chart(e["helm"], puller))
              for e in project.workloads if remote(e.get("helm") or {})}
    lines, files = [], []
    for arch in arches if built or pulled else ():
        images = pulled.get(arch, []) + [image for image, _ in built.get(arch, [])]
        path = directory / archive.file_name(arch)
        archive.write(path, images)
        files.append(path)
        size = sum(blob.size for image in images for blob in image.blobs)
        lines.append(f"{len(images)} image(s) of the project for linux/{arch} bundled in {path.name} "
                     f"({size / 1e6:.1f} MB of layers)")
        lines += [f"  image {done.name} built for linux/{arch}: {done.tag}" for _, done in built.get(arch, [])]
    lines += [f"  {image}  ({', '.join(names)})" for image, names in sorted(wanted.images.items(), key=lambda i: str(i[0]))]
    if built:
        record = directory / airgap.BUILDS
        record.write_text(json.dumps({arch: {done.name: done.tag for _, done in images}
                                      for arch, images in built.items()}, indent=1, sort_keys=True) + "\n")
        files.append(record)
    for name, (workload, content) in sorted(charts.items()):
        (directory / name).parent.mkdir(exist_ok=True)
        partial = directory / f"{name}.part"
        partial.write_bytes(content)
        partial.rename(directory / name)
        files.append(directory / name)
        lines.append(f"the chart of workload '{workload}' bundled in {name}")
    for stale in (set(directory.glob(archive.file_name("*"))) | set(directory.glob("charts/*.tgz"))
                  | set(directory.glob(airgap.BUILDS))) - set(files):
        stale.unlink()
    sums = directory / airgap.IMAGES_CHECKSUMS
    if files:
        sums.write_text("".join(f"{releases.file_sha256(p)}  {p.relative_to(directory)}\n" for p in files))
    else:
        sums.unlink(missing_ok=True)
        lines.append("the project's workloads run no images to bundle")
    return lines + [f"warning: {w}" for w in wanted.warnings]


def _built(builder: build.Builder, image: build.ImageBuild, arch: str, project):
    """The image built for linux/`arch` here (in the work directory `up` builds in, so the
    builder's cache and a saved archive serve both), read for the bundle's archive: the image
    and the build."""
    platform = f"linux/{arch}"
    done = build.build(builder, image, platform, localstate.cache_dir() / "builds" / project.name)
    return dockerarchive.read(done.archive, done.reference, platform), done


def make(directory: str, version_: str, release_url: str, arches: list[str], allow_http: bool) -> list[Path]:
    """Download a release's binaries, checksum files and image archives into `directory`,
    each verified; what was already there and verified is kept."""
    bundle = Path(directory)
    bundle.mkdir(parents=True, exist_ok=True)
    written = []
    for arch in arches:
        checksum_file = f"sha256sum-{arch}.txt"
        sums = releases.checksums(release_url, version_, checksum_file, allow_http=allow_http)
        (bundle / checksum_file).write_text("".join(f"{sha}  {name}\n" for name, sha in sums.items()))
        binary = BINARIES[arch]
        images = next((f"k3s-airgap-images-{arch}{s}" for s in IMAGE_SUFFIXES
                       if f"k3s-airgap-images-{arch}{s}" in sums), None)
        for name in filter(None, (binary, images)):
            written.append(_download(releases.download_url(release_url, version_, name),
                                     bundle / name, sums[name], allow_http))
    (bundle / "VERSION").write_text(version_ + "\n")
    return written


def _download(url: str, path: Path, sha256: str, allow_http: bool) -> Path:
    if path.is_file() and releases.file_sha256(path) == sha256:
        return path
    partial = path.with_name(path.name + ".part")
    try:
        with fetch.opened(url, allow_http, "the k3s release site", "check --release-url and the network") as response:
            if response.status_code != 200:
                raise RunFailed(f"download of {url} failed: HTTP {response.status_code}")
            with partial.open("wb") as f:
                for chunk in response.iter_bytes():
                    f.write(chunk)
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise RunFailed(f"download of {url} failed: {error}") from None
    except BaseException:  # stopped: no half-downloaded file stays
        partial.unlink(missing_ok=True)
        raise
    if releases.file_sha256(partial) != sha256:
        partial.unlink()
        raise RunFailed(f"{url} does not match its published sha256 {sha256}: discarded")
    partial.rename(path)
    return path
